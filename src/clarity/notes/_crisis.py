"""Crisis language in notes, found by rules that never depend on a language model.

The method is ConText (Harkema et al., J Biomed Inform 2009), the clinical
successor of NegEx: find *targets* (suicidal ideation, method, intent, plan,
preparatory behaviour, self-harm, harm to others) and *modifiers* that change
what a target means in its sentence:

- negation ("denies", "no", "not", "without"), forward to the end of the
  clause, or backward ("SI denied");
- history ("history of", "past", "in 2019", "as a teenager", "remote"), unless
  the sentence also says it is current;
- hypotheticals and plans for the future ("if ... arise", "should ... return",
  "safety plan", "in case");
- another person ("mother asked whether", "partner worried", "family history").

A modifier reaches forward (or backward) until a terminator ("but", "however",
";", a new sentence), so "+SI, no plan or intent" is ideation without a plan.
What remains is mapped to the Columbia (C-SSRS) ideation levels: 1 wish to be
dead, 2 active thoughts, 3 with a method, 4 with some intent, 5 with a plan and
intent; preparatory behaviour counts as 5; self-harm and harm to others are
reported beside the level. Recall comes first: a term the rules cannot place
(no modifier) counts as current.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DETECTOR_VERSION", "CrisisAssessment", "CrisisFinding", "assess_crisis"]

DETECTOR_VERSION = "2"
"""Version of the crisis rules; a change to them must bump it (it names the alerts)."""

_SUICID = r"s[ui]{1,2}c[i]{0,2}d[i]{0,2}(?:al|e)"  # suicidal, sucidal, suicidial, suicide

# (kind, level, pattern). Levels follow C-SSRS ideation; 0 marks non-ideation kinds.
_TARGETS: tuple[tuple[str, int, str], ...] = (
    ("passive", 1, r"passive (?:SI|death wish|" + _SUICID + r" ideation)|death wish"),
    ("passive", 1, r"wish(?:es|ed)? (?:(?:s?he|they|I) (?:could|were|was) )?(?:to )?(?:be )?dead"),
    ("passive", 1, r"go to sleep and not wake up|not wake up|better off (?:dead|without me)"),
    ("ideation", 2, r"\+\s?SI\b|\bSI\b|" + _SUICID + r" (?:ideation|thoughts?|feelings?)"),
    ("ideation", 2, r"thoughts? of (?:killing|ending) (?:him|her|them|my)sel(?:f|ves)|" + _SUICID),
    (
        "ideation",
        2,
        r"(?:kill|end)(?:ing)? (?:him|her|them|my)sel(?:f|ves)|"
        r"end(?:ing)? (?:his|her|their|my) (?:own )?life",
    ),
    ("ideation", 2, r"wants? to die"),
    ("method", 3, r"overdos\w*|jump\w*|hang\w*|shoot\w*|gun|firearm|rope|bridge|pills?\b"),
    ("intent", 4, r"\bintent(?:ion)?s?\b|\bintends?\b|\bintending\b"),
    ("plan", 5, r"\b(?:plans|planned|planning|plan)\b"),
    (
        "preparatory",
        5,
        r"goodbye note|suicide note|stockpil\w*|gave away|giving away|"
        r"bought (?:a )?(?:rope|gun)|rehears\w*|researched (?:ways|methods)",
    ),
    (
        "self_harm",
        0,
        r"self[- ]?harm\w*|self[- ]injur\w*|self[- ]inflicted|cutting|cut (?:him|her|my)self|"
        r"cut (?:his|her|their|my) (?:fore)?(?:arms?|wrists?|legs?|thighs?|skin)|"
        r"burn(?:ed|t|ing)? (?:him|her|my)self|lacerations?|scratch\w* (?:him|her|my)self",
    ),
    (
        "harm_to_others",
        0,
        r"homicidal(?: ideation)?|\bHI\b|(?:hurt|harm|kill)(?:ing)? (?:his|her|their|my|a|the) "
        r"\w+|thoughts? of (?:hurting|harming) (?:others|someone|\w+)",
    ),
)
_NEGATION_FORWARD = (
    r"\bdenies\b|\bdenied\b|\bdenying\b|\bno\b|\bnot\b|\bnone\b|\bwithout\b|\bnegative for\b|"
    r"\bnever\b|\bfree of\b|\bnor\b|\bneither\b|\bhas not\b|\bhasn't\b|\bdoes not\b|\bdoesn't\b"
)
_NEGATION_BACKWARD = r"\bdenied\b|\bruled out\b|\babsent\b|\bnegative\b"
_HISTORY = (
    r"\bhistory of\b|\bhx of\b|\bpast\b|\bprevious\w*\b|\bprior\b|\bremote\b|"
    r"\bas a (?:teen\w*|child)\b|\bin (?:19|20)\d\d\b|\(\s*(?:19|20)\d\d\s*\)|"
    r"\byears ago\b|\blast year\b"
)
# "nothing recent", "no current ideation" and "none since" confirm the past, not the present.
_CURRENT = (
    r"(?<!nothing )(?<!no )(?<!not )\b(?:current(?:ly)?|now|today|this week|recent(?:ly)?|"
    r"last night)\b"
)
_HYPOTHETICAL = (
    r"\bif\b|\bshould\b|\bin case\b|\bsafety plan\b|\bwhat to do\b|\bwould call\b|\bwhether\b|"
    r"\bscreen(?:ed|ing)? for\b|\basked about\b"
)
# Said after what it qualifies too: "might think about suicide, hypothetically".
_HYPOTHETICAL_EITHER_WAY = r"\bhypothetical(?:ly)?\b|\bin theory\b"
_OTHER = (
    r"\b(?:mother|father|sister|brother|partner|wife|husband|friend|family|son|daughter|cousin|"
    r"coworker|colleague)\b(?:'s)? (?:asked|worried|wonders?|reports? (?:that )?(?:her|his) own|"
    r"attempted|died by|history)|\bfamily history\b"
)
_TERMINATOR = (
    r"\bbut\b|\bhowever\b|\balthough\b|\bexcept\b|\byet\b|;|\bthough\b|\bstates\b|"
    r"\breports\b|\bsays\b"
)
# A sentence ends at . ! ? followed by a space, a quote or the end ("F32.1" does not end one).
_SENTENCE = re.compile(r"(?:[^.!?\n]|[.!?](?![\s'\"\u2019\u201d]|$))+[.!?]?['\"\u2019\u201d]?")


@dataclass(frozen=True)
class CrisisFinding:
    """One crisis term in its sentence, with what the sentence says of it.

    Parameters
    ----------
    kind
        The target found: ``"passive"``, ``"ideation"``, ``"method"``,
        ``"intent"``, ``"plan"``, ``"preparatory"``, ``"self_harm"`` or
        ``"harm_to_others"``.
    start
        Character offset in the note where the term begins.
    end
        Character offset in the note just past the term.
    sentence
        ``(start, end)`` character offsets of the term's sentence in the note,
        without its surrounding whitespace.
    negated
        Whether a negation ("denies", "no", "SI denied") reaches the term.
    historical
        Whether a history modifier ("history of", "in 2019") reaches the term
        and the sentence does not also say it is current.
    hypothetical
        Whether a hypothetical or future modifier ("if", "safety plan",
        "hypothetically") reaches the term.
    other_person
        Whether the term is said of another person ("mother asked whether",
        "family history").
    """

    kind: str  # passive, ideation, method, intent, plan, preparatory, self_harm, harm_to_others
    start: int
    end: int
    sentence: tuple[int, int]
    negated: bool
    historical: bool
    hypothetical: bool
    other_person: bool

    @property
    def current(self) -> bool:
        """Whether it is a present crisis statement about the patient."""
        return not (self.negated or self.historical or self.hypothetical or self.other_person)


@dataclass(frozen=True)
class CrisisAssessment:
    """A note's crisis assessment: C-SSRS-style level and the evidence.

    Parameters
    ----------
    level
        C-SSRS ideation level from the current findings: 0 none, 1 wish to be
        dead, 2 active thoughts, 3 with a method, 4 with some intent, 5 with a
        plan and intent (or preparatory behaviour).
    self_harm
        Whether the note holds a current self-harm finding.
    harm_to_others
        Whether the note holds a current harm-to-others finding.
    findings
        Every crisis term found, current or not, in the order of the note.
    """

    level: int
    self_harm: bool
    harm_to_others: bool
    findings: tuple[CrisisFinding, ...]

    @property
    def crisis(self) -> bool:
        """Whether anything in the note calls for escalation."""
        return self.level > 0 or self.self_harm or self.harm_to_others

    @property
    def evidence(self) -> tuple[tuple[int, int], ...]:
        """Sentence spans that carry the crisis (for the alert and summaries).

        A sentence counts when it holds current ideation, intent, preparation,
        self-harm or harm to others; a plan or a method alone (a care plan, a
        prescription) does not make a sentence evidence.
        """
        carrying = {"passive", "ideation", "intent", "preparatory", "self_harm", "harm_to_others"}
        return tuple(
            dict.fromkeys(f.sentence for f in self.findings if f.current and f.kind in carrying)
        )


def _spans(pattern: str, text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, flags=re.IGNORECASE)]


def _reaches(
    trigger: tuple[int, int], target: tuple[int, int], stops: list[int], forward: bool
) -> bool:
    """Whether a trigger's scope covers a target: same clause, in the trigger's direction."""
    if forward:
        if trigger[1] > target[0]:
            return False
        return not any(trigger[1] <= s < target[0] for s in stops)
    if trigger[0] < target[1]:
        return False
    return not any(target[1] <= s < trigger[0] for s in stops)


def assess_crisis(text: str) -> CrisisAssessment:
    """Find crisis language in a note and grade it.

    Parameters
    ----------
    text
        The note (before or after PHI redaction; the rules read no identifiers).

    Returns
    -------
    CrisisAssessment
        The level (0 none to 5 plan with intent), self-harm and harm to others,
        and every finding with its modifiers and sentence span.

    Examples
    --------
    >>> assess_crisis("Denies SI/HI.").crisis
    False
    >>> assess_crisis("+SI, no plan or intent stated.").level
    2
    """
    findings: list[CrisisFinding] = []
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group(0).lstrip()
        offset = sentence.start() + len(sentence.group(0)) - len(body)
        targets: list[tuple[str, int, int]] = []
        taken: list[tuple[int, int]] = []
        for kind, _level, pattern in _TARGETS:
            for start, end in _spans(pattern, body):
                if any(start < e and end > s for s, e in taken):
                    continue  # an earlier, more specific target owns these words
                taken.append((start, end))
                targets.append((kind, start, end))
        if not targets:
            continue
        stops = [s for s, _ in _spans(_TERMINATOR, body)]
        forward_neg = _spans(_NEGATION_FORWARD, body)
        backward_neg = _spans(_NEGATION_BACKWARD, body)
        history = _spans(_HISTORY, body)
        current = bool(_spans(_CURRENT, body))
        hypothetical = _spans(_HYPOTHETICAL, body)
        either_way = _spans(_HYPOTHETICAL_EITHER_WAY, body)
        other = _spans(_OTHER, body)
        for kind, start, end in sorted(targets, key=lambda t: t[1]):
            span = (start, end)
            negated = any(_reaches(t, span, stops, True) for t in forward_neg) or any(
                _reaches(t, span, stops, False) for t in backward_neg
            )
            historical = not current and any(
                _reaches(t, span, stops, True) or _reaches(t, span, stops, False) for t in history
            )
            findings.append(
                CrisisFinding(
                    kind=kind,
                    start=offset + start,
                    end=offset + end,
                    sentence=(offset, offset + len(body.rstrip())),
                    negated=negated,
                    historical=historical,
                    hypothetical=any(_reaches(t, span, stops, True) for t in hypothetical)
                    or any(
                        _reaches(t, span, stops, True) or _reaches(t, span, stops, False)
                        for t in either_way
                    ),
                    other_person=any(_reaches(t, span, stops, True) for t in other),
                )
            )
    return _grade(findings)


def _grade(findings: list[CrisisFinding]) -> CrisisAssessment:
    levels = {kind: level for kind, level, _ in _TARGETS}
    current = [f for f in findings if f.current]
    by_sentence: dict[tuple[int, int], set[str]] = {}
    for f in current:
        by_sentence.setdefault(f.sentence, set()).add(f.kind)
    ideation = {"passive", "ideation"}
    level = 0
    for kinds in by_sentence.values():
        if "preparatory" in kinds:
            level = max(level, 5)
        if not kinds & ideation and "intent" not in kinds:
            continue
        # Method and plan count only beside ideation or intent, in one sentence: "plan"
        # alone is a care plan, "pills" alone a prescription.
        found = max(levels[k] for k in kinds & ideation) if kinds & ideation else 0
        if kinds & ideation and "method" in kinds:
            found = max(found, 3)
        if "intent" in kinds:
            found = max(found, 4)
        if "plan" in kinds:
            found = max(found, 5 if "intent" in kinds or "method" in kinds else 4)
        level = max(level, found)
    return CrisisAssessment(
        level=level,
        self_harm=any(f.kind == "self_harm" for f in current),
        harm_to_others=any(f.kind == "harm_to_others" for f in current),
        findings=tuple(findings),
    )

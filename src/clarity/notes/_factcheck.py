"""The fact check: a summary sentence survives only if its cited source supports it.

Whatever wrote the summary (the extractive default or a language model), each
sentence must cite spans of the patient's notes, and is kept only when every
check passes against the text it cites:

- support: most of its content words are in the cited text (lexical), or, when
  an encoder is given, it means what the cited text says (cosine similarity of
  sentence embeddings) and shares some of its words, so a faithful paraphrase
  survives and a fluent sentence about something else does not;
- numbers, dates and doses: each one appears in the cited text;
- medications: each drug it names appears in the cited text, so a drug or dose
  that no source mentions never reaches the output; and what it says was done
  to a drug (started, stopped, increased, decreased, continued) the cited text
  says too;
- scores: a questionnaire score it states ("PHQ-9 14") is that instrument's
  score in the cited text, not a number found elsewhere (the 9 of "PHQ-9");
- negation: a word the source negates is not asserted, and the reverse
  ("denies SI" does not become "reports SI").

The consistency checks bind a paraphrase as much as a copy: similarity never
excuses a new number, drug or flipped negation. Dropped sentences are counted
and kept with their reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "FACT_CHECK_VERSION",
    "MEDICATIONS",
    "Citation",
    "Claim",
    "Encoder",
    "Verdict",
    "check_claim",
    "fact_check",
]

FACT_CHECK_VERSION = "1.3.0"
"""Version of the checks; recorded on every summary."""

LEXICAL_SUPPORT = 0.6
"""Share of a sentence's content words that must be in the cited text (without semantics)."""

SEMANTIC_SUPPORT = 0.6
"""Cosine similarity at which a paraphrase counts as supported (MiniLM sentence embeddings)."""

SEMANTIC_ANCHOR = 0.25
"""Share of content words a supported paraphrase must still share with its source."""

MEDICATIONS = frozenset(
    """
    agomelatine alprazolam amitriptyline amisulpride aripiprazole atomoxetine brexpiprazole
    bupropion buspirone carbamazepine cariprazine citalopram clomipramine clonazepam clozapine
    desipramine desvenlafaxine diazepam doxepin duloxetine escitalopram esketamine fluoxetine
    fluvoxamine gabapentin haloperidol hydroxyzine imipramine ketamine lamotrigine levomilnacipran
    lisdexamfetamine lithium lorazepam lurasidone melatonin methylphenidate mirtazapine moclobemide
    nortriptyline olanzapine oxcarbazepine paliperidone paroxetine phenelzine pregabalin
    propranolol quetiapine risperidone sertraline tranylcypromine trazodone trimipramine
    valproate venlafaxine vilazodone vortioxetine zolpidem zopiclone ziprasidone
    """.split()
)
"""Drug names the check looks for (psychiatric practice); a claim may not add one."""

_STOP = frozenset(
    """
    a an the and or of to in on at for with by from as is are was were be been being it its this
    that these those he she they his her their him them patient pt reports reported states
    stated says said has have had since over about into per today currently now also who which
    """.split()
)
_NEGATION = re.compile(r"\b(?:denies|denied|no|not|without|negative for|never|none)\b", re.I)
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")
_DOSE = re.compile(r"\b\d+(?:\.\d+)?\s?(?:mg|mcg|µg|g|ml)\b", re.I)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "once": "1", "twice": "2"}
_SCORE = re.compile(r"\b(PHQ|GAD)-?\s?(\d)\W{0,3}(\d{1,2})\b", re.I)
# Names with digits that are not quantities: instruments and ICD-10 codes.
_NOT_A_NUMBER = re.compile(
    r"\b(?:PHQ|GAD)-?\s?\d\b|\bC-SSRS\b|\b[A-TV-Z]\d{2}(?:\.\d{1,4})?\b", re.I
)
_ICD10 = re.compile(r"\b[A-TV-Z]\d{2}(?:\.\d{1,4})?\b")
_ACTIONS = {
    "started": re.compile(r"\b(?:start\w*|initiat\w*|commenc\w*|begin|began|begun)\b", re.I),
    "stopped": re.compile(r"\b(?:stop\w*|discontinu\w*|ceas\w*|withdr[ae]wn?)\b", re.I),
    "increased": re.compile(r"\b(?:increase[sd]?|increasing|up-?titrat\w*|titrat\w* up)\b", re.I),
    "decreased": re.compile(r"\b(?:decrease[sd]?|decreasing|reduc\w*|lower\w*|taper\w*)\b", re.I),
    "continued": re.compile(r"\b(?:continu\w*|maintain\w*|remains? on|unchanged)\b", re.I),
}
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_WORD = re.compile(r"[a-z][a-z'-]+|\d+(?:[.,]\d+)?", re.I)


class Encoder(Protocol):
    """Anything that embeds sentences as L2-normalised rows (e.g. the retrieval embedder)."""

    def encode(self, texts: Sequence[str]) -> Any:
        """Return one normalised vector per text, as an array of shape ``(n, dim)``.

        Parameters
        ----------
        texts
            The sentences to embed, ``n`` of them.

        Returns
        -------
        array-like
            Array of shape ``(n, dim)``, row ``i`` the L2-normalised embedding
            of ``texts[i]``, so a dot product of two rows is their cosine.
        """
        ...


@dataclass(frozen=True)
class Citation:
    """A span of one note's (redacted) text.

    Parameters
    ----------
    note_id
        The note the span is in.
    start
        Character offset where the span begins in the note's redacted text.
    end
        Character offset just past the span's end; a valid span has
        ``0 <= start < end <= len(text)``.
    """

    note_id: str
    start: int
    end: int


@dataclass(frozen=True)
class Claim:
    """One summary sentence and the spans it cites.

    Parameters
    ----------
    text
        The sentence as it would appear in the summary.
    citations
        The spans of the notes that should support it; a claim citing
        nothing fails the fact check.
    """

    text: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True)
class Verdict:
    """Whether the cited text supports a claim, and why not.

    Parameters
    ----------
    claim
        The sentence checked.
    supported
        Whether every check passed against the cited text.
    reasons
        Why it is not supported, one line per failed check; empty when
        supported.
    similarity
        Cosine similarity of the sentence and its cited text; None when no
        encoder was used or nothing valid was cited.
    """

    claim: Claim
    supported: bool
    reasons: tuple[str, ...]
    similarity: float | None = None


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _scores(text: str) -> set[tuple[str, str]]:
    """Questionnaire scores as ``("PHQ9", "14")`` pairs."""
    return {(f"{m.group(1).upper()}{m.group(2)}", m.group(3)) for m in _SCORE.finditer(text)}


def _numbers(text: str) -> set[str]:
    """Numbers in digits or words ("six weeks" and "6 weeks" say the same)."""
    found = set(_NUMBER.findall(_NOT_A_NUMBER.sub(" ", text)))
    found |= {_NUMBER_WORDS[w] for w in _words(text) if w in _NUMBER_WORDS}
    return found


def _negated_words(text: str) -> set[str]:
    """Content words that a negation cue governs (to the end of its clause)."""
    negated: set[str] = set()
    for clause in re.split(r"[;.,:!?\n]|\bbut\b|\bhowever\b", text, flags=re.I):
        cue = _NEGATION.search(clause)
        if cue:
            negated |= {w for w in _words(clause[cue.end() :]) if w not in _STOP}
    return negated


def cited_text(claim: Claim, sources: Mapping[str, str]) -> str:
    """Return the text a claim cites (its valid spans, joined), or ``""``."""
    spans = []
    for c in claim.citations:
        text = sources.get(c.note_id)
        if text is not None and 0 <= c.start < c.end <= len(text):
            spans.append(text[c.start : c.end])
    return " ".join(spans)


def check_claim(
    claim: Claim, sources: Mapping[str, str], *, similarity: float | None = None
) -> Verdict:
    """Check one summary sentence against the text it cites.

    Parameters
    ----------
    claim
        The sentence and its citations.
    sources
        Note id to the note's (redacted) text.
    similarity
        Cosine similarity of the sentence and its cited text, when an encoder
        is used; a paraphrase needs it at least :data:`SEMANTIC_SUPPORT`.

    Returns
    -------
    Verdict
        Supported, or not with every reason.
    """
    reasons: list[str] = []
    cited: list[str] = []
    for citation in claim.citations:
        text = sources.get(citation.note_id)
        if text is None or not 0 <= citation.start < citation.end <= len(text):
            reasons.append(f"cites {citation.note_id}[{citation.start}:{citation.end}], not a span")
            continue
        cited.append(text[citation.start : citation.end])
    if not claim.citations:
        reasons.append("cites nothing")
    source = " ".join(cited)
    if not source:
        return Verdict(claim, False, tuple(reasons or ["no cited text"]))
    source_lower = source.lower()
    source_words = set(_words(source))
    content = [w for w in _words(claim.text) if w not in _STOP]
    if content:
        covered = sum(w in source_words for w in content) / len(content)
        paraphrase = (
            similarity is not None and similarity >= SEMANTIC_SUPPORT and covered >= SEMANTIC_ANCHOR
        )
        if covered < LEXICAL_SUPPORT and not paraphrase:
            meaning = "" if similarity is None else f", and its meaning only {similarity:.2f} close"
            reasons.append(f"only {covered:.0%} of its words are in the cited text{meaning}")
    for number in sorted(_numbers(claim.text) - _numbers(source)):
        reasons.append(f"the number {number} is not in the cited text")
    for dose in _DOSE.findall(claim.text):
        if re.sub(r"\s", "", dose.lower()) not in re.sub(r"\s", "", source_lower):
            reasons.append(f"the dose {dose} is not in the cited text")
    for when in set(_DATE.findall(claim.text)) - set(_DATE.findall(source)):
        reasons.append(f"the date {when} is not in the cited text")
    for instrument, value in sorted(_scores(claim.text) - _scores(source)):
        reasons.append(f"the cited text gives no {instrument} score of {value}")
    for code in sorted(set(_ICD10.findall(claim.text)) - set(_ICD10.findall(source))):
        reasons.append(f"the diagnosis code {code} is not in the cited text")
    drugs = {w for w in _words(claim.text) if w in MEDICATIONS}
    for drug in sorted(drugs - source_words):
        reasons.append(f"the medication {drug} is not in the cited text")
    if drugs:
        for action, pattern in _ACTIONS.items():
            if pattern.search(claim.text) and not pattern.search(source):
                reasons.append(f"the sentence says a drug was {action}, the cited text does not")
    claim_negated, source_negated = _negated_words(claim.text), _negated_words(source)
    asserted = {w for w in content if w not in claim_negated}
    for word in sorted(asserted & source_negated - (set(_words(source)) - source_negated)):
        reasons.append(f"the source negates '{word}', the sentence asserts it")
    for word in sorted(claim_negated & source_words - source_negated):
        if word in MEDICATIONS or len(word) > 3:
            reasons.append(f"the sentence negates '{word}', the source asserts it")
    return Verdict(claim, not reasons, tuple(reasons), similarity)


def fact_check(
    claims: Iterable[Claim], sources: Mapping[str, str], *, encoder: Encoder | None = None
) -> tuple[list[Claim], list[Verdict]]:
    """Keep the supported sentences of a summary; return the dropped ones with reasons.

    Parameters
    ----------
    claims
        The summary's sentences with their citations.
    sources
        Note id to the note's (redacted) text.
    encoder
        Sentence embedder for semantic support (see :func:`check_claim`);
        without one, support is lexical only, which drops paraphrases.

    Returns
    -------
    kept : list of Claim
        The supported sentences, in order.
    dropped : list of Verdict
        The others, with every reason.

    Examples
    --------
    >>> note = {"n1": "Denies SI. Started sertraline 50 mg daily."}
    >>> kept, dropped = fact_check(
    ...     [
    ...         Claim("Started sertraline 50 mg daily.", (Citation("n1", 11, 42),)),
    ...         Claim("Started sertraline 100 mg daily.", (Citation("n1", 11, 42),)),
    ...         Claim("Reports SI.", (Citation("n1", 0, 10),)),
    ...     ],
    ...     note,
    ... )
    >>> [c.text for c in kept], len(dropped)
    (['Started sertraline 50 mg daily.'], 2)
    """
    claims = list(claims)
    similarities: list[float | None] = [None] * len(claims)
    if encoder is not None and claims:
        cited = [cited_text(c, sources) for c in claims]
        vectors = encoder.encode([c.text for c in claims] + cited)
        n = len(claims)
        # Rows are normalised, so the dot product is the cosine.
        similarities = [float(vectors[i] @ vectors[n + i]) if cited[i] else None for i in range(n)]
    kept: list[Claim] = []
    dropped: list[Verdict] = []
    for claim, similarity in zip(claims, similarities, strict=True):
        verdict = check_claim(claim, sources, similarity=similarity)
        if verdict.supported:
            kept.append(claim)
        else:
            dropped.append(verdict)
    return kept, dropped

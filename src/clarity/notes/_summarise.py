"""Draft, check and complete one summary: the same safety steps whatever the backend.

1. The backend drafts sentences per heading from the redacted notes (and the
   passages retrieval chose); it never sees PHI, nor a passage that holds
   text addressed to a model (:mod:`clarity.notes._injection`).
2. The fact check keeps only sentences their cited spans support, and none
   that cites text addressed to a model.
3. Every sentence with current crisis language (the rules, not the model) is in
   the Risk section: a backend that left one out, or whose version the check
   dropped, gets the source sentence back, cited.

So a model can make a summary shorter or clumsier, never unfaithful and never
silent about risk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from clarity.notes._draft import DraftRequest, Passage, SummaryBackend
from clarity.notes._extractive import SECTIONS, SourceNote, extractive_summary
from clarity.notes._factcheck import FACT_CHECK_VERSION, Claim, Encoder, Verdict, fact_check
from clarity.notes._injection import INJECTION_VERSION, injection_spans

__all__ = ["Summary", "summarise"]


@dataclass(frozen=True)
class Summary:
    """A checked summary of one patient's notes.

    Parameters
    ----------
    sections
        Heading to its kept sentences, headings in :data:`SECTIONS` order.
    notes
        The notes summarised, oldest first.
    drafted
        How many sentences the backend wrote, under any heading.
    dropped
        The sentences the fact check removed, with reasons (including those
        citing text addressed to a model or under an unknown heading).
    added_risk
        How many crisis sentences were put back after the backend left them out.
    backend, model_version
        Who drafted it: the backend's short name and the model it ran.
    retrieval_version
        The embedder and ranking that chose passages (``"none"`` without retrieval).
    fact_check_version
        Version of the checks.
    since
        Start of the window.
    injections
        Sentences in the notes that address a language model (never shown to
        one, never summarised).
    unknown_headings
        Headings the backend used that a summary cannot show.
    """

    sections: dict[str, list[Claim]]
    notes: tuple[SourceNote, ...]
    drafted: int
    dropped: tuple[Verdict, ...]
    added_risk: int
    backend: str
    model_version: str
    retrieval_version: str = "none"
    fact_check_version: str = f"{FACT_CHECK_VERSION}+injection-{INJECTION_VERSION}"
    injections: int = 0
    since: date | None = None
    unknown_headings: tuple[str, ...] = field(default=())

    def sentences(self) -> list[tuple[str, Claim]]:
        """Return ``(heading, sentence)`` in reading order.

        Returns
        -------
        list of tuple
            ``(heading, claim)`` pairs, headings in :data:`SECTIONS` order and
            each heading's sentences in the order kept.
        """
        return [(s, c) for s in SECTIONS for c in self.sections.get(s, [])]


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """Replace each span with spaces, keeping every offset."""
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _cites(claim: Claim, note_id: str, start: int, end: int) -> bool:
    """Whether a claim cites a span overlapping ``note_id[start:end]``."""
    return any(c.note_id == note_id and c.start < end and start < c.end for c in claim.citations)


def summarise(
    notes: Sequence[SourceNote],
    backend: SummaryBackend,
    *,
    passages: Mapping[str, Sequence[Passage]] | None = None,
    encoder: Encoder | None = None,
    retrieval_version: str = "none",
    since: date | None = None,
) -> Summary:
    """Draft a summary with ``backend``, fact-check it and restore any crisis sentence.

    Parameters
    ----------
    notes
        The patient's redacted notes in the window.
    backend
        The drafting backend (see :func:`clarity.notes.make_backend`).
    passages
        Retrieved passages per heading, for model backends.
    encoder
        Sentence embedder for the semantic part of the fact check.
    retrieval_version
        Recorded on the summary: what ranked ``passages``.
    since
        Start of the window, recorded on the summary.

    Returns
    -------
    Summary
        The kept sentences, what was dropped and why, and who drafted it.

    Raises
    ------
    ValueError
        If ``notes`` is empty.
    """
    if not notes:
        raise ValueError("A summary needs at least one note; the window holds none.")
    ordered = tuple(sorted(notes, key=lambda n: (n.written, n.note_id)))
    injected = {n.note_id: injection_spans(n.text) for n in ordered}
    shown = {
        heading: [
            p
            for p in found
            if not any(p.start < e and s < p.end for s, e in injected.get(p.note_id, []))
        ]
        for heading, found in (passages or {}).items()
    }
    # The backend reads the notes with those sentences blanked (offsets kept, so its
    # citations still point into the real text).
    visible = tuple(
        SourceNote(n.note_id, n.written, _blank(n.text, injected[n.note_id])) for n in ordered
    )
    draft = backend.draft(DraftRequest(notes=visible, passages=shown, since=since))
    sources = {n.note_id: n.text for n in ordered}
    unknown = tuple(sorted(set(draft) - set(SECTIONS)))
    sections: dict[str, list[Claim]] = {}
    dropped: list[Verdict] = []
    drafted = 0
    for heading in SECTIONS:
        claims = []
        for claim in draft.get(heading, []):
            drafted += 1
            if any(_cites(claim, n, s, e) for n, spans in injected.items() for s, e in spans):
                reason = "cites text addressed to a language model, not a clinical statement"
                dropped.append(Verdict(claim, False, (reason,)))
            else:
                claims.append(claim)
        kept, lost = fact_check(claims, sources, encoder=encoder)
        dropped += lost
        seen: set[str] = set()
        for claim in kept:
            if claim.text.lower() not in seen:
                seen.add(claim.text.lower())
                sections.setdefault(heading, []).append(claim)
    for heading in unknown:
        # A heading the contract cannot show: its sentences are not guessed into one.
        for claim in draft[heading]:
            drafted += 1
            dropped.append(Verdict(claim, False, (f"under an unknown heading {heading!r}",)))
    # The rules' crisis sentences are the floor of the Risk section.
    risk = sections.setdefault("Risk", [])
    added = 0
    for rule in extractive_summary(ordered).get("Risk", []):
        missing = tuple(
            c for c in rule.citations if not any(_cites(k, c.note_id, c.start, c.end) for k in risk)
        )
        if missing:
            risk.append(Claim(rule.text, missing))
            added += 1
    if not risk:
        del sections["Risk"]
    return Summary(
        sections={s: sections[s] for s in SECTIONS if s in sections},
        notes=ordered,
        drafted=drafted,
        dropped=tuple(dropped),
        added_risk=added,
        backend=backend.name,
        model_version=backend.model_version,
        retrieval_version=retrieval_version,
        since=since,
        injections=sum(len(spans) for spans in injected.values()),
        unknown_headings=unknown,
    )

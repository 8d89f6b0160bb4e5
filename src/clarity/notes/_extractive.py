"""The extractive summary: source sentences, chosen and ordered, each citing its span.

The default backend: deterministic, on CPU, and faithful by construction (it
writes nothing it did not read). From the patient's redacted notes, oldest
first, it takes per SOAP heading:

- Risk: every sentence with current crisis language (the rules of
  :mod:`clarity.notes._crisis`), so a summary never hides one;
- Subjective: the newest note's first complaint, and earlier ones when they differ;
- Objective: each note's questionnaire scores, giving the trend;
- Assessment: the newest assessment;
- Plan: every medication start, stop, switch or dose change, then the newest plan.

Each sentence keeps its note id and character span, and still passes the
fact check like any other backend's output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from clarity.notes._crisis import _SENTENCE, assess_crisis
from clarity.notes._factcheck import MEDICATIONS, Citation, Claim

if TYPE_CHECKING:  # the interface module imports this one
    from clarity.notes._draft import DraftRequest

__all__ = [
    "EXTRACTIVE_VERSION",
    "SECTIONS",
    "ExtractiveBackend",
    "SourceNote",
    "extractive_summary",
]

EXTRACTIVE_VERSION = "1.1.0"
"""Version of the selection rules; bump when a change alters which sentences are chosen."""

SECTIONS = ("Risk", "Subjective", "Objective", "Assessment", "Plan")
"""Headings of a summary, in the order they are shown."""

_HEADING = re.compile(r"^\s*([SOAP]):\s*", re.MULTILINE)
_SCORE = re.compile(r"\b(?:PHQ-?9|GAD-?7)\b", re.I)
_CHANGE = re.compile(
    r"\b(?:start\w*|stop\w*|switch\w*|(?:in|de)crease[sd]?|increasing|decreasing|reduc\w*|"
    r"taper\w*|discontinu\w*|titrat\w*|add\w*|chang\w*)\b",
    re.I,
)


@dataclass(frozen=True)
class SourceNote:
    """One redacted note of the patient.

    Parameters
    ----------
    note_id
        The note's id, which citations refer to.
    written
        The note's (shifted) date.
    text
        The note's redacted text; citations are character spans of it.
    """

    note_id: str
    written: date
    text: str


def _sections(text: str) -> dict[str, list[tuple[int, int]]]:
    """Sentence spans under each SOAP heading (``S:``, ``O:``, ``A:``, ``P:``)."""
    marks = [(m.group(1), m.end()) for m in _HEADING.finditer(text)]
    found: dict[str, list[tuple[int, int]]] = {}
    for i, (letter, start) in enumerate(marks):
        end = marks[i + 1][1] - 3 if i + 1 < len(marks) else len(text)
        for sentence in _SENTENCE.finditer(text, start, max(start, end)):
            body = sentence.group(0).strip()
            if len(body) > 2:
                offset = sentence.start() + sentence.group(0).index(body)
                found.setdefault(letter, []).append((offset, offset + len(body)))
    return found


def extractive_summary(notes: Sequence[SourceNote]) -> dict[str, list[Claim]]:
    """Summarise a patient's notes by SOAP heading, every sentence cited.

    Parameters
    ----------
    notes
        The patient's redacted notes (any order; they are sorted by date).

    Returns
    -------
    dict
        Heading (see :data:`SECTIONS`) to its sentences; empty headings omitted.
    """
    ordered = sorted(notes, key=lambda n: (n.written, n.note_id))
    summary: dict[str, list[Claim]] = {}
    seen: dict[str, int] = {}

    def take(section: str, note: SourceNote, span: tuple[int, int]) -> None:
        text = note.text[span[0] : span[1]]
        key = f"{section}:{text.lower()}"
        citation = Citation(note.note_id, *span)
        if key in seen:
            # Said once, citing every note that says it: a recurring sentence (ideation
            # in two visits, the same score) is itself information.
            at = seen[key]
            claims = summary[section]
            if citation not in claims[at].citations and len(claims[at].citations) < 16:
                claims[at] = Claim(claims[at].text, (*claims[at].citations, citation))
            return
        # The sentence as written; its date is its note's, shown beside it.
        summary.setdefault(section, []).append(Claim(text, (citation,)))
        seen[key] = len(summary[section]) - 1

    for note in ordered:
        for start, end in assess_crisis(note.text).evidence:
            take("Risk", note, (start, end))
        sections = _sections(note.text)
        for span in sections.get("O", []):
            if _SCORE.search(note.text[span[0] : span[1]]):
                take("Objective", note, span)
        for span in sections.get("P", []):
            sentence = note.text[span[0] : span[1]].lower()
            if _CHANGE.search(sentence) and any(d in sentence for d in MEDICATIONS):
                take("Plan", note, span)
    for note in ordered[-3:]:
        subjective = _sections(note.text).get("S", [])
        if subjective:
            take("Subjective", note, subjective[0])
    if ordered:
        newest = ordered[-1]
        sections = _sections(newest.text)
        for span in sections.get("A", [])[:1]:
            take("Assessment", newest, span)
        for span in sections.get("P", []):
            take("Plan", newest, span)
    return {s: summary[s] for s in SECTIONS if s in summary}


class ExtractiveBackend:
    r"""The default summary backend: :func:`extractive_summary` over every note in the window.

    It reads all of the window's notes rather than the retrieved passages: it
    is cheap, and a rule-chosen summary should not depend on a ranking.

    Examples
    --------
    >>> from clarity.notes._draft import DraftRequest
    >>> note = SourceNote("n1", date(2024, 1, 5), "A: Depression.\nP: Start sertraline 50 mg.")
    >>> backend = ExtractiveBackend()
    >>> draft = backend.draft(DraftRequest(notes=[note]))
    >>> [(heading, c.text) for heading, claims in draft.items() for c in claims]
    [('Assessment', 'Depression.'), ('Plan', 'Start sertraline 50 mg.')]
    """

    name = "extractive"
    model_version = f"extractive-{EXTRACTIVE_VERSION}"

    def draft(self, request: DraftRequest) -> dict[str, list[Claim]]:
        """Return the extractive summary of the request's notes.

        Parameters
        ----------
        request
            The summary to draft; only its ``notes`` are read, not the
            retrieved passages.

        Returns
        -------
        dict
            Heading (see :data:`SECTIONS`) to its sentences, as
            :func:`extractive_summary` returns them; empty headings omitted.
        """
        return extractive_summary(request.notes)

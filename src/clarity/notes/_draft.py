"""What a summary backend receives and returns: the one interface every backend implements.

A backend drafts a summary of one patient's redacted notes. It reads only the
redacted text (PHI never reaches a model) and the passages retrieval ranked
for it, and returns sentences per SOAP heading, each citing spans of the
notes. Whatever it returns then goes through the fact check; a backend is
never trusted to be faithful.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, runtime_checkable

from clarity.notes._extractive import SECTIONS, SourceNote
from clarity.notes._factcheck import Claim

__all__ = ["SECTIONS", "DraftRequest", "Passage", "SummaryBackend"]


@dataclass(frozen=True)
class Passage:
    """A span of one redacted note, as retrieval ranks it.

    Parameters
    ----------
    note_id
        The note it comes from.
    written
        The note's (shifted) date.
    start, end
        Character offsets of the span in the note's redacted text.
    text
        The span's text (``note.text[start:end]``).
    score
        Retrieval score; higher is more relevant.
    """

    note_id: str
    written: date
    start: int
    end: int
    text: str
    score: float = 0.0


@dataclass(frozen=True)
class DraftRequest:
    """One summary to draft.

    Parameters
    ----------
    notes
        The patient's redacted notes in the window, oldest first.
    passages
        Per heading (see :data:`SECTIONS`), the passages retrieval ranked for
        it, most relevant first; a model backend shows these to the model.
    since
        Start of the window (None: every note).
    """

    notes: Sequence[SourceNote]
    passages: Mapping[str, Sequence[Passage]] = field(default_factory=dict)
    since: date | None = None


@runtime_checkable
class SummaryBackend(Protocol):
    """Drafts a summary; implemented by the extractive, transformers and OpenAI backends."""

    name: str
    """Short name, e.g. ``"extractive"``."""

    model_version: str
    """The model (and adapter) it runs, as recorded on each summary."""

    def draft(self, request: DraftRequest) -> dict[str, list[Claim]]:
        """Return sentences per heading, each citing spans of ``request.notes``.

        Parameters
        ----------
        request
            The patient's redacted notes in the window and the passages
            retrieval ranked per heading.

        Returns
        -------
        dict
            Heading (see :data:`SECTIONS`) to its drafted sentences, each a
            :class:`Claim` with its citations; the fact check runs afterwards.
        """
        ...

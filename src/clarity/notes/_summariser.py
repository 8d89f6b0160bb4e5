"""From a patient's redacted notes on the bus to a ``notes.summary`` record.

:class:`NotesSummariser` keeps the note index current, retrieves passages per
heading, drafts with the configured backend and checks the draft
(:func:`clarity.notes._summarise.summarise`). It reads ``notes.phi_report``
records only, so the text it indexes and shows a model is the redacted text.

Windows are chosen in real dates (``since``), and translated to the shifted
dates of the redacted text with the offset each PHI report records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from clarity._version_info import __version__
from clarity.contracts import (
    Envelope,
    NotesPhiReport,
    NotesSummary,
    Producer,
    SummaryCitation,
    SummarySection,
    SummarySentence,
    event_id_for,
)
from clarity.notes._draft import SummaryBackend
from clarity.notes._extractive import SourceNote
from clarity.notes._factcheck import Encoder
from clarity.notes._summarise import Summary, summarise

if TYPE_CHECKING:
    from clarity.notes._index import NoteIndex

__all__ = ["NotesSummariser", "source_notes"]


def source_notes(
    reports: Sequence[Envelope], *, since: date | None = None
) -> list[tuple[Envelope, SourceNote]]:
    """Return the PHI reports written on or after ``since`` with their notes, oldest first.

    A note re-redacted later (a new redactor version) appears once, newest
    redaction kept.

    Parameters
    ----------
    reports
        ``notes.phi_report`` records, in any order.
    since
        First (real, unshifted) day of the window, compared with each record's
        ``observed_at`` date; None keeps every report.

    Returns
    -------
    list of tuple
        ``(record, note)`` pairs ordered by ``observed_at``, then note id: the
        PHI report and a :class:`SourceNote` of its redacted text, dated with
        the shifted date.

    Raises
    ------
    TypeError
        If a record is not a ``notes.phi_report``.
    """
    newest: dict[str, Envelope] = {}
    for record in sorted(reports, key=lambda r: (r.produced_at, str(r.event_id))):
        payload = record.payload
        if not isinstance(payload, NotesPhiReport):
            raise TypeError(f"Expected notes.phi_report records, got {record.topic!r}.")
        if since is None or record.observed_at.date() >= since:
            newest[payload.note_id] = record
    pairs = []
    for record in newest.values():
        payload = record.payload
        assert isinstance(payload, NotesPhiReport)
        note = SourceNote(payload.note_id, payload.shifted_date, payload.redacted_text)
        pairs.append((record, note))
    pairs.sort(key=lambda pair: (pair[0].observed_at, pair[1].note_id))
    return pairs


class NotesSummariser:
    """Draft checked summaries of patients' notes with one backend.

    Parameters
    ----------
    backend
        The drafting backend (``make_backend("extractive")`` by default).
    index
        The note index that retrieval reads and this class keeps current; None
        drafts without retrieval (the extractive backend does not need it).
    encoder
        Sentence embedder for the fact check's semantic support.
    window_days
        When no ``since`` is given, the window ends at the newest note and
        starts this many days before it.
    k
        Passages retrieved per heading.
    """

    def __init__(
        self,
        backend: SummaryBackend,
        *,
        index: NoteIndex | None = None,
        encoder: Encoder | None = None,
        window_days: int = 90,
        k: int = 8,
    ) -> None:
        if window_days < 1:
            raise ValueError(f"window_days must be at least 1; got {window_days}.")
        self.backend = backend
        self.index = index
        self.encoder = encoder
        self.window_days = window_days
        self.k = k

    @property
    def retrieval_version(self) -> str:
        """The embedder and ranking behind the passages, or ``"none"``."""
        if self.index is None:
            return "none"
        embedder = getattr(self.index, "embedder", None)
        name = getattr(embedder, "name", "embedder")
        version = getattr(embedder, "version", "?")
        return f"hybrid-bm25+{name}@{version}"

    def summarise(
        self, patient_id: str, reports: Sequence[Envelope], *, since: date | None = None
    ) -> tuple[Summary, list[Envelope]]:
        """Summarise a patient's notes in a window.

        Parameters
        ----------
        patient_id
            The patient.
        reports
            The patient's ``notes.phi_report`` records (any order; more than
            the window is fine).
        since
            First (real) day of the window; by default ``window_days`` before
            the newest note.

        Returns
        -------
        summary : Summary
            The checked summary.
        inputs : list of Envelope
            The PHI reports it was drawn from.

        Raises
        ------
        ValueError
            If no note falls in the window.
        """
        if since is None and reports:
            newest = max(r.observed_at.date() for r in reports)
            since = newest - timedelta(days=self.window_days)
        pairs = source_notes(reports, since=since)
        if not pairs:
            raise ValueError(f"Patient {patient_id!r} has no redacted notes since {since}.")
        passages = None
        if self.index is not None:
            for _record, note in pairs:
                self.index.add(patient_id, note)
            from clarity.notes._index import retrieve_for_summary

            record, note = pairs[0]
            # The index holds shifted dates; move the window by the same offset.
            offset = note.written - record.observed_at.date()
            shifted = None if since is None else since + offset
            passages = retrieve_for_summary(self.index, patient_id, since=shifted, k=self.k)
        summary = summarise(
            [note for _, note in pairs],
            self.backend,
            passages=passages,
            encoder=self.encoder,
            retrieval_version=self.retrieval_version if passages is not None else "none",
            since=since,
        )
        return summary, [record for record, _ in pairs]

    def envelope(self, patient_id: str, summary: Summary, inputs: Sequence[Envelope]) -> Envelope:
        """Return the ``notes.summary`` record of a summary.

        Parameters
        ----------
        patient_id
            Whose summary it is.
        summary
            The checked summary, as :meth:`summarise` returns it.
        inputs
            The PHI reports it was drawn from (at least one); the record lists
            them as its inputs and takes the newest one's ``observed_at``.

        Returns
        -------
        Envelope
            A ``notes.summary`` envelope whose event id derives from the
            backend, the versions, the window start and the inputs' event ids,
            so the same inputs summarised again the same way give the same id.
        """
        producer = Producer(
            service="notes",
            model_name=f"notes.summary.{summary.backend}",
            model_version=summary.model_version[:200],
            code_version=__version__,
        )
        sentences = tuple(
            SummarySentence(
                section=SummarySection(heading),
                text=claim.text[:4_000],
                citations=tuple(
                    SummaryCitation(note_id=c.note_id, start=c.start, end=c.end)
                    for c in claim.citations[:16]
                ),
            )
            for heading, claim in summary.sentences()
        )
        payload = NotesSummary(
            since=summary.since,
            until=max(r.observed_at for r in inputs).date(),
            note_ids=tuple(n.note_id for n in summary.notes),
            sentences=sentences[:500],
            backend=summary.backend,
            model_version=summary.model_version[:200],
            retrieval_version=summary.retrieval_version[:200],
            drafted=summary.drafted,
            dropped=len(summary.dropped),
            drop_reasons=tuple(v.reasons[0][:400] for v in summary.dropped[:100] if v.reasons),
            added_risk=summary.added_risk,
            injections=summary.injections,
            fact_check_version=summary.fact_check_version,
        )
        ids = sorted(str(r.event_id) for r in inputs)
        return Envelope.new(
            event_id=event_id_for(
                "notes.summary",
                summary.backend,
                summary.model_version,
                summary.retrieval_version,
                summary.fact_check_version,
                str(summary.since),
                *ids,
            ),
            topic="notes.summary",
            patient_id=patient_id,
            observed_at=max(r.observed_at for r in inputs),
            source=f"notes:summary:{summary.backend}",
            producer=producer,
            inputs=[r.event_id for r in inputs],
            payload=payload,
        )

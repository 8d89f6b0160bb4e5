"""The notes service on the bus: crisis alerts first, then the redacted note.

It reads ``ingest.note`` as a consumer group. For each note, in this order:

1. the crisis rules run on the note as written; a positive publishes
   ``notes.crisis_alert`` at once, in its own publish, so nothing later (a
   redaction failure, a crash) can hold it back;
2. PHI is replaced and ``notes.phi_report`` carries the redacted text, which
   is all that later steps (retrieval, summaries, the dashboard) read;
3. with a summariser, each patient with new notes gets a fresh
   ``notes.summary`` of their window, drawn from every PHI report of theirs
   (this run's and, from the store, earlier ones).

Event ids derive from the note's event id and the rules' versions: a replay
publishes nothing new. A note the service cannot redact goes to the dead
letters with the reason (its alert, if any, is already out). A summary that
fails (a model server down) is logged and counted; the notes are committed
regardless, and ``clarity notes summarise`` drafts it again later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from clarity._version_info import __version__
from clarity.bus import Bus
from clarity.contracts import (
    ClinicalNote,
    CrisisEvidence,
    Envelope,
    NotesCrisisAlert,
    NotesPhiReport,
    PhiCount,
    Producer,
    event_id_for,
)
from clarity.notes._crisis import DETECTOR_VERSION, assess_crisis
from clarity.notes._phi import REDACTOR_VERSION, PhiRedactor

if TYPE_CHECKING:
    from clarity.notes._summariser import NotesSummariser
    from clarity.store import FeatureStore

__all__ = ["NotesService", "NotesServiceReport"]

log = logging.getLogger(__name__)

Allowed = Callable[[str, str], bool]


@dataclass
class NotesServiceReport:
    """What one :meth:`NotesService.run` did.

    Parameters
    ----------
    notes
        Notes read from ``ingest.note``, skipped and rejected ones included.
    alerts
        Crisis alerts published (a replayed, duplicate alert is not counted).
    redacted
        PHI reports published (a replayed, duplicate report is not counted).
    rejected
        Notes sent to the dead letters because redaction failed.
    skipped
        Notes not processed because ``allowed`` refused them (no consent).
    summaries
        Summaries published (a duplicate is not counted).
    summary_failures
        Patients whose summary could not be drafted or enveloped; their notes
        were committed regardless.
    """

    notes: int = 0
    alerts: int = 0
    redacted: int = 0
    rejected: int = 0
    skipped: int = 0
    summaries: int = 0
    summary_failures: int = 0


class NotesService:
    """Publish crisis alerts and redacted notes as notes arrive.

    Parameters
    ----------
    redactor
        The PHI redactor (its key shifts each patient's dates).
    allowed
        ``allowed(patient_id, topic)``: False skips the note (no consent).
    batch_size
        Notes per poll.
    summariser
        Drafts ``notes.summary`` for patients with new notes; None publishes none.
    store
        Where earlier PHI reports are read from for summaries (the service's
        own memory covers only what it published since it started).
    """

    def __init__(
        self,
        redactor: PhiRedactor,
        *,
        allowed: Allowed | None = None,
        batch_size: int = 64,
        summariser: NotesSummariser | None = None,
        store: FeatureStore | None = None,
    ) -> None:
        self.redactor = redactor
        self.allowed = allowed
        self.batch_size = batch_size
        self.summariser = summariser
        self.store = store
        self._reports: dict[str, dict[str, Envelope]] = {}
        self._backfilled: set[str] = set()
        self.producer = Producer(
            service="notes",
            model_name="notes.rules",
            model_version=f"crisis-{DETECTOR_VERSION}+phi-{REDACTOR_VERSION}",
            code_version=__version__,
        )

    def _envelope(
        self, topic: str, note: Envelope, payload: NotesCrisisAlert | NotesPhiReport
    ) -> Envelope:
        return Envelope.new(
            event_id=event_id_for(topic, self.producer.model_version, str(note.event_id)),
            topic=topic,
            patient_id=note.patient_id,
            observed_at=note.observed_at,
            source=f"notes:{self.producer.model_version}",
            producer=self.producer,
            inputs=[note.event_id],
            payload=payload,
        )

    def alert(self, note: Envelope) -> Envelope | None:
        """Return the crisis alert of a note, or None when it has no crisis language.

        The crisis rules read the note as written; each evidence sentence is
        redacted before it goes into the alert, and withheld with a notice
        when its redaction fails.

        Parameters
        ----------
        note
            An ``ingest.note`` envelope whose payload is a ``ClinicalNote``.

        Returns
        -------
        Envelope or None
            A ``notes.crisis_alert`` envelope with the level, the kinds of
            current findings and the redacted evidence; None when the note
            calls for no escalation.
        """
        payload = note.payload
        assert isinstance(payload, ClinicalNote)
        found = assess_crisis(payload.text)
        if not found.crisis:
            return None
        evidence = []
        for start, end in found.evidence[:32]:
            try:
                text = self.redactor.redact(payload.text[start:end], note.patient_id).text
            except Exception:  # the alert must go out even when redaction cannot run
                log.exception("redaction of crisis evidence failed")
                text = "[evidence withheld: redaction failed; open the note]"
            evidence.append(CrisisEvidence(start=start, end=end, text=text[:4_000]))
        kinds = tuple(sorted({f.kind for f in found.findings if f.current}))
        return self._envelope(
            "notes.crisis_alert",
            note,
            NotesCrisisAlert(
                note_id=payload.note_id,
                level=found.level,
                self_harm=found.self_harm,
                harm_to_others=found.harm_to_others,
                kinds=kinds[:16],
                evidence=tuple(evidence),
                detector_version=DETECTOR_VERSION,
            ),
        )

    def phi_report(self, note: Envelope) -> Envelope:
        """Return the note's PHI report with its redacted text.

        Parameters
        ----------
        note
            An ``ingest.note`` envelope whose payload is a ``ClinicalNote``.

        Returns
        -------
        Envelope
            A ``notes.phi_report`` envelope carrying the redacted text, the
            count of identifiers replaced per kind and the note's shifted date.
        """
        payload = note.payload
        assert isinstance(payload, ClinicalNote)
        redacted = self.redactor.redact(payload.text, note.patient_id)
        shifted = note.observed_at.date() + timedelta(
            days=self.redactor.shift_days(note.patient_id)
        )
        counts = tuple(PhiCount(kind=k, count=n) for k, n in sorted(redacted.counts().items()))
        return self._envelope(
            "notes.phi_report",
            note,
            NotesPhiReport(
                note_id=payload.note_id,
                counts=counts,
                redacted_text=redacted.text,
                shifted_date=shifted,
                redactor_version=REDACTOR_VERSION,
            ),
        )

    def run(self, bus: Bus, *, group: str = "notes") -> NotesServiceReport:
        """Consume new notes; publish alerts at once, then PHI reports, then commit.

        With a summariser, each patient with a note in this run then gets a
        fresh summary.

        Parameters
        ----------
        bus
            The bus to read ``ingest.note`` from and publish to.
        group
            The consumer group, whose committed offsets say which notes are new.

        Returns
        -------
        NotesServiceReport
            Counts of this run.
        """
        report = NotesServiceReport()
        touched: set[str] = set()
        with bus.subscribe("ingest.note", group=group) as consumer:
            while batch := consumer.poll(max_records=self.batch_size):
                for delivery in batch:
                    note = delivery.record
                    report.notes += 1
                    if self.allowed is not None and not self.allowed(note.patient_id, note.topic):
                        report.skipped += 1
                        continue
                    alert = self.alert(note)
                    if alert is not None and not bus.publish(alert).duplicate:
                        report.alerts += 1
                    try:
                        phi = self.phi_report(note)
                    except Exception as error:
                        log.exception("redaction failed on note %s", note.event_id)
                        consumer.reject(delivery, f"PHI redaction failed: {error!r}")
                        report.rejected += 1
                        continue
                    if not bus.publish(phi).duplicate:
                        report.redacted += 1
                    self._reports.setdefault(note.patient_id, {})[str(phi.event_id)] = phi
                    touched.add(note.patient_id)
                consumer.commit()
        if self.summariser is not None:
            for patient_id in sorted(touched):
                self._summarise(bus, patient_id, report)
        return report

    def reports(self, patient_id: str) -> list[Envelope]:
        """Return every PHI report of a patient known here or in the store.

        The store (when given) is read once per patient, the first time the
        patient's reports are asked for.

        Parameters
        ----------
        patient_id
            Whose reports.

        Returns
        -------
        list of Envelope
            The patient's ``notes.phi_report`` envelopes, each once (by event
            id), in no guaranteed order.
        """
        known = self._reports.setdefault(patient_id, {})
        if self.store is not None and patient_id not in self._backfilled:
            rows = self.store.timeline(patient_id, topics=["notes.phi_report"], limit=100_000)
            for row in rows:
                record = Envelope.model_validate(dict(row.record))
                known.setdefault(str(record.event_id), record)
            self._backfilled.add(patient_id)
        return list(known.values())

    def _summarise(self, bus: Bus, patient_id: str, report: NotesServiceReport) -> None:
        assert self.summariser is not None
        if self.allowed is not None and not self.allowed(patient_id, "notes.summary"):
            return  # consent withdrawn since the note was redacted
        try:
            summary, inputs = self.summariser.summarise(patient_id, self.reports(patient_id))
            record = self.summariser.envelope(patient_id, summary, inputs)
        except Exception:
            # The alerts and redacted notes are already out; a summary can be redrafted.
            log.exception("summary of patient %s failed", patient_id)
            report.summary_failures += 1
            return
        if not bus.publish(record).duplicate:
            report.summaries += 1

"""The notes service on the bus: crisis alerts first, then the redacted note.

It reads ``ingest.note`` as a consumer group. For each note, in this order:

1. the crisis rules run on the note as written; a positive publishes
   ``notes.crisis_alert`` at once, in its own publish, so nothing later (a
   redaction failure, a crash) can hold it back;
2. PHI is replaced and ``notes.phi_report`` carries the redacted text, which
   is all that later steps (retrieval, summaries, the dashboard) read.

Event ids derive from the note's event id and the rules' versions: a replay
publishes nothing new. A note the service cannot redact goes to the dead
letters with the reason (its alert, if any, is already out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

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

__all__ = ["NotesService", "NotesServiceReport"]

log = logging.getLogger(__name__)

Allowed = Callable[[str, str], bool]


@dataclass
class NotesServiceReport:
    """What one :meth:`NotesService.run` did."""

    notes: int = 0
    alerts: int = 0
    redacted: int = 0
    rejected: int = 0
    skipped: int = 0


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
    """

    def __init__(
        self, redactor: PhiRedactor, *, allowed: Allowed | None = None, batch_size: int = 64
    ) -> None:
        self.redactor = redactor
        self.allowed = allowed
        self.batch_size = batch_size
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
        """Return the crisis alert of a note, or None when it has no crisis language."""
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
        """Return the note's PHI report with its redacted text."""
        payload = note.payload
        assert isinstance(payload, ClinicalNote)
        redacted = self.redactor.redact(payload.text, note.patient_id)
        counts = tuple(PhiCount(kind=k, count=n) for k, n in sorted(redacted.counts().items()))
        return self._envelope(
            "notes.phi_report",
            note,
            NotesPhiReport(
                note_id=payload.note_id,
                counts=counts,
                redacted_text=redacted.text,
                redactor_version=REDACTOR_VERSION,
            ),
        )

    def run(self, bus: Bus, *, group: str = "notes") -> NotesServiceReport:
        """Consume new notes; publish alerts at once, then PHI reports, then commit."""
        report = NotesServiceReport()
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
                consumer.commit()
        return report

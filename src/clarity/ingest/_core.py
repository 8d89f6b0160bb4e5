"""What every reader shares: pseudonyms, rejections, and the sink that publishes.

A reader turns one file into a stream of :class:`Accepted` records and
:class:`Rejected` items. The :class:`Sink` publishes accepted records in
batches, keeps every rejected item on the dead-letter topic with its location
and reason, refuses timestamps in the future and repeats within a file, and
counts what happened in an :class:`IngestReport`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clarity._utils import read_or_create_key
from clarity._version_info import __version__
from clarity.bus import Bus
from clarity.contracts import (
    Envelope,
    OriginalFormat,
    Payload,
    Producer,
    event_id_for,
    field_errors,
)
from clarity.errors import ClarityError, ConfigurationError, ContractViolation, FieldError

__all__ = [
    "Accepted",
    "FileReport",
    "IngestReport",
    "Item",
    "Pseudonymizer",
    "ReadContext",
    "Rejected",
    "Sink",
    "Skipped",
    "content_digest",
    "rejection_from",
]

_FUTURE_TOLERANCE = timedelta(minutes=5)


def content_digest(data: bytes | str) -> str:
    """Return a short digest of a record's source content (part of its event id)."""
    raw = data.encode() if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()[:32]


class Pseudonymizer:
    """Turn a source system's patient identifier into Clarity's pseudonym.

    The pseudonym is a keyed hash (HMAC-SHA-256) of the source identifier, so
    it is stable across files and ingests, reveals nothing without the key,
    and cannot be reversed by guessing record numbers. The key lives in the
    data directory (``pseudonym.key``, created on first use, mode 0600).

    Parameters
    ----------
    key
        The secret key, at least 16 bytes.

    Examples
    --------
    >>> p = Pseudonymizer(b"0" * 32)
    >>> p("SYN-00001") == p("SYN-00001"), p("SYN-00001")[:2]
    (True, 'p-')
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigurationError("The pseudonym key must be at least 16 bytes long.")
        self._key = key

    @classmethod
    def from_file(cls, path: Path) -> Pseudonymizer:
        """Load the key from a file, creating it (0600) when it does not exist.

        Parameters
        ----------
        path
            The key file.

        Returns
        -------
        Pseudonymizer
            A pseudonymizer with that key.
        """
        return cls(read_or_create_key(path))

    def __call__(self, source_id: str) -> str:
        """Return the pseudonym of a source patient identifier."""
        digest = hmac.new(self._key, source_id.strip().encode(), hashlib.sha256).digest()
        return "p-" + base64.b32encode(digest[:15]).decode().lower()


@dataclass(frozen=True)
class Accepted:
    """A record a reader built, ready to publish.

    Parameters
    ----------
    envelope
        The record.
    original
        The source input it was built from, kept if a later check (a future
        timestamp, a repeat) refuses the record; the record's JSON when empty.
    original_format
        How ``original`` is encoded.
    """

    envelope: Envelope
    original: bytes = b""
    original_format: OriginalFormat = OriginalFormat.json


@dataclass(frozen=True)
class Rejected:
    """Input a reader refused, with where and why.

    Parameters
    ----------
    location
        Where in the file: ``line 12``, ``entry 3 (Observation/abc)``, ...
    reason
        Why, in words.
    original
        The rejected input, unchanged (a line, a resource's JSON, the file head).
    original_format
        How ``original`` is encoded.
    topic
        The topic the record was meant for, when known.
    errors
        Field-level reasons.
    patient_id
        The pseudonymous patient, when known.
    """

    location: str
    reason: str
    original: bytes
    original_format: OriginalFormat = OriginalFormat.text
    topic: str | None = None
    errors: tuple[FieldError, ...] = ()
    patient_id: str | None = None


@dataclass(frozen=True)
class Skipped:
    """Input that is valid but not used by Clarity (e.g. a body-weight Observation).

    Parameters
    ----------
    location
        Where in the file.
    reason
        Why it is not used.
    """

    location: str
    reason: str


Item = Accepted | Rejected | Skipped


@dataclass
class ReadContext:
    """What a reader needs to know besides the file.

    Parameters
    ----------
    path
        The file being read.
    source
        How the file is named in records' ``source`` (e.g. relative to the cohort).
    pseudonym
        Maps source patient ids to pseudonyms.
    patient
        The source patient id of a single-patient file (actigraphy, RR, ECG).
    timezone
        IANA zone of local timestamps in the file.
    zones
        IANA zone by source patient id, for files that mix patients (mood).
    genome_build
        Build of a PLINK file's positions (``.bim`` does not say).
    now
        Ingestion time; later timestamps are refused.
    """

    path: Path
    source: str
    pseudonym: Pseudonymizer
    patient: str | None = None
    timezone: str | None = None
    zones: Mapping[str, str] = field(default_factory=dict)
    genome_build: str = "grch38"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def producer(self, reader: str) -> Producer:
        """Return the lineage of records made by a reader of this code version.

        Parameters
        ----------
        reader
            The reader's name, e.g. ``"fhir"``.

        Returns
        -------
        Producer
            Service ``ingest``, model ``<reader>-reader``, this code version.
        """
        return Producer(
            service="ingest",
            model_name=f"{reader}-reader",
            model_version=__version__,
            code_version=__version__,
        )

    def envelope(
        self,
        *,
        reader: str,
        topic: str,
        source_patient: str,
        observed_at: datetime,
        locator: str,
        identity: Iterable[str],
        payload: Payload,
    ) -> Envelope:
        """Build a record with a stable event id and full lineage.

        Parameters
        ----------
        reader
            The reader's name, e.g. ``"fhir"``.
        topic
            The topic.
        source_patient
            The patient's identifier in the source (pseudonymised here).
        observed_at
            Event time.
        locator
            Where in the file, for ``source``.
        identity
            Strings that identify the datum and its content; they make re-ingest a no-op.
        payload
            The body.

        Returns
        -------
        Envelope
            The validated record.
        """
        return Envelope(
            event_id=event_id_for("ingest", reader, source_patient, *identity),
            patient_id=self.pseudonym(source_patient),
            topic=topic,
            observed_at=observed_at,
            produced_at=self.now,
            source=f"{self.source}#{locator}"[:512],
            producer=self.producer(reader),
            payload=payload,
        )


@dataclass
class FileReport:
    """What ingesting one file did.

    Parameters
    ----------
    path
        The file, as named in records' ``source``.
    format
        Its format.
    accepted
        Records newly on the bus.
    already
        Records that were on the bus already.
    rejected
        Items refused and kept on the dead-letter topic.
    skipped
        Valid input that Clarity does not use.
    by_topic
        Records accepted or already present, by topic.
    messages
        The first 200 rejection messages.
    patients
        Pseudonyms of the patients whose records were written or refused.
    """

    path: str
    format: str
    accepted: int = 0
    already: int = 0
    rejected: int = 0
    skipped: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    patients: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected."""
        return self.rejected == 0


@dataclass
class IngestReport:
    """What an ingest run did, file by file.

    Parameters
    ----------
    files
        One report per file, in the order read.
    """

    files: list[FileReport] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Records newly on the bus."""
        return sum(f.accepted for f in self.files)

    @property
    def already(self) -> int:
        """Records that were on the bus already (re-ingest)."""
        return sum(f.already for f in self.files)

    @property
    def rejected(self) -> int:
        """Items refused and kept on the dead-letter topic."""
        return sum(f.rejected for f in self.files)

    @property
    def ok(self) -> bool:
        """True when nothing was rejected anywhere."""
        return all(f.ok for f in self.files)

    def by_topic(self) -> dict[str, int]:
        """Count the records accepted or already present, by topic.

        Returns
        -------
        dict
            Records by topic, over every file.
        """
        totals: dict[str, int] = {}
        for report in self.files:
            for topic, count in report.by_topic.items():
                totals[topic] = totals.get(topic, 0) + count
        return totals


class Sink:
    """Publish a reader's output: batches to the bus, rejections to dead letters.

    Parameters
    ----------
    bus
        The feature bus.
    report
        The file's report, updated as items arrive.
    now
        Ingestion time; records observed more than five minutes later are refused.
    batch_size
        Records per bus transaction.
    allowed
        Consent check ``(patient_id, topic) -> bool``; a record without consent
        is refused and its content is not kept anywhere.
    """

    def __init__(
        self,
        bus: Bus,
        report: FileReport,
        now: datetime,
        batch_size: int = 500,
        allowed: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.bus = bus
        self.report = report
        self.now = now
        self.batch_size = batch_size
        self.allowed = allowed
        self._batch: list[tuple[Envelope, str]] = []
        self._seen: dict[uuid.UUID, str] = {}

    def consume(self, items: Iterator[Item]) -> None:
        """Take every item of a reader, then flush."""
        for item in items:
            if isinstance(item, Accepted):
                self._accept(item)
            elif isinstance(item, Rejected):
                self.reject(item)
            else:
                self.report.skipped += 1
        self.flush()

    def _accept(self, item: Accepted) -> None:
        envelope = item.envelope
        locator = envelope.source.rsplit("#", 1)[-1]
        self.report.patients.add(envelope.patient_id)
        if self.allowed is not None and not self.allowed(envelope.patient_id, envelope.topic):
            self.reject(
                Rejected(
                    location=locator,
                    reason=f"the patient has not consented to processing of {envelope.topic} data; "
                    "the record was not kept",
                    original=b"(withheld: no consent)",
                    topic=envelope.topic,
                    errors=(FieldError("", "no consent", "no_consent"),),
                    patient_id=envelope.patient_id,
                )
            )
            return
        original = item.original or envelope.model_dump_json().encode()
        original_format = item.original_format if item.original else OriginalFormat.json
        if envelope.observed_at > self.now + _FUTURE_TOLERANCE:
            self.reject(
                Rejected(
                    location=locator,
                    reason=f"timestamp {envelope.observed_at.isoformat()} is in the future "
                    f"(ingested at {self.now.isoformat(timespec='seconds')})",
                    original=original,
                    original_format=original_format,
                    topic=envelope.topic,
                    errors=(FieldError("observed_at", "in the future", "future_timestamp"),),
                    patient_id=envelope.patient_id,
                )
            )
            return
        earlier = self._seen.get(envelope.event_id)
        if earlier is not None:
            self.reject(
                Rejected(
                    location=locator,
                    reason=f"duplicate of the record at {earlier} in the same file",
                    original=original,
                    original_format=original_format,
                    topic=envelope.topic,
                    errors=(FieldError("", "repeated record", "duplicate"),),
                    patient_id=envelope.patient_id,
                )
            )
            return
        self._seen[envelope.event_id] = locator
        self._batch.append((envelope, locator))
        if len(self._batch) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Publish the pending batch."""
        if not self._batch:
            return
        try:
            results = self.bus.publish_batch([e for e, _ in self._batch])
        except ContractViolation as error:  # pragma: no cover - readers validate first
            raise ClarityError(f"A reader produced an invalid record: {error}") from error
        for result in results:
            if result.duplicate:
                self.report.already += 1
            else:
                self.report.accepted += 1
            self.report.by_topic[result.topic] = self.report.by_topic.get(result.topic, 0) + 1
        self._batch.clear()

    def reject(self, item: Rejected) -> None:
        """Keep a rejected item on the dead-letter topic and note it in the report."""
        message = f"{self.report.path}: {item.location}: {item.reason}"
        self.bus.dead_letter(
            source_topic=item.topic or f"file.{self.report.format}",
            original=item.original,
            original_format=item.original_format,
            reason=message,
            rejected_by="ingest",
            errors=item.errors,
            patient_id=item.patient_id,
        )
        self.report.rejected += 1
        if len(self.report.messages) < 200:
            self.report.messages.append(message)


def rejection_from(error: Exception, location: str, original: bytes, **kwargs: Any) -> Rejected:
    """Build a rejection from a validation or parsing error.

    Parameters
    ----------
    error
        The error; a :class:`ContractViolation` contributes its field errors.
    location
        Where in the file.
    original
        The rejected input.
    **kwargs
        Other :class:`Rejected` fields.

    Returns
    -------
    Rejected
        The rejection.
    """
    errors: tuple[FieldError, ...] = ()
    if isinstance(error, ValidationError):
        errors = tuple(field_errors(error))
    elif isinstance(error, ContractViolation):
        errors = error.errors
    reason = "; ".join(str(e) for e in errors) or str(error)
    return Rejected(location=location, reason=reason, original=original, errors=errors, **kwargs)

"""The feature bus: validated publishing, consumer groups, replay and dead letters."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from pydantic import ValidationError

from clarity._utils import to_micros
from clarity.bus._consumer import Consumer, Delivery, Undecodable, _seek_position
from clarity.bus._patterns import check_pattern
from clarity.bus._transport import LogEntry, OutgoingRecord, Transport
from clarity.contracts import (
    CLARITY_NAMESPACE,
    DEAD_LETTER_TOPIC,
    TOPICS,
    AvroCodec,
    DeadLetter,
    Envelope,
    FieldErrorRecord,
    OriginalFormat,
    Record,
    field_errors,
    validate_dead_letter,
    validate_envelope,
)
from clarity.errors import BusClosedError, ContractViolation, FieldError

__all__ = ["BatchResult", "Bus", "Consumer", "Delivery", "PublishResult"]

R = TypeVar("R", Envelope, DeadLetter)

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _check_group(group: str) -> str:
    if not _GROUP.match(group):
        raise ValueError(
            "The 'group' parameter must be 1 to 128 characters from letters, digits and "
            f"'._:-', starting with a letter or digit. Got {group!r} instead."
        )
    return group


@dataclass(frozen=True, slots=True)
class PublishResult:
    """The outcome of publishing one record.

    Parameters
    ----------
    event_id
        The record's idempotency key.
    topic
        Its topic.
    offset
        Where it was written, or None when the event id was already in the log
        (the publish was a no-op).
    """

    event_id: uuid.UUID
    topic: str
    offset: int | None

    @property
    def duplicate(self) -> bool:
        """True when the event id was already in the log and nothing was written."""
        return self.offset is None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome of publishing a batch, one result per record in order.

    Parameters
    ----------
    results
        One :class:`PublishResult` per record.
    """

    results: tuple[PublishResult, ...]

    @property
    def accepted(self) -> int:
        """Number of records written."""
        return sum(1 for r in self.results if not r.duplicate)

    @property
    def duplicates(self) -> int:
        """Number of records whose event id was already in the log."""
        return sum(1 for r in self.results if r.duplicate)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[PublishResult]:
        return iter(self.results)


class Bus:
    """The feature bus: one contract, one ordered log, many consumers.

    Records are validated against the contract on publish (a batch with one bad
    record writes nothing), encoded as Avro, and appended through the injected
    transport. Publishing is idempotent on ``event_id``. Consumers in a group
    get every record at least once: what they have not committed, they get again.

    Parameters
    ----------
    transport
        Where the log lives: :class:`~clarity.bus.SqliteTransport` (embedded
        default), :class:`~clarity.bus.MemoryTransport` (tests), or a scale-out
        backend.

    Examples
    --------
    >>> from clarity.bus import Bus, MemoryTransport
    >>> from clarity.testing import example_records
    >>> bus = Bus(transport=MemoryTransport())
    >>> result = bus.publish_batch(example_records(n_patients=2, seed=0))
    >>> again = bus.publish_batch(example_records(n_patients=2, seed=0))
    >>> result.accepted == len(result), again.duplicates == len(result)
    (True, True)
    >>> with bus.subscribe("ingest.observation", group="twin") as consumer:
    ...     deliveries = consumer.poll()
    ...     consumer.commit()
    >>> sorted({d.record.payload.instrument.value for d in deliveries})
    ['gad7', 'phq9']
    """

    def __init__(self, *, transport: Transport) -> None:
        self.transport = transport
        self._codec = AvroCodec()
        self._registered: set[str] = set()
        self._writer_schemas: dict[str, str] = {}
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the bus and its transport; uncommitted consumer progress is not saved."""
        if not self._closed:
            self._closed = True
            self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("This Bus is closed.")

    # ------------------------------------------------------------------ publishing

    def publish(self, record: Envelope | Mapping[str, Any]) -> PublishResult:
        """Validate and append one record.

        Parameters
        ----------
        record
            An envelope, or its fields as a mapping.

        Returns
        -------
        PublishResult
            Its offset, or ``duplicate`` when the event id was already in the log.

        Raises
        ------
        ContractViolation
            If the record violates the contract; nothing is written.
        BackendError
            If the transport fails; nothing is written.
        """
        return self.publish_batch([record]).results[0]

    def publish_batch(self, records: Iterable[Envelope | Mapping[str, Any]]) -> BatchResult:
        """Validate and append records atomically: all are written, or none.

        Parameters
        ----------
        records
            Envelopes or mappings, any topics.

        Returns
        -------
        BatchResult
            One result per record, in order; repeated event ids (in the log or
            earlier in the batch) are reported as duplicates.

        Raises
        ------
        ContractViolation
            Naming the first invalid record, its topic and fields; nothing is written.
        BackendError
            If the transport fails; nothing is written.
        """
        self._check_open()
        items = list(records)
        validated: list[Envelope] = []
        for index, item in enumerate(items):
            try:
                validated.append(validate_envelope(item))
            except ContractViolation as error:
                topic = f"topic {error.topic!r}" if error.topic else "an unknown topic"
                event = f"event {error.record_id}" if error.record_id else "no event id"
                raise ContractViolation(
                    f"Record {index + 1} of {len(items)} ({event}, {topic}) violates the "
                    "contract; nothing was published",
                    topic=error.topic,
                    record_id=error.record_id,
                    errors=error.errors,
                ) from error
        offsets = self._append(validated)
        return BatchResult(
            tuple(
                PublishResult(event_id=r.event_id, topic=r.topic, offset=o)
                for r, o in zip(validated, offsets, strict=True)
            )
        )

    def _append(self, records: Sequence[Record]) -> list[int | None]:
        outgoing = []
        for index, record in enumerate(records):
            topic = DEAD_LETTER_TOPIC if isinstance(record, DeadLetter) else record.topic
            try:
                fingerprint, data = self._codec.encode(record)
            except (ValueError, TypeError, OverflowError) as error:
                raise ContractViolation(
                    f"Record {index + 1} of {len(records)} cannot be encoded as Avro, nothing "
                    f"was published",
                    topic=topic,
                    record_id=str(record.event_id),
                    errors=[FieldError("", f"{type(error).__name__}: {error}", "encoding")],
                ) from error
            if fingerprint not in self._registered:
                _, schema_json = self._codec.current_schema(topic)
                self.transport.register_schema(fingerprint, topic, schema_json)
                self._registered.add(fingerprint)
            if isinstance(record, DeadLetter):
                observed = to_micros(record.rejected_at)
            else:
                observed = to_micros(record.observed_at)
            outgoing.append(
                OutgoingRecord(
                    event_id=str(record.event_id),
                    topic=topic,
                    patient_id=record.patient_id,
                    observed_at_us=observed,
                    schema_fingerprint=fingerprint,
                    data=data,
                )
            )
        return self.transport.append(outgoing)

    # ------------------------------------------------------------------ dead letters

    def dead_letter(
        self,
        *,
        source_topic: str,
        original: bytes,
        original_format: OriginalFormat | str,
        reason: str,
        rejected_by: str,
        errors: Sequence[FieldError] = (),
        patient_id: str | None = None,
        rejected_event_id: uuid.UUID | None = None,
        original_schema_fingerprint: str | None = None,
    ) -> PublishResult:
        """Keep a rejected record on the dead-letter topic, with the reason.

        The dead letter's id is derived from who rejected what, so rejecting
        the same record twice (e.g. after a consumer restart) stores it once.

        Parameters
        ----------
        source_topic
            The topic or input stream the record came from.
        original
            The rejected bytes, unchanged.
        original_format
            ``"avro"``, ``"json"``, ``"text"`` or ``"binary"``.
        reason
            Why it was rejected.
        rejected_by
            The consumer group or service that rejected it.
        errors
            Field-level reasons.
        patient_id
            The patient, when known.
        rejected_event_id
            The rejected record's event id, when it had one.
        original_schema_fingerprint
            The writer schema of an Avro original.

        Returns
        -------
        PublishResult
            Where the dead letter was written (or ``duplicate``).
        """
        self._check_open()
        identity = str(rejected_event_id) if rejected_event_id else _digest(original)
        if patient_id is not None and not _PATIENT.match(patient_id):
            # The rejected record's own patient id may be what was wrong with it.
            reason, patient_id = f"{reason} (patient id {patient_id[:64]!r} is invalid)", None
        letter = validate_dead_letter(
            {
                "event_id": uuid.uuid5(
                    CLARITY_NAMESPACE,
                    f"deadletter\x1f{rejected_by}\x1f{source_topic}\x1f{identity}",
                ),
                "rejected_event_id": rejected_event_id,
                "source_topic": _clip(source_topic, 128),
                "patient_id": patient_id,
                "reason": _clip(reason, 4_000),
                "errors": [
                    FieldErrorRecord(
                        loc=_clip(e.loc, 512), msg=_clip(e.msg, 4_000), type=_clip(e.type, 128)
                    )
                    for e in errors
                ],
                "original": original,
                "original_format": original_format,
                "original_schema_fingerprint": original_schema_fingerprint,
                "rejected_by": rejected_by,
                "rejected_at": datetime.now(UTC),
            }
        )
        (offset,) = self._append([letter])
        return PublishResult(event_id=letter.event_id, topic=DEAD_LETTER_TOPIC, offset=offset)

    # ------------------------------------------------------------------ consuming

    def subscribe(
        self,
        pattern: str,
        *,
        group: str,
        start: Literal["earliest", "latest"] = "earliest",
    ) -> Consumer[Envelope]:
        """Consume envelopes on the topics matching a pattern, as a consumer group.

        Parameters
        ----------
        pattern
            NATS-style topic pattern: ``ingest.*``, ``ingest.>``, or ``>`` for all.
            It never matches the dead-letter topic (see :meth:`subscribe_dead_letters`).
        group
            The consumer group; its committed positions survive restarts.
        start
            Where a group with no committed position on a topic begins.

        Returns
        -------
        Consumer
            Call :meth:`Consumer.poll`, handle the records, then :meth:`Consumer.commit`.
        """
        self._check_open()
        return Consumer(
            self, pattern=check_pattern(pattern), group=_check_group(group), start=start
        )

    def subscribe_dead_letters(
        self, *, group: str, start: Literal["earliest", "latest"] = "earliest"
    ) -> Consumer[DeadLetter]:
        """Consume the dead-letter topic as a consumer group.

        Parameters
        ----------
        group
            The consumer group.
        start
            Where a new group begins.

        Returns
        -------
        Consumer
            A consumer of :class:`~clarity.contracts.DeadLetter` records.
        """
        self._check_open()
        return Consumer(self, pattern=DEAD_LETTER_TOPIC, group=_check_group(group), start=start)

    def replay(
        self,
        pattern: str = ">",
        *,
        from_offset: int | None = None,
        from_time: datetime | None = None,
        batch_size: int = 500,
    ) -> Iterator[Delivery[Envelope]]:
        """Read the log again from an offset or a log time, without a consumer group.

        Replaying from the start rebuilds every derived table; replaying from a
        time shows what was known from then on. A replay never writes to the
        log: a record it cannot decode is skipped with an
        :class:`~clarity.bus.UndecodableRecordWarning` (consumer groups move such
        records to the dead-letter topic).

        Parameters
        ----------
        pattern
            Topic pattern, as in :meth:`subscribe`.
        from_offset
            First offset to return (default: the start of the log).
        from_time
            Return records appended at or after this time (timezone-aware).
        batch_size
            Records fetched per round trip.

        Returns
        -------
        Iterator of Delivery
            Each record in offset order, up to the end of the log at the time
            each batch is read.
        """
        self._check_open()
        check_pattern(pattern)
        try:
            _seek_position(self.transport.offset_before, from_offset, from_time)
        except ValueError as error:
            message = (
                str(error).replace("'offset'", "'from_offset'").replace("'time'", "'from_time'")
            )
            raise ValueError(message) from None
        consumer = Consumer(self, pattern=pattern, group=None, start="earliest")
        consumer.seek(offset=from_offset, time=from_time)
        return consumer.drain(batch_size=batch_size)

    # ------------------------------------------------------------------ inspection

    def topics(self) -> dict[str, int]:
        """Return every topic in the log.

        Returns
        -------
        dict
            Number of records by topic, the dead-letter topic included.
        """
        self._check_open()
        return self.transport.topics()

    def end_offset(self) -> int:
        """Return the offset of the newest record.

        Returns
        -------
        int
            The offset, 0 when the log is empty.
        """
        self._check_open()
        return self.transport.end_offset()

    # ------------------------------------------------------------------ decoding

    def _writer_schema(self, fingerprint: str) -> str | None:
        found = self._writer_schemas.get(fingerprint)
        if found is None:
            found = self.transport.schema(fingerprint)
            if found is not None:
                self._writer_schemas[fingerprint] = found
        return found

    def _decode(self, entry: LogEntry) -> Record | Undecodable:
        if entry.topic != DEAD_LETTER_TOPIC and entry.topic not in TOPICS:
            return Undecodable(f"topic {entry.topic!r} is not in this version of the contract", ())
        writer = self._writer_schema(entry.schema_fingerprint)
        if writer is None:
            return Undecodable(f"writer schema {entry.schema_fingerprint} is not registered", ())
        try:
            plain = self._codec.decode_dict(
                entry.topic,
                entry.data,
                writer_fingerprint=entry.schema_fingerprint,
                writer_schema=writer,
            )
        except Exception as error:
            return Undecodable(f"cannot decode the Avro body: {type(error).__name__}: {error}", ())
        try:
            if entry.topic == DEAD_LETTER_TOPIC:
                return DeadLetter.model_validate(plain)
            return Envelope.model_validate(plain)
        except ValidationError as error:
            return Undecodable(
                "the record violates the current contract", tuple(field_errors(error))
            )


_PATIENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$")


def _clip(text: str, limit: int) -> str:
    """Shorten text to the contract's limit, marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

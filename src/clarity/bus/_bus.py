"""The feature bus: validated publishing, consumer groups, replay and dead letters."""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

from pydantic import ValidationError

from clarity._utils import from_micros, to_micros
from clarity.bus._patterns import check_pattern, topic_matches
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
from clarity.errors import BackendError, BusClosedError, ContractViolation, FieldError

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


@dataclass(frozen=True, slots=True)
class Delivery(Generic[R]):
    """A record handed to a consumer.

    Parameters
    ----------
    offset
        Its position in the log.
    topic
        Its topic.
    record
        The decoded, validated record.
    appended_at
        When the log stored it (log time, UTC).
    raw
        The stored bytes, kept so a rejection can dead-letter them unchanged.
    schema_fingerprint
        The schema the bytes were written with.
    """

    offset: int
    topic: str
    record: R
    appended_at: datetime
    raw: bytes
    schema_fingerprint: str


@dataclass(frozen=True, slots=True)
class _Undecodable:
    reason: str
    errors: tuple[FieldError, ...]


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
    >>> result.accepted == len(result), bus.publish_batch(example_records(2, seed=0)).duplicates
    (True, 30)
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
                raise ContractViolation(
                    f"Record {index + 1} of {len(items)} rejected, nothing was published. "
                    f"{error.args[0].split(':')[0]}",
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
        letter = validate_dead_letter(
            {
                "event_id": uuid.uuid5(
                    CLARITY_NAMESPACE,
                    f"deadletter\x1f{rejected_by}\x1f{source_topic}\x1f{identity}",
                ),
                "rejected_event_id": rejected_event_id,
                "source_topic": source_topic,
                "patient_id": patient_id,
                "reason": reason,
                "errors": [FieldErrorRecord(loc=e.loc, msg=e.msg, type=e.type) for e in errors],
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
        time shows what was known from then on.

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

        Yields
        ------
        Delivery
            Each record in offset order, up to the end of the log at the time
            each batch is read.
        """
        self._check_open()
        consumer = Consumer(self, pattern=check_pattern(pattern), group=None, start="earliest")
        consumer.seek(offset=from_offset, time=from_time)
        yield from consumer.drain(batch_size=batch_size)

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

    def _decode(self, entry: LogEntry) -> Record | _Undecodable:
        if entry.topic != DEAD_LETTER_TOPIC and entry.topic not in TOPICS:
            return _Undecodable(f"topic {entry.topic!r} is not in this version of the contract", ())
        writer = self._writer_schema(entry.schema_fingerprint)
        if writer is None:
            return _Undecodable(f"writer schema {entry.schema_fingerprint} is not registered", ())
        try:
            plain = self._codec.decode_dict(
                entry.topic,
                entry.data,
                writer_fingerprint=entry.schema_fingerprint,
                writer_schema=writer,
            )
        except Exception as error:
            return _Undecodable(f"cannot decode the Avro body: {type(error).__name__}: {error}", ())
        try:
            if entry.topic == DEAD_LETTER_TOPIC:
                return DeadLetter.model_validate(plain)
            return Envelope.model_validate(plain)
        except ValidationError as error:
            return _Undecodable(
                "the record violates the current contract", tuple(field_errors(error))
            )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Consumer(Generic[R]):
    """A member of a consumer group: poll, handle, commit.

    Created by :meth:`Bus.subscribe`. Positions advance in memory as records are
    polled and are stored only by :meth:`commit`, so a consumer that dies before
    committing leaves its records to be delivered again (at-least-once). A record
    that cannot be decoded under the current contract is moved to the dead-letter
    topic with the reason and skipped.

    In the embedded backend one member per group should run at a time; members
    of one group do not split topics between them.

    Parameters
    ----------
    bus
        The bus to read.
    pattern
        Topic pattern, or the dead-letter topic's name for a dead-letter consumer.
    group
        Consumer group; None for a replay, which cannot commit.
    start
        Where the group begins on a topic it has no committed position for.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        pattern: str,
        group: str | None,
        start: Literal["earliest", "latest"],
    ) -> None:
        if start not in ("earliest", "latest"):
            raise ValueError(
                "Invalid value for the 'start' parameter. Allowed values are 'earliest' and "
                f"'latest', but got {start!r} instead."
            )
        self.pattern = pattern
        self.group = group
        self._bus = bus
        self._transport = bus.transport
        self._dead_letters = pattern == DEAD_LETTER_TOPIC
        self._default = 0 if start == "earliest" else self._transport.end_offset()
        self._committed: dict[str, int] = self._transport.committed(group) if group else {}
        self._positions: dict[str, int] = {}
        self._pending: list[tuple[int, str]] = []
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Leave the group; progress that was not committed is not saved."""
        self._closed = True

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
            raise BusClosedError(f"This consumer of group {self.group!r} is closed.")
        self._bus._check_open()

    # ------------------------------------------------------------------ positions

    def _matches(self, topic: str) -> bool:
        if self._dead_letters:
            return topic == DEAD_LETTER_TOPIC
        return topic != DEAD_LETTER_TOPIC and topic_matches(self.pattern, topic)

    def _refresh_topics(self) -> None:
        new = [t for t in self._transport.topics() if t not in self._positions and self._matches(t)]
        if new and self.group:
            self._committed = self._transport.committed(self.group)
        for topic in new:
            self._positions[topic] = self._committed.get(topic, self._default)

    def positions(self) -> dict[str, int]:
        """Return the current position per topic, committed or not.

        Returns
        -------
        dict
            Offset of the last record polled, by topic (0: none yet).
        """
        self._check_open()
        self._refresh_topics()
        return dict(self._positions)

    def lag(self) -> int:
        """Count the records on the subscribed topics that this consumer has not polled.

        Returns
        -------
        int
            The number of records ahead of the consumer.
        """
        self._check_open()
        self._refresh_topics()
        return self._transport.count(self._positions)

    def seek(self, *, offset: int | None = None, time: datetime | None = None) -> None:
        """Move the consumer so the next poll starts at an offset or a log time.

        Call :meth:`commit` afterwards to store the new position for the group.

        Parameters
        ----------
        offset
            The first offset to deliver next (1 is the start of the log).
        time
            Deliver next the first record appended at or after this time.
            With neither, the consumer goes back to the start of the log.
        """
        self._check_open()
        if offset is not None and time is not None:
            raise ValueError("Pass either 'offset' or 'time' to seek, not both.")
        if time is not None:
            if time.tzinfo is None:
                raise ValueError(
                    f"The 'time' parameter must be timezone-aware. Got {time.isoformat()} instead."
                )
            position = self._transport.offset_before(to_micros(time))
        elif offset is not None:
            if offset < 1:
                raise ValueError(
                    f"The 'offset' parameter must be an int >= 1. Got {offset} instead."
                )
            position = offset - 1
        else:
            position = 0
        self._default = position
        self._refresh_topics()
        self._positions = dict.fromkeys(self._positions, position)
        self._pending.clear()

    # ------------------------------------------------------------------ reading

    def poll(self, max_records: int = 500, timeout: float = 0.0) -> list[Delivery[R]]:
        """Return the next records, waiting up to ``timeout`` seconds for some.

        Parameters
        ----------
        max_records
            The most records to read from the log in one call.
        timeout
            Seconds to wait when nothing is available; 0 returns at once.

        Returns
        -------
        list of Delivery
            Possibly empty; in offset order.
        """
        self._check_open()
        if max_records < 1:
            raise ValueError(f"The 'max_records' parameter must be >= 1. Got {max_records}.")
        deadline = time.monotonic() + timeout
        while True:
            self._refresh_topics()
            entries = self._transport.read(self._positions, max_records)
            deliveries = self._deliver(entries)
            if deliveries:
                return deliveries
            if entries:
                continue  # everything read was dead-lettered; read on
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(0.05, remaining))

    def drain(self, batch_size: int = 500) -> Iterator[Delivery[R]]:
        """Yield every available record until the consumer has caught up.

        Parameters
        ----------
        batch_size
            Records fetched per round trip.

        Yields
        ------
        Delivery
            Each record in offset order; commit as you go or at the end.
        """
        while batch := self.poll(max_records=batch_size):
            yield from batch

    def __iter__(self) -> Iterator[Delivery[R]]:
        return self.drain()

    def _deliver(self, entries: list[LogEntry]) -> list[Delivery[R]]:
        deliveries: list[Delivery[R]] = []
        for entry in entries:
            self._positions[entry.topic] = entry.offset
            self._pending.append((entry.offset, entry.topic))
            record = self._bus._decode(entry)
            if isinstance(record, _Undecodable):
                self._reject_entry(entry, record)
                continue
            deliveries.append(
                Delivery(
                    offset=entry.offset,
                    topic=entry.topic,
                    record=record,  # type: ignore[arg-type]  # R is fixed by the pattern
                    appended_at=from_micros(entry.appended_at_us),
                    raw=entry.data,
                    schema_fingerprint=entry.schema_fingerprint,
                )
            )
        return deliveries

    def _reject_entry(self, entry: LogEntry, failure: _Undecodable) -> None:
        if entry.topic == DEAD_LETTER_TOPIC:
            raise BackendError(
                f"Dead letter at offset {entry.offset} cannot be read ({failure.reason}); "
                "it cannot itself be dead-lettered."
            )
        self._bus.dead_letter(
            source_topic=entry.topic,
            original=entry.data,
            original_format=OriginalFormat.avro,
            reason=f"Undecodable record at offset {entry.offset}: {failure.reason}",
            rejected_by=self.group or "replay",
            errors=failure.errors,
            patient_id=entry.patient_id,
            rejected_event_id=uuid.UUID(entry.event_id),
            original_schema_fingerprint=entry.schema_fingerprint,
        )

    # ------------------------------------------------------------------ acknowledging

    def commit(self, through: Delivery[R] | None = None) -> None:
        """Store the group's positions, so these records are not delivered again.

        Parameters
        ----------
        through
            Commit only up to and including this delivery; by default, every
            record polled so far (and any :meth:`seek`).
        """
        self._check_open()
        if self.group is None:
            raise ValueError("A replay has no consumer group to commit for.")
        if through is None:
            positions = dict(self._positions)
            self._pending.clear()
        else:
            positions = {}
            for offset, topic in self._pending:
                if offset <= through.offset:
                    positions[topic] = max(offset, positions.get(topic, 0))
            self._pending = [p for p in self._pending if p[0] > through.offset]
        changed = {t: p for t, p in positions.items() if self._committed.get(t) != p}
        if changed:
            self._transport.commit(self.group, changed)
            self._committed.update(changed)

    def reject(
        self, delivery: Delivery[R], reason: str, errors: Sequence[FieldError] = ()
    ) -> PublishResult:
        """Move a record this consumer cannot handle to the dead-letter topic.

        The record is kept unchanged with the reason; commit as usual afterwards.

        Parameters
        ----------
        delivery
            The record to reject.
        reason
            Why, in words.
        errors
            Field-level reasons, if any.

        Returns
        -------
        PublishResult
            Where the dead letter was written.
        """
        self._check_open()
        record = delivery.record
        if isinstance(record, DeadLetter):
            raise ValueError("A dead letter cannot be rejected again.")
        return self._bus.dead_letter(
            source_topic=delivery.topic,
            original=delivery.raw,
            original_format=OriginalFormat.avro,
            reason=reason,
            rejected_by=self.group or "replay",
            errors=errors,
            patient_id=record.patient_id,
            rejected_event_id=record.event_id,
            original_schema_fingerprint=delivery.schema_fingerprint,
        )

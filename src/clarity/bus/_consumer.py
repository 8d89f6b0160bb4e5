"""Consumers: members of a consumer group (poll, handle, commit) and read-only replays."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Literal, Self, TypeVar

from clarity._utils import from_micros, to_micros
from clarity.bus._patterns import topic_matches
from clarity.bus._transport import LogEntry
from clarity.contracts import DEAD_LETTER_TOPIC, DeadLetter, Envelope, OriginalFormat
from clarity.errors import BackendError, BusClosedError, ClarityWarning, FieldError

if TYPE_CHECKING:
    from clarity.bus._bus import Bus, PublishResult

__all__ = ["Consumer", "Delivery", "UndecodableRecordWarning"]

R = TypeVar("R", Envelope, DeadLetter)


class UndecodableRecordWarning(ClarityWarning):
    """A replay met a record it cannot decode; consumer groups dead-letter such records."""


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
class Undecodable:
    """Why a stored record cannot be read under the current contract."""

    reason: str
    errors: tuple[FieldError, ...]


class Consumer(Generic[R]):
    """A member of a consumer group: poll, handle, commit.

    Created by :meth:`Bus.subscribe`. Positions advance in memory as records are
    polled and are stored only by :meth:`commit`, so a consumer that dies before
    committing leaves its records to be delivered again (at-least-once). A record
    that cannot be decoded under the current contract is moved to the dead-letter
    topic with the reason and skipped. A poll is all or nothing: if moving a
    record to the dead-letter topic fails, the positions stay where they were
    and the next poll reads the same records again.

    A consumer without a group is a replay: it cannot commit, never writes to
    the log, and warns (:class:`UndecodableRecordWarning`) about records it skips.

    In the embedded backend one member per group should run at a time; members
    of one group do not split topics between them.

    Parameters
    ----------
    bus
        The bus to read.
    pattern
        Topic pattern, or the dead-letter topic's name for a dead-letter consumer.
    group
        Consumer group; None for a replay.
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
        self.pattern: str = pattern
        self.group: str | None = group
        # Records this consumer moved to the dead-letter topic because it could not read them.
        self.dead_lettered: int = 0
        self._bus: Bus = bus
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
        self._default = _seek_position(self._transport.offset_before, offset, time)
        self._refresh_topics()
        self._positions = dict.fromkeys(self._positions, self._default)
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
        undecodable: list[tuple[LogEntry, Undecodable]] = []
        for entry in entries:
            record = self._bus._decode(entry)
            if isinstance(record, Undecodable):
                undecodable.append((entry, record))
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
        # Dead-letter first, move positions after: if a write fails, nothing is skipped.
        for entry, failure in undecodable:
            self._reject_entry(entry, failure)
        for entry in entries:
            self._positions[entry.topic] = entry.offset
            self._pending.append((entry.offset, entry.topic))
        self.dead_lettered += len(undecodable) if self.group else 0
        return deliveries

    def _reject_entry(self, entry: LogEntry, failure: Undecodable) -> None:
        reason = f"Undecodable record at offset {entry.offset}: {failure.reason}"
        if entry.topic == DEAD_LETTER_TOPIC:
            raise BackendError(
                f"Dead letter at offset {entry.offset} cannot be read ({failure.reason}); "
                "it cannot itself be dead-lettered."
            )
        if self.group is None:
            warnings.warn(f"Replay skipped it. {reason}", UndecodableRecordWarning, stacklevel=4)
            return
        try:
            rejected_id: uuid.UUID | None = uuid.UUID(entry.event_id)
        except ValueError:
            rejected_id = None
        self._bus.dead_letter(
            source_topic=entry.topic,
            original=entry.data,
            original_format=OriginalFormat.avro,
            reason=reason,
            rejected_by=self.group,
            errors=failure.errors,
            patient_id=entry.patient_id,
            rejected_event_id=rejected_id,
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


def _seek_position(
    offset_before: Callable[[int], int], offset: int | None, time: datetime | None
) -> int:
    """Validate seek arguments and return the position they mean."""
    if offset is not None and time is not None:
        raise ValueError("Pass either 'offset' or 'time' to seek, not both.")
    if time is not None:
        if time.tzinfo is None:
            raise ValueError(
                f"The 'time' parameter must be timezone-aware. Got {time.isoformat()} instead."
            )
        return offset_before(to_micros(time))
    if offset is not None:
        if offset < 1:
            raise ValueError(f"The 'offset' parameter must be an int >= 1. Got {offset} instead.")
        return offset - 1
    return 0

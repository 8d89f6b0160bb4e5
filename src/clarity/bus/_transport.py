"""The storage side of the bus, behind a small protocol (as httpx injects transports).

A transport stores opaque encoded records in one totally ordered log and keeps
consumer-group positions. It knows nothing of the contract: validation,
encoding and dead-lettering happen in :class:`clarity.bus.Bus`, so every backend
behaves the same and passes the same test suite.

Offsets start at 1 and only grow. A *position* is the offset of the last record
a group has consumed on a topic; 0 means nothing consumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["LogEntry", "OutgoingRecord", "Transport"]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """An encoded record on its way into the log.

    Parameters
    ----------
    event_id
        The idempotency key, as text.
    topic
        The topic.
    patient_id
        The patient, for indexing; None for dead letters without one.
    observed_at_us
        Event time in microseconds since the epoch, for indexing.
    schema_fingerprint
        Fingerprint of the writer schema, registered beforehand.
    data
        The encoded body.
    """

    event_id: str
    topic: str
    patient_id: str | None
    observed_at_us: int | None
    schema_fingerprint: str
    data: bytes


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A record as stored in the log.

    Parameters
    ----------
    offset
        Position in the log (from 1).
    event_id, topic, patient_id, observed_at_us, schema_fingerprint, data
        As in :class:`OutgoingRecord`.
    appended_at_us
        Log time in microseconds since the epoch; never decreases with offset.
    """

    offset: int
    event_id: str
    topic: str
    patient_id: str | None
    observed_at_us: int | None
    appended_at_us: int
    schema_fingerprint: str
    data: bytes


@runtime_checkable
class Transport(Protocol):
    """What a bus backend must provide."""

    def register_schema(self, fingerprint: str, topic: str, schema_json: str) -> None:
        """Store a writer schema under its fingerprint (idempotent)."""
        ...

    def schema(self, fingerprint: str) -> str | None:
        """Return a stored writer schema, or None when unknown."""
        ...

    def append(self, records: Sequence[OutgoingRecord]) -> list[int | None]:
        """Append records atomically: all are stored or none.

        Returns the offset of each record, or None where its event id was already
        in the log (including earlier in the same batch).
        """
        ...

    def read(self, positions: Mapping[str, int], limit: int) -> list[LogEntry]:
        """Return up to ``limit`` records past the position of their topic, in offset order."""
        ...

    def count(self, positions: Mapping[str, int]) -> int:
        """Count the records past the position of their topic."""
        ...

    def topics(self) -> dict[str, int]:
        """Return every topic in the log with its number of records."""
        ...

    def end_offset(self) -> int:
        """Return the highest offset in the log, 0 when empty."""
        ...

    def offset_before(self, appended_at_us: int) -> int:
        """Return the highest offset appended strictly before a time, 0 when none."""
        ...

    def committed(self, group: str) -> dict[str, int]:
        """Return a consumer group's committed position per topic."""
        ...

    def commit(self, group: str, positions: Mapping[str, int]) -> None:
        """Store a consumer group's positions atomically."""
        ...

    def close(self) -> None:
        """Release the backend's resources."""
        ...

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
    """What a bus backend must provide.

    Implementations store bytes and positions only; they must make
    :meth:`append` and :meth:`commit` atomic, keep offsets increasing without
    gaps, and keep ``appended_at_us`` non-decreasing with the offset.
    """

    def register_schema(self, fingerprint: str, topic: str, schema_json: str) -> None:
        """Store a writer schema under its fingerprint; storing it again is a no-op.

        Parameters
        ----------
        fingerprint
            The schema's fingerprint.
        topic
            The topic it was first registered for.
        schema_json
            The schema as JSON text.
        """
        ...

    def schema(self, fingerprint: str) -> str | None:
        """Return a stored writer schema.

        Parameters
        ----------
        fingerprint
            The schema's fingerprint.

        Returns
        -------
        str or None
            The schema JSON, or None when no schema has this fingerprint.
        """
        ...

    def append(self, records: Sequence[OutgoingRecord]) -> list[int | None]:
        """Append records atomically: all are stored, or none.

        Parameters
        ----------
        records
            Encoded records in order.

        Returns
        -------
        list of int or None
            The offset of each record, or None where its event id was already
            in the log (including earlier in the same batch).
        """
        ...

    def read(self, positions: Mapping[str, int], limit: int) -> list[LogEntry]:
        """Return records past the position of their topic, in offset order.

        Parameters
        ----------
        positions
            Position per topic; topics not named are not read.
        limit
            The most records to return.

        Returns
        -------
        list of LogEntry
            Up to ``limit`` records.
        """
        ...

    def count(self, positions: Mapping[str, int]) -> int:
        """Count the records past the position of their topic.

        Parameters
        ----------
        positions
            Position per topic; topics not named are not counted.

        Returns
        -------
        int
            The number of records.
        """
        ...

    def topics(self) -> dict[str, int]:
        """Return every topic in the log.

        Returns
        -------
        dict
            Number of records by topic.
        """
        ...

    def end_offset(self) -> int:
        """Return the highest offset in the log.

        Returns
        -------
        int
            The offset, 0 when the log is empty.
        """
        ...

    def offset_before(self, appended_at_us: int) -> int:
        """Return the highest offset appended strictly before a time.

        Parameters
        ----------
        appended_at_us
            Log time in microseconds since the epoch.

        Returns
        -------
        int
            The offset, 0 when none is older.
        """
        ...

    def committed(self, group: str) -> dict[str, int]:
        """Return a consumer group's committed positions.

        Parameters
        ----------
        group
            The consumer group.

        Returns
        -------
        dict
            Position by topic; empty for a new group.
        """
        ...

    def commit(self, group: str, positions: Mapping[str, int]) -> None:
        """Store a consumer group's positions atomically.

        Parameters
        ----------
        group
            The consumer group.
        positions
            Position by topic; topics not named keep theirs.
        """
        ...

    def close(self) -> None:
        """Release the backend's resources; later calls raise ``BusClosedError``."""
        ...

"""In-process transport: the log in a list, for tests and throw-away runs."""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Mapping, Sequence

from clarity.bus._transport import LogEntry, OutgoingRecord
from clarity.errors import BusClosedError

__all__ = ["MemoryTransport"]


class MemoryTransport:
    """Keep the log in memory; thread-safe, gone when the process ends.

    Examples
    --------
    >>> from clarity.bus import Bus
    >>> bus = Bus(transport=MemoryTransport())
    >>> bus.topics()
    {}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log: list[LogEntry] = []
        self._times: list[int] = []
        self._ids: set[str] = set()
        self._schemas: dict[str, str] = {}
        self._offsets: dict[str, dict[str, int]] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise BusClosedError("This MemoryTransport is closed.")

    def register_schema(self, fingerprint: str, topic: str, schema_json: str) -> None:
        """Store a writer schema under its fingerprint."""
        with self._lock:
            self._check_open()
            self._schemas.setdefault(fingerprint, schema_json)

    def schema(self, fingerprint: str) -> str | None:
        """Return a stored writer schema, or None."""
        with self._lock:
            self._check_open()
            return self._schemas.get(fingerprint)

    def append(self, records: Sequence[OutgoingRecord]) -> list[int | None]:
        """Append records atomically; None marks a duplicate event id."""
        with self._lock:
            self._check_open()
            now = time.time_ns() // 1_000
            appended_at = max(now, self._times[-1]) if self._times else now
            seen: set[str] = set()
            result: list[int | None] = []
            for record in records:
                if record.event_id in self._ids or record.event_id in seen:
                    result.append(None)
                    continue
                seen.add(record.event_id)
                offset = len(self._log) + 1
                self._log.append(
                    LogEntry(
                        offset=offset,
                        event_id=record.event_id,
                        topic=record.topic,
                        patient_id=record.patient_id,
                        observed_at_us=record.observed_at_us,
                        appended_at_us=appended_at,
                        schema_fingerprint=record.schema_fingerprint,
                        data=record.data,
                    )
                )
                self._times.append(appended_at)
                result.append(offset)
            self._ids |= seen
            return result

    def _after(self, positions: Mapping[str, int]) -> list[LogEntry]:
        if not positions:
            return []
        start = min(positions.values())
        return [e for e in self._log[start:] if e.offset > positions.get(e.topic, e.offset)]

    def read(self, positions: Mapping[str, int], limit: int) -> list[LogEntry]:
        """Return up to ``limit`` records past their topic's position."""
        with self._lock:
            self._check_open()
            return self._after(positions)[:limit]

    def count(self, positions: Mapping[str, int]) -> int:
        """Count the records past their topic's position."""
        with self._lock:
            self._check_open()
            return len(self._after(positions))

    def topics(self) -> dict[str, int]:
        """Return every topic with its number of records."""
        with self._lock:
            self._check_open()
            counts: dict[str, int] = {}
            for entry in self._log:
                counts[entry.topic] = counts.get(entry.topic, 0) + 1
            return counts

    def end_offset(self) -> int:
        """Return the highest offset, 0 when empty."""
        with self._lock:
            self._check_open()
            return len(self._log)

    def offset_before(self, appended_at_us: int) -> int:
        """Return the highest offset appended strictly before a time."""
        with self._lock:
            self._check_open()
            return bisect_left(self._times, appended_at_us)

    def committed(self, group: str) -> dict[str, int]:
        """Return a group's committed positions."""
        with self._lock:
            self._check_open()
            return dict(self._offsets.get(group, {}))

    def commit(self, group: str, positions: Mapping[str, int]) -> None:
        """Store a group's positions."""
        with self._lock:
            self._check_open()
            self._offsets.setdefault(group, {}).update(positions)

    def close(self) -> None:
        """Mark the transport closed; its data is dropped."""
        with self._lock:
            self._closed = True
            self._log.clear()

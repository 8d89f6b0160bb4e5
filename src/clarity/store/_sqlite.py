"""Embedded feature store on SQLite."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from clarity._utils import enable_wal, from_micros, to_micros
from clarity.contracts import Envelope, ensure_utc
from clarity.errors import BackendError
from clarity.store._base import FeatureValue, TimelineRecord

__all__ = ["SqliteFeatureStore"]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_values (
    id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    feature TEXT NOT NULL,
    observed_at_us INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    value_json TEXT NOT NULL,
    producer_json TEXT NOT NULL,
    written_at_us INTEGER NOT NULL,
    UNIQUE (patient_id, feature, observed_at_us, event_id)
);
CREATE INDEX IF NOT EXISTS feature_values_by_time
    ON feature_values(patient_id, feature, observed_at_us);
CREATE TABLE IF NOT EXISTS timeline (
    bus_offset INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    patient_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    observed_at_us INTEGER NOT NULL,
    record_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS timeline_by_patient ON timeline(patient_id, observed_at_us, bus_offset);
CREATE INDEX IF NOT EXISTS timeline_by_topic
    ON timeline(patient_id, topic, observed_at_us, bus_offset);
"""

_COLUMNS = "patient_id, feature, value_json, observed_at_us, event_id, producer_json, written_at_us"


def _micros(value: datetime) -> int:
    return to_micros(ensure_utc(value))


def _row_to_value(row: Sequence[Any]) -> FeatureValue:
    patient_id, feature, value_json, observed_us, event_id, producer_json, written_us = row
    return FeatureValue(
        patient_id=patient_id,
        feature=feature,
        value=json.loads(value_json),
        observed_at=from_micros(observed_us),
        event_id=uuid.UUID(event_id),
        producer=json.loads(producer_json),
        written_at=from_micros(written_us),
    )


class SqliteFeatureStore:
    """Keep feature values in a SQLite file (WAL mode).

    Parameters
    ----------
    path
        The database file; created with its parent directory when missing.

    Examples
    --------
    >>> import tempfile, pathlib, uuid
    >>> from datetime import datetime, UTC
    >>> store = SqliteFeatureStore(pathlib.Path(tempfile.mkdtemp()) / "store.sqlite3")
    >>> when = datetime(2024, 1, 1, tzinfo=UTC)
    >>> store.put([FeatureValue("P001", "phq9.total", 14, when, uuid.uuid4())])
    1
    >>> store.latest("P001")["phq9.total"].value
    14
    >>> store.close()
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=30000")
            enable_wal(self._conn)
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise BackendError(f"Cannot open the feature store {self.path}: {error}") from error

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise BackendError(f"Feature-store query failed on {self.path}: {error}") from error

    def put(self, values: Iterable[FeatureValue]) -> int:
        """Store values in one transaction; return how many were new."""
        now = time.time_ns() // 1_000
        rows = [
            (
                v.patient_id,
                v.feature,
                _micros(v.observed_at),
                str(v.event_id),
                json.dumps(v.value, allow_nan=False),
                json.dumps(dict(v.producer), sort_keys=True, default=str),
                now,
            )
            for v in values
        ]
        return self._insert(
            "INSERT INTO feature_values(patient_id, feature, observed_at_us, event_id, "
            "value_json, producer_json, written_at_us) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            rows,
            "the feature values",
        )

    def _insert(self, sql: str, rows: Sequence[Sequence[Any]], what: str) -> int:
        """Insert rows in one transaction, skipping those already stored; count the new ones."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    before = self._conn.total_changes
                    self._conn.executemany(sql, rows)
                    added = self._conn.total_changes - before
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise BackendError(f"Cannot write {what} to {self.path}: {error}") from error
        return added

    def latest(
        self,
        patient_id: str,
        features: Iterable[str] | None = None,
        *,
        as_of: datetime | None = None,
    ) -> dict[str, FeatureValue]:
        """Return the newest value of each feature (observed at or before ``as_of``)."""
        conditions = ["patient_id = ?"]
        params: list[Any] = [patient_id]
        if features is not None:
            wanted = list(features)
            if not wanted:
                return {}
            conditions.append(f"feature IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        if as_of is not None:
            conditions.append("observed_at_us <= ?")
            params.append(_micros(as_of))
        rows = self._query(
            f"SELECT {_COLUMNS} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY feature "
            f"ORDER BY observed_at_us DESC, id DESC) AS newest FROM feature_values "
            f"WHERE {' AND '.join(conditions)}) WHERE newest = 1 ORDER BY feature",
            params,
        )
        return {row[1]: _row_to_value(row) for row in rows}

    def history(
        self,
        patient_id: str,
        feature: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[FeatureValue]:
        """Return a feature's values observed in ``[start, end)``, oldest first."""
        conditions = ["patient_id = ?", "feature = ?"]
        params: list[Any] = [patient_id, feature]
        if start is not None:
            conditions.append("observed_at_us >= ?")
            params.append(_micros(start))
        if end is not None:
            conditions.append("observed_at_us < ?")
            params.append(_micros(end))
        rows = self._query(
            f"SELECT {_COLUMNS} FROM feature_values WHERE {' AND '.join(conditions)} "
            "ORDER BY observed_at_us, id",
            params,
        )
        return [_row_to_value(row) for row in rows]

    def put_records(self, records: Iterable[tuple[int, Envelope]]) -> int:
        """Keep bus records for timeline reads; a record already kept is a no-op."""
        rows = [
            (
                offset,
                str(e.event_id),
                e.patient_id,
                e.topic,
                _micros(e.observed_at),
                e.model_dump_json(warnings=False),
            )
            for offset, e in records
        ]
        return self._insert(
            "INSERT INTO timeline VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            rows,
            "the timeline",
        )

    def timeline(
        self,
        patient_id: str,
        *,
        topics: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[datetime, int] | None = None,
        limit: int = 100,
    ) -> list[TimelineRecord]:
        """Return a patient's records in ``[start, end)``, in time order."""
        conditions = ["patient_id = ?"]
        params: list[Any] = [patient_id]
        if topics is not None:
            wanted = list(topics)
            if not wanted:
                return []
            conditions.append(f"topic IN ({', '.join('?' for _ in wanted)})")
            params.extend(wanted)
        if start is not None:
            conditions.append("observed_at_us >= ?")
            params.append(_micros(start))
        if end is not None:
            conditions.append("observed_at_us < ?")
            params.append(_micros(end))
        if after is not None:
            conditions.append("(observed_at_us, bus_offset) > (?, ?)")
            params.extend((_micros(after[0]), after[1]))
        rows = self._query(
            "SELECT bus_offset, topic, observed_at_us, record_json FROM timeline WHERE "
            f"{' AND '.join(conditions)} ORDER BY observed_at_us, bus_offset LIMIT ?",
            [*params, limit],
        )
        return [
            TimelineRecord(offset=o, topic=t, observed_at=from_micros(at), record=json.loads(r))
            for o, t, at, r in rows
        ]

    def patients(self) -> list[str]:
        """Return every patient with at least one value, sorted."""
        return [
            r[0]
            for r in self._query("SELECT DISTINCT patient_id FROM feature_values ORDER BY 1", ())
        ]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

"""Embedded transport: an append-only log in one SQLite file (WAL mode).

One batch is one ``BEGIN IMMEDIATE`` transaction, so a process killed in the
middle of a batch leaves either the whole batch or none of it. SQLite lets one
writer in at a time, so offsets become visible in order and a consumer never
skips a record that commits late. Triggers refuse any UPDATE or DELETE of the
log.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from clarity._utils import enable_wal
from clarity.bus._transport import LogEntry, OutgoingRecord
from clarity.errors import BackendError, BusClosedError

__all__ = ["SqliteTransport"]

_FORMAT_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schemas (
    fingerprint TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    registered_at_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    log_offset INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    patient_id TEXT,
    observed_at_us INTEGER,
    appended_at_us INTEGER NOT NULL,
    schema_fingerprint TEXT NOT NULL REFERENCES schemas(fingerprint),
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS log_by_topic ON log(topic, log_offset);
CREATE INDEX IF NOT EXISTS log_by_time ON log(appended_at_us);
CREATE INDEX IF NOT EXISTS log_by_patient ON log(patient_id, topic, observed_at_us);
CREATE TABLE IF NOT EXISTS topics (topic TEXT PRIMARY KEY, records INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS consumer_positions (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    position INTEGER NOT NULL,
    committed_at_us INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
CREATE TRIGGER IF NOT EXISTS log_is_append_only_update BEFORE UPDATE ON log
BEGIN SELECT RAISE(ABORT, 'the bus log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS log_is_append_only_delete BEFORE DELETE ON log
BEGIN SELECT RAISE(ABORT, 'the bus log is append-only'); END;
"""

_COLUMNS = (
    "log_offset, event_id, topic, patient_id, observed_at_us, appended_at_us, "
    "schema_fingerprint, data"
)


def _now_us() -> int:
    return time.time_ns() // 1_000


def _topic_filter(positions: Mapping[str, int]) -> tuple[str, list[Any]]:
    clauses = " OR ".join("(topic = ? AND log_offset > ?)" for _ in positions)
    params: list[Any] = [min(positions.values())]
    for topic, position in positions.items():
        params.extend((topic, position))
    return f"log_offset > ? AND ({clauses})", params


class SqliteTransport:
    """Keep the bus log in a SQLite database file.

    Parameters
    ----------
    path
        The database file; created with its parent directory when missing.
    synchronous
        SQLite's ``synchronous`` setting. ``"FULL"`` (the default) makes each
        committed batch survive a power cut; ``"NORMAL"`` survives a crash of
        the process but may lose the last batches on power loss, and is faster.
    busy_timeout_s
        How long to wait for another process's write lock before failing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from clarity.bus import Bus
    >>> folder = tempfile.mkdtemp()
    >>> bus = Bus(transport=SqliteTransport(pathlib.Path(folder) / "bus.sqlite3"))
    >>> bus.topics()
    {}
    >>> bus.close()
    """

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout_s: float = 30.0,
    ) -> None:
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(
                "Invalid value for the 'synchronous' parameter. Allowed values are "
                f"'FULL' and 'NORMAL', but got {synchronous!r} instead."
            )
        self.path = Path(path)
        self.synchronous = synchronous
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_s
            )
            # Refuse a foreign file before changing anything in it.
            self._refuse_foreign(self._conn)
            enable_wal(self._conn, timeout_s=busy_timeout_s)
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            # One transaction creates the tables and records the version, so a
            # process opening the file at the same moment never sees half of it.
            self._conn.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta(key, value) "
                f"VALUES ('format_version', '{_FORMAT_VERSION}'); COMMIT;"
            )
            self._check_version(self._conn)
        except (sqlite3.Error, OSError, BackendError) as error:
            self.close()
            if isinstance(error, BackendError):
                raise
            raise BackendError(f"Cannot open the bus database {self.path}: {error}") from error

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if tables and "meta" not in tables:
            raise BackendError(
                f"{self.path} is a SQLite database but not a Clarity bus (tables: "
                f"{', '.join(sorted(tables))}); refusing to change it."
            )

    def _check_version(self, conn: sqlite3.Connection) -> None:
        found = conn.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        if found is None or found[0] != _FORMAT_VERSION:
            raise BackendError(
                f"The bus database {self.path} has format version "
                f"{found[0] if found else 'unknown'}; this Clarity reads version {_FORMAT_VERSION}."
            )

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise BusClosedError(f"This SqliteTransport ({self.path}) is closed.")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        # IMMEDIATE takes the write lock up front: two writers never both read
        # MAX(appended_at_us) and then race.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT may leave the transaction open; never leave it so.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._connection().execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise BackendError(f"Bus query failed on {self.path}: {error}") from error

    def register_schema(self, fingerprint: str, topic: str, schema_json: str) -> None:
        """Store a writer schema under its fingerprint."""
        with self._lock:
            try:
                with self._write() as conn:
                    conn.execute(
                        "INSERT OR IGNORE INTO schemas VALUES (?, ?, ?, ?)",
                        (fingerprint, topic, schema_json, _now_us()),
                    )
            except sqlite3.Error as error:
                raise BackendError(f"Cannot register a schema in {self.path}: {error}") from error

    def schema(self, fingerprint: str) -> str | None:
        """Return a stored writer schema, or None."""
        rows = self._query("SELECT schema_json FROM schemas WHERE fingerprint = ?", (fingerprint,))
        return str(rows[0][0]) if rows else None

    def append(self, records: Sequence[OutgoingRecord]) -> list[int | None]:
        """Append records in one transaction; None marks a duplicate event id."""
        self._connection()  # a closed transport refuses even an empty batch
        if not records:
            return []
        with self._lock:
            try:
                with self._write() as conn:
                    last_offset, last_time = conn.execute(
                        "SELECT log_offset, appended_at_us FROM log "
                        "ORDER BY log_offset DESC LIMIT 1"
                    ).fetchone() or (0, 0)
                    appended_at = max(_now_us(), last_time)
                    offsets: list[int | None] = []
                    added: dict[str, int] = {}
                    for record in records:
                        # Offsets are assigned here, not by SQLite, so that a skipped
                        # duplicate leaves no gap in the log.
                        cursor = conn.execute(
                            "INSERT INTO log VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT(event_id) DO NOTHING",
                            (
                                last_offset + 1,
                                record.event_id,
                                record.topic,
                                record.patient_id,
                                record.observed_at_us,
                                appended_at,
                                record.schema_fingerprint,
                                record.data,
                            ),
                        )
                        if cursor.rowcount == 1:
                            last_offset += 1
                            offsets.append(last_offset)
                            added[record.topic] = added.get(record.topic, 0) + 1
                        else:
                            offsets.append(None)
                    conn.executemany(
                        "INSERT INTO topics(topic, records) VALUES (?, ?) ON CONFLICT(topic) "
                        "DO UPDATE SET records = records + excluded.records",
                        list(added.items()),
                    )
            except sqlite3.Error as error:
                raise BackendError(f"Cannot append to the bus log {self.path}: {error}") from error
            return offsets

    def read(self, positions: Mapping[str, int], limit: int) -> list[LogEntry]:
        """Return up to ``limit`` records past their topic's position."""
        if not positions:
            return []
        where, params = _topic_filter(positions)
        rows = self._query(
            f"SELECT {_COLUMNS} FROM log WHERE {where} ORDER BY log_offset LIMIT ?",
            [*params, limit],
        )
        return [LogEntry(*row) for row in rows]

    def count(self, positions: Mapping[str, int]) -> int:
        """Count the records past their topic's position."""
        if not positions:
            return 0
        where, params = _topic_filter(positions)
        return int(self._query(f"SELECT COUNT(*) FROM log WHERE {where}", params)[0][0])

    def topics(self) -> dict[str, int]:
        """Return every topic with its number of records."""
        return {topic: count for topic, count in self._query("SELECT * FROM topics ORDER BY 1")}

    def end_offset(self) -> int:
        """Return the highest offset, 0 when empty."""
        return int(self._query("SELECT COALESCE(MAX(log_offset), 0) FROM log")[0][0])

    def offset_before(self, appended_at_us: int) -> int:
        """Return the highest offset appended strictly before a time."""
        rows = self._query(
            "SELECT log_offset FROM log WHERE appended_at_us < ? "
            "ORDER BY appended_at_us DESC, log_offset DESC LIMIT 1",
            (appended_at_us,),
        )
        return int(rows[0][0]) if rows else 0

    def committed(self, group: str) -> dict[str, int]:
        """Return a group's committed positions."""
        rows = self._query("SELECT topic, position FROM consumer_positions WHERE grp = ?", (group,))
        return {topic: position for topic, position in rows}

    def commit(self, group: str, positions: Mapping[str, int]) -> None:
        """Store a group's positions in one transaction."""
        now = _now_us()
        with self._lock:
            try:
                with self._write() as conn:
                    conn.executemany(
                        "INSERT INTO consumer_positions VALUES (?, ?, ?, ?) "
                        "ON CONFLICT(grp, topic) DO UPDATE SET position = excluded.position, "
                        "committed_at_us = excluded.committed_at_us",
                        [(group, topic, position, now) for topic, position in positions.items()],
                    )
            except sqlite3.Error as error:
                raise BackendError(f"Cannot commit positions in {self.path}: {error}") from error

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

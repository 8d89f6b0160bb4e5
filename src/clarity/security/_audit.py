"""An append-only, hash-chained audit log of every access to patient data.

Each entry's hash covers its content and the previous entry's hash, and the
newest sequence number and hash are also written to a head file beside the
database. :meth:`AuditLog.verify` recomputes the chain: an edited entry breaks
its hash, a deleted or reordered entry breaks the sequence or the chain, and
entries removed from the end no longer match the head.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clarity._utils import enable_wal, from_micros, to_micros
from clarity.errors import BackendError

__all__ = ["AuditEntry", "AuditLog"]

_GENESIS = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    patient_id TEXT,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    request_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


@dataclass(frozen=True)
class AuditEntry:
    """One access to patient data.

    Parameters
    ----------
    actor
        Who: the authenticated user.
    role
        Their role at the time.
    patient_id
        Whose data (pseudonym), or None for cohort-wide actions.
    action
        ``read``, ``write``, ``consent`` or ``denied``.
    resource
        What: the endpoint and query, or the file.
    request_id
        The request it belongs to.
    outcome
        The HTTP status or result.
    at
        When.
    seq
        Position in the log (set by the log).
    """

    actor: str
    role: str
    patient_id: str | None
    action: str
    resource: str
    request_id: str
    outcome: str
    at: datetime | None = None
    seq: int | None = None


def _digest(prev: str, seq: int, at_us: int, entry: AuditEntry) -> str:
    body = json.dumps(
        [
            seq,
            at_us,
            entry.actor,
            entry.role,
            entry.patient_id,
            entry.action,
            entry.resource,
            entry.request_id,
            entry.outcome,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{prev}{body}".encode()).hexdigest()


class AuditLog:
    """The audit log in a SQLite file, with its head in ``<file>.head``.

    Parameters
    ----------
    path
        The database file; created when missing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = AuditLog(pathlib.Path(tempfile.mkdtemp()) / "audit.sqlite3")
    >>> entry = AuditEntry("ruth", "clinician", "p-1", "read", "GET /patients/p-1", "r1", "200")
    >>> _ = log.append(entry)
    >>> log.verify()
    []
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.head = self.path.with_name(self.path.name + ".head")
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=30000")
            enable_wal(self._conn)
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise BackendError(f"Cannot open the audit log {self.path}: {error}") from error

    def append(self, entry: AuditEntry) -> AuditEntry:
        """Add an entry at the end of the chain.

        Parameters
        ----------
        entry
            What happened (``seq`` and ``at`` are set here).

        Returns
        -------
        AuditEntry
            The entry as stored.
        """
        return self.append_many([entry])[0]

    def append_many(self, entries: list[AuditEntry]) -> list[AuditEntry]:
        """Add entries at the end of the chain in one transaction.

        Parameters
        ----------
        entries
            What happened, in order.

        Returns
        -------
        list of AuditEntry
            The entries as stored.
        """
        if not entries:
            return []
        at = datetime.now(UTC)
        stored = []
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    row = self._conn.execute(
                        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
                    ).fetchone()
                    seq, prev = (row[0], row[1]) if row else (0, _GENESIS)
                    for entry in entries:
                        seq += 1
                        moment = entry.at or at
                        digest = _digest(prev, seq, to_micros(moment), entry)
                        self._conn.execute(
                            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                seq,
                                to_micros(moment),
                                entry.actor,
                                entry.role,
                                entry.patient_id,
                                entry.action,
                                entry.resource,
                                entry.request_id,
                                entry.outcome,
                                prev,
                                digest,
                            ),
                        )
                        stored.append(AuditEntry(**{**entry.__dict__, "at": moment, "seq": seq}))
                        prev = digest
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise BackendError(
                    f"Cannot append to the audit log {self.path}: {error}"
                ) from error
            self._write_head(seq, prev)
        return stored

    def _write_head(self, seq: int, digest: str) -> None:
        temporary = self.head.with_suffix(f".{uuid.uuid4().hex}.tmp")
        temporary.write_text(f"{seq} {digest}\n", encoding="ascii")
        os.replace(temporary, self.head)

    def entries(self, *, patient_id: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Return the newest entries.

        Parameters
        ----------
        patient_id
            Only this patient's entries.
        limit
            The most entries.

        Returns
        -------
        list of AuditEntry
            Newest first.
        """
        sql = (
            "SELECT seq, at_us, actor, role, patient_id, action, resource, request_id, outcome "
            "FROM audit"
        )
        params: tuple[object, ...] = ()
        if patient_id is not None:
            sql += " WHERE patient_id = ?"
            params = (patient_id,)
        with self._lock:
            rows = self._conn.execute(
                f"{sql} ORDER BY seq DESC LIMIT ?", (*params, limit)
            ).fetchall()
        return [
            AuditEntry(
                actor=r[2],
                role=r[3],
                patient_id=r[4],
                action=r[5],
                resource=r[6],
                request_id=r[7],
                outcome=r[8],
                at=from_micros(r[1]),
                seq=r[0],
            )
            for r in rows
        ]

    def verify(self) -> list[str]:
        """Recompute the chain and compare it with the head.

        Returns
        -------
        list of str
            One line per problem found; empty when the log is intact.
        """
        problems = []
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, at_us, actor, role, patient_id, action, resource, request_id, "
                "outcome, prev_hash, hash FROM audit ORDER BY rowid"
            ).fetchall()
        prev, expected_seq = _GENESIS, 1
        for row in rows:
            seq, at_us = row[0], row[1]
            entry = AuditEntry(
                actor=row[2],
                role=row[3],
                patient_id=row[4],
                action=row[5],
                resource=row[6],
                request_id=row[7],
                outcome=row[8],
            )
            if seq != expected_seq:
                problems.append(f"entry {expected_seq}: missing or out of order (found {seq})")
            if row[9] != prev:
                problems.append(f"entry {seq}: does not follow the previous entry's hash")
            if _digest(row[9], seq, at_us, entry) != row[10]:
                problems.append(f"entry {seq}: its content was changed after it was written")
            prev, expected_seq = row[10], seq + 1
        if self.head.exists():
            head_seq, head_hash = self.head.read_text(encoding="ascii").split()
            last_seq = rows[-1][0] if rows else 0
            if int(head_seq) != last_seq or (rows and head_hash != rows[-1][10]):
                problems.append(
                    f"the log ends at entry {last_seq} but its head records entry {head_seq}: "
                    "entries were removed from the end or the head was replaced"
                )
        elif rows:
            problems.append("the head file is missing")
        return problems

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._conn.close()

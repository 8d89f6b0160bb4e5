"""The scale-out note index: chunks and vectors in PostgreSQL, searched exactly in numpy.

pgvector is not packaged for the PostgreSQL this runs on, and a patient has at
most thousands of chunks, which an exact search covers in milliseconds with no
approximation to tune. Same ranking, same answers as
:class:`~clarity.notes._index.SqliteNoteIndex` on the same notes.
"""

from __future__ import annotations

import re
import threading
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from clarity.errors import BackendError
from clarity.notes._draft import Passage
from clarity.notes._extractive import SourceNote
from clarity.notes._index import _check_embedder, _digest, _embed
from clarity.notes._retrieval import (
    Chunk,
    Embedder,
    _check_int,
    _check_note,
    _check_since,
    _check_text,
    chunk_note,
    hybrid_rank,
    load_embedder,
)

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresNoteIndex"]

_PREFIX = re.compile(r"[a-z_][a-z0-9_]{0,40}")


class PostgresNoteIndex:
    """Keep patients' note chunks and vectors in PostgreSQL, searched exactly in numpy.

    The scale-out path. Vectors are stored as ``bytea`` (float32), and a
    search loads one patient's vectors and ranks them all exactly: a patient
    has at most thousands of chunks, which is milliseconds in numpy, so an
    approximate index (and pgvector, not packaged for PostgreSQL 15 here)
    would add nothing but recall loss. Tables are created when missing.

    Parameters
    ----------
    dsn
        A libpq connection string, e.g. ``"postgresql://user@host:5432/db"``.
    embedder
        What embeds chunks and queries (None: :func:`load_embedder`). It must
        be the one that built an existing index.
    table_prefix
        Names the tables (``<prefix>_meta``, ``<prefix>_notes``, ``<prefix>_chunks``):
        lower-case letters, digits and underscores, at most 41 characters.

    Raises
    ------
    ValueError
        If ``table_prefix`` is not a valid prefix.
    ConfigurationError
        If the index was built by another embedder (name, version or dimension).
    BackendError
        If the server cannot be reached or the tables cannot be created.
    """

    def __init__(
        self, dsn: str, embedder: Embedder | None = None, *, table_prefix: str = "clarity_notes"
    ) -> None:
        import psycopg
        from psycopg import sql

        if not isinstance(table_prefix, str) or not _PREFIX.fullmatch(table_prefix):
            raise ValueError(
                "The 'table_prefix' parameter must match [a-z_][a-z0-9_]{0,40}. "
                f"Got {table_prefix!r} instead."
            )
        self.table_prefix = table_prefix
        self.embedder = embedder if embedder is not None else load_embedder()
        self._lock = threading.Lock()
        self._error: type[Exception] = psycopg.Error
        self._names = {
            name: sql.Identifier(f"{table_prefix}_{name}") for name in ("meta", "notes", "chunks")
        }
        try:
            self._conn: psycopg.Connection[Any] = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error as error:
            raise BackendError(f"Cannot connect to the note index database: {error}") from error
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _sql(self, template: str) -> Any:
        from psycopg import sql

        return sql.SQL(template).format(**self._names)

    def _open(self) -> None:
        try:
            with self._conn.transaction():
                # Serialises concurrent creators of the same tables.
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.table_prefix}:schema",)
                )
                self._conn.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {meta} "
                        "(key text PRIMARY KEY, value text NOT NULL)"
                    )
                )
                stored = dict(self._conn.execute(self._sql("SELECT key, value FROM {meta}")))
                _check_embedder(stored, self.embedder, f"with prefix {self.table_prefix!r}")
                for key, value in (
                    ("embedder_name", self.embedder.name),
                    ("embedder_version", self.embedder.version),
                    ("embedder_dim", str(self.embedder.dim)),
                ):
                    self._conn.execute(
                        self._sql("INSERT INTO {meta} VALUES (%s, %s) ON CONFLICT DO NOTHING"),
                        (key, value),
                    )
                self._conn.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {notes} (patient_id text NOT NULL, "
                        "note_id text NOT NULL, written date NOT NULL, text text NOT NULL, "
                        "text_sha256 text NOT NULL, PRIMARY KEY (patient_id, note_id))"
                    )
                )
                self._conn.execute(
                    self._sql(
                        "CREATE TABLE IF NOT EXISTS {chunks} (patient_id text NOT NULL, "
                        "note_id text NOT NULL, written date NOT NULL, start integer NOT NULL, "
                        "stop integer NOT NULL, embedding bytea NOT NULL, "
                        "PRIMARY KEY (patient_id, note_id, start), "
                        "FOREIGN KEY (patient_id, note_id) REFERENCES {notes} ON DELETE CASCADE)"
                    )
                )
        except self._error as error:
            raise BackendError(
                f"Cannot create the note index tables {self.table_prefix}_*: {error}"
            ) from error

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresNoteIndex(table_prefix={self.table_prefix!r}, embedder={self.embedder!r})"

    def close(self) -> None:
        """Close the connection (the tables stay)."""
        with self._lock:
            self._conn.close()

    def add(self, patient_id: str, note: SourceNote) -> int:
        """Chunk, embed and store a note; return how many chunks were stored.

        Parameters
        ----------
        patient_id
            Whose note it is.
        note
            The (redacted) note.

        Returns
        -------
        int
            The number of chunks stored: 0 when the note is already stored
            with the same text and date; a changed note replaces its chunks.

        Raises
        ------
        ValueError
            If ``patient_id`` is empty or ``note`` is not a valid :class:`SourceNote`.
        BackendError
            If the write fails.
        """
        _check_text("patient_id", patient_id)
        _check_note(note)
        identity = (_digest(note), note.written)
        key = (patient_id, note.note_id)
        stored_sql = self._sql(
            "SELECT text_sha256, written FROM {notes} WHERE patient_id = %s AND note_id = %s"
        )
        try:
            with self._lock:
                stored = [tuple(r) for r in self._conn.execute(stored_sql, key)]
            if stored == [identity]:
                return 0
            # Embedding is the slow part, so it happens outside the transaction.
            chunks = chunk_note(note)
            vectors = _embed(self.embedder, [c.text for c in chunks])
            with self._lock, self._conn.transaction():
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))",
                    (f"{self.table_prefix}:{patient_id}\x1f{note.note_id}",),
                )
                if [tuple(r) for r in self._conn.execute(stored_sql, key)] == [identity]:
                    return 0  # another writer stored it meanwhile
                self._conn.execute(
                    self._sql("DELETE FROM {notes} WHERE patient_id = %s AND note_id = %s"), key
                )
                self._conn.execute(
                    self._sql("INSERT INTO {notes} VALUES (%s, %s, %s, %s, %s)"),
                    (*key, note.written, note.text, identity[0]),
                )
                with self._conn.cursor() as cursor:
                    cursor.executemany(
                        self._sql("INSERT INTO {chunks} VALUES (%s, %s, %s, %s, %s, %s)"),
                        [
                            (*key, note.written, c.start, c.end, v.tobytes())
                            for c, v in zip(chunks, vectors, strict=True)
                        ],
                    )
        except self._error as error:
            raise BackendError(f"Cannot write note {note.note_id!r}: {error}") from error
        return len(chunks)

    def search(
        self, patient_id: str, query: str, *, k: int = 8, since: date | None = None
    ) -> list[Passage]:
        """Return the ``k`` chunks of the patient's notes most relevant to a query.

        Parameters
        ----------
        patient_id
            Whose notes to search; no other patient's chunk is ever returned.
        query
            What to look for, in words.
        k
            How many passages to return at most.
        since
            Search only notes written on or after this date (None: every note).

        Returns
        -------
        list of Passage
            Most relevant first, ranked by :func:`hybrid_rank`.

        Raises
        ------
        ValueError
            If ``patient_id`` or ``query`` is empty, ``k`` is not an int >= 1,
            or ``since`` is not a date.
        BackendError
            If the read fails.
        """
        _check_text("patient_id", patient_id)
        _check_text("query", query)
        _check_int("k", k, 1)
        _check_since(since)
        window = "" if since is None else " AND c.written >= %s"
        params: list[Any] = [patient_id] if since is None else [patient_id, since]
        try:
            with self._lock:
                rows = self._conn.execute(
                    self._sql(
                        "SELECT c.note_id, c.written, c.start, c.stop, c.embedding, n.text "
                        "FROM {chunks} c JOIN {notes} n USING (patient_id, note_id) "
                        f"WHERE c.patient_id = %s{window} ORDER BY c.written, c.note_id, c.start"
                    ),
                    params,
                ).fetchall()
        except self._error as error:
            raise BackendError(f"Note-index search failed: {error}") from error
        if not rows:
            return []
        chunks = [
            Chunk(note_id, written, start, stop, text[start:stop])
            for note_id, written, start, stop, _, text in rows
        ]
        vectors = np.stack([np.frombuffer(row[4], dtype=np.float32) for row in rows])
        return hybrid_rank(query, chunks, vectors, self.embedder, k=k)

    def notes(self, patient_id: str, *, since: date | None = None) -> list[SourceNote]:
        """Return the patient's indexed notes written on or after ``since``, oldest first.

        Parameters
        ----------
        patient_id
            Whose notes.
        since
            Only notes written on or after this date (None: every note).

        Returns
        -------
        list of SourceNote
            Ordered by date, then note id.

        Raises
        ------
        ValueError
            If ``patient_id`` is empty or ``since`` is not a date.
        BackendError
            If the read fails.
        """
        _check_text("patient_id", patient_id)
        _check_since(since)
        window = "" if since is None else " AND written >= %s"
        params: list[Any] = [patient_id] if since is None else [patient_id, since]
        try:
            with self._lock:
                rows = self._conn.execute(
                    self._sql(
                        "SELECT note_id, written, text FROM {notes} "
                        f"WHERE patient_id = %s{window} ORDER BY written, note_id"
                    ),
                    params,
                ).fetchall()
        except self._error as error:
            raise BackendError(f"Note-index read failed: {error}") from error
        return [SourceNote(note_id, written, text) for note_id, written, text in rows]

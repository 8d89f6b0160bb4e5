"""Where a patient's note chunks and their vectors live: SQLite (embedded) or PostgreSQL.

Both indexes keep the notes, their chunks (:func:`~clarity.notes._retrieval.chunk_note`)
and one vector per chunk, and answer a query with the same hybrid ranking
(:func:`~clarity.notes._retrieval.hybrid_rank`), so on the same notes they
return the same passages:

- :class:`SqliteNoteIndex`, the embedded default, finds nearest chunks with a
  sqlite-vec ``vec0`` table partitioned by patient, so a search reads only
  that patient's vectors;
- :class:`PostgresNoteIndex`, the scale-out path, stores vectors as ``bytea``
  and searches them exactly in numpy. pgvector is not packaged for the
  PostgreSQL it runs on, and a patient has at most thousands of chunks, which
  an exact search covers in milliseconds with no approximation to tune.

Every search reads one patient's chunks only (never another's), and an index
records the embedder that built it: opening it with another refuses, rather
than mixing vectors from two models.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import pysqlite3.dbapi2 as sqlite3
import sqlite_vec
from numpy.typing import NDArray

from clarity.errors import BackendError, ConfigurationError
from clarity.notes._draft import Passage
from clarity.notes._extractive import SECTIONS, SourceNote
from clarity.notes._retrieval import (
    SECTION_QUERIES,
    Chunk,
    Embedder,
    _check_int,
    _check_note,
    _check_since,
    _check_text,
    _dense_order,
    _fuse,
    chunk_note,
    load_embedder,
)

__all__ = ["NoteIndex", "SqliteNoteIndex", "retrieve_for_summary"]

# sqlite-vec refuses a KNN query for more than this many neighbours.
_VEC0_MAX_K = 4096


@runtime_checkable
class NoteIndex(Protocol):
    """One store of patients' note chunks and vectors, searched per patient."""

    def add(self, patient_id: str, note: SourceNote) -> int:
        """Chunk, embed and store a note; return how many chunks were stored.

        Idempotent: adding a note already stored with the same text and date
        stores nothing and returns 0; a note whose text (or date) changed
        replaces its old chunks.

        Parameters
        ----------
        patient_id
            Whose note it is; searches for this patient only will find it.
        note
            The (redacted) note.

        Returns
        -------
        int
            The number of chunks stored (0 when the note was already stored).
        """
        ...

    def search(
        self, patient_id: str, query: str, *, k: int = 8, since: date | None = None
    ) -> list[Passage]:
        """Return the ``k`` chunks of the patient's notes most relevant to a query.

        Only notes written on or after ``since`` are searched (all when None),
        and only the patient's own.

        Parameters
        ----------
        patient_id
            Whose notes to search.
        query
            What to look for, in words.
        k
            How many passages to return at most.
        since
            Search only notes written on or after this date (None: every note).

        Returns
        -------
        list of Passage
            Most relevant first, by the hybrid ranking of
            :func:`~clarity.notes._retrieval.hybrid_rank`.
        """
        ...

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
        """
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def retrieve_for_summary(
    index: NoteIndex, patient_id: str, *, since: date | None = None, k: int = 8
) -> dict[str, list[Passage]]:
    """Retrieve passages for each summary heading, one hybrid search per heading.

    Parameters
    ----------
    index
        The patient's note index.
    patient_id
        Whose notes to search.
    since
        Search only notes written on or after this date (None: every note).
    k
        Passages per heading at most.

    Returns
    -------
    dict
        Heading (see :data:`~clarity.notes._extractive.SECTIONS`) to its
        passages, most relevant first; every heading is present.

    Raises
    ------
    ValueError
        If ``patient_id`` is empty or ``k`` is not an int >= 1.
    """
    _check_text("patient_id", patient_id)
    _check_int("k", k, 1)
    return {
        heading: index.search(patient_id, SECTION_QUERIES[heading], k=k, since=since)
        for heading in SECTIONS
    }


def _digest(note: SourceNote) -> str:
    return hashlib.sha256(note.text.encode("utf-8")).hexdigest()


def _check_embedder(stored: Mapping[str, str], embedder: Embedder, where: str) -> None:
    """Refuse an index built by another embedder: its vectors are not comparable."""
    wanted = {"embedder_name": embedder.name, "embedder_version": embedder.version}
    wanted["embedder_dim"] = str(embedder.dim)
    if stored and any(stored.get(key) != value for key, value in wanted.items()):
        built = f"{stored.get('embedder_name')} {stored.get('embedder_version')}"
        raise ConfigurationError(
            f"The note index {where} was built by the embedder {built} "
            f"({stored.get('embedder_dim')} dimensions) but was opened with {embedder.name} "
            f"{embedder.version} ({embedder.dim} dimensions); their vectors cannot be mixed. "
            "Open it with the embedder that built it, or rebuild it."
        )


def _embed(embedder: Embedder, texts: Sequence[str]) -> NDArray[np.float32]:
    vectors = np.ascontiguousarray(embedder.encode(texts), dtype=np.float32)
    if vectors.shape != (len(texts), embedder.dim):
        raise ValueError(
            f"The embedder {embedder.name!r} returned vectors of shape {vectors.shape}; "
            f"expected ({len(texts)}, {embedder.dim})."
        )
    return vectors


_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    patient_id TEXT NOT NULL,
    note_id TEXT NOT NULL,
    written TEXT NOT NULL,
    text TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    PRIMARY KEY (patient_id, note_id)
);
CREATE INDEX IF NOT EXISTS notes_by_date ON notes(patient_id, written, note_id);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY,
    patient_id TEXT NOT NULL,
    note_id TEXT NOT NULL,
    written TEXT NOT NULL,
    start INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    UNIQUE (patient_id, note_id, start)
);
CREATE INDEX IF NOT EXISTS chunks_by_date ON chunks(patient_id, written, note_id, start);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(
    chunk_id INTEGER PRIMARY KEY,
    patient_id TEXT PARTITION KEY,
    written INTEGER,
    embedding FLOAT[{dim}] distance_metric=cosine
);
"""


def _enable_wal(conn: Any, timeout_s: float = 30.0) -> None:
    """Switch to WAL, retrying: the switch takes an exclusive lock without a busy handler."""
    # clarity._utils.enable_wal catches the stdlib's sqlite3 errors, not pysqlite3's.
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            message = str(error)
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class SqliteNoteIndex:
    """Keep patients' note chunks and vectors in a SQLite file, searched with sqlite-vec.

    The embedded default. Chunks and notes are ordinary tables; vectors are a
    sqlite-vec ``vec0`` table with the patient id as its partition key and the
    note date as a metadata column, so a KNN query touches one patient's
    window only. The file is in WAL mode and survives reopening.

    Parameters
    ----------
    path
        The database file; created with its parent directory when missing.
    embedder
        What embeds chunks and queries (None: :func:`load_embedder`). It must
        be the one that built an existing index.

    Raises
    ------
    ConfigurationError
        If the index was built by another embedder (name, version or dimension).
    BackendError
        If the file cannot be opened or sqlite-vec cannot be loaded.
    """

    def __init__(self, path: Path | str, embedder: Embedder | None = None) -> None:
        self.path = Path(path)
        self.embedder = embedder if embedder is not None else load_embedder()
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False
            )
        except (sqlite3.Error, OSError) as error:
            raise BackendError(f"Cannot open the note index {self.path}: {error}") from error
        try:
            self._open()
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        conn = self._conn
        try:
            conn.enable_load_extension(True)
            sqlite_vec.load(conn)
            conn.enable_load_extension(False)
            conn.execute("PRAGMA busy_timeout=30000")
            _enable_wal(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                stored = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                _check_embedder(stored, self.embedder, str(self.path))
                conn.executemany(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("embedder_name", self.embedder.name),
                        ("embedder_version", self.embedder.version),
                        ("embedder_dim", str(self.embedder.dim)),
                    ],
                )
                # One statement at a time: executescript would commit the open transaction.
                for statement in _SQLITE_SCHEMA.format(dim=self.embedder.dim).split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise BackendError(f"Cannot open the note index {self.path}: {error}") from error

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
        return f"SqliteNoteIndex({str(self.path)!r}, embedder={self.embedder!r})"

    def close(self) -> None:
        """Close the connection (the file stays)."""
        with self._lock:
            self._conn.close()

    def _read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as error:
                raise BackendError(f"Note-index query failed on {self.path}: {error}") from error

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
        identity = (_digest(note), note.written.isoformat())
        stored_sql = "SELECT text_sha256, written FROM notes WHERE patient_id = ? AND note_id = ?"
        key = (patient_id, note.note_id)
        if [tuple(r) for r in self._read(stored_sql, key)] == [identity]:
            return 0
        # Embedding is the slow part, so it happens before the write lock is taken.
        chunks = chunk_note(note)
        vectors = _embed(self.embedder, [c.text for c in chunks])
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if [tuple(r) for r in conn.execute(stored_sql, key)] == [identity]:
                        conn.execute("COMMIT")
                        return 0  # another writer stored it meanwhile
                    old = conn.execute(
                        "SELECT chunk_id FROM chunks WHERE patient_id = ? AND note_id = ?", key
                    ).fetchall()
                    conn.executemany("DELETE FROM chunk_vectors WHERE chunk_id = ?", old)
                    conn.execute("DELETE FROM chunks WHERE patient_id = ? AND note_id = ?", key)
                    conn.execute(
                        "INSERT OR REPLACE INTO notes(patient_id, note_id, written, text, "
                        "text_sha256) VALUES (?, ?, ?, ?, ?)",
                        (*key, identity[1], note.text, identity[0]),
                    )
                    for chunk, vector in zip(chunks, vectors, strict=True):
                        cursor = conn.execute(
                            "INSERT INTO chunks(patient_id, note_id, written, start, stop) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (*key, identity[1], chunk.start, chunk.end),
                        )
                        conn.execute(
                            "INSERT INTO chunk_vectors(chunk_id, patient_id, written, embedding) "
                            "VALUES (?, ?, ?, ?)",
                            (
                                cursor.lastrowid,
                                patient_id,
                                note.written.toordinal(),
                                vector.tobytes(),
                            ),
                        )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise BackendError(
                    f"Cannot write note {note.note_id!r} to {self.path}: {error}"
                ) from error
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
            Most relevant first, ranked by :func:`hybrid_rank`'s fusion.

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
        window, params = "", [patient_id]
        if since is not None:
            window, params = " AND c.written >= ?", [patient_id, since.isoformat()]
        wanted = _embed(self.embedder, [query])[0].tobytes()
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN")  # one snapshot for the chunks and their vectors
                try:
                    rows = conn.execute(
                        "SELECT c.chunk_id, c.note_id, c.written, c.start, c.stop, n.text "
                        "FROM chunks c JOIN notes n USING (patient_id, note_id) "
                        f"WHERE c.patient_id = ?{window} ORDER BY c.written, c.note_id, c.start",
                        params,
                    ).fetchall()
                    nearest = []
                    if rows:
                        knn_window = "" if since is None else " AND written >= ?"
                        knn_params: list[Any] = [wanted, min(len(rows), _VEC0_MAX_K), patient_id]
                        if since is not None:
                            knn_params.append(since.toordinal())
                        nearest = conn.execute(
                            "SELECT chunk_id, distance FROM chunk_vectors WHERE embedding MATCH ? "
                            f"AND k = ? AND patient_id = ?{knn_window}",
                            knn_params,
                        ).fetchall()
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as error:
                raise BackendError(f"Note-index search failed on {self.path}: {error}") from error
        if not rows:
            return []
        chunks = [
            Chunk(note_id, date.fromisoformat(written), start, stop, text[start:stop])
            for _, note_id, written, start, stop, text in rows
        ]
        position = {row[0]: i for i, row in enumerate(rows)}
        dense = _dense_order([(position[c], d) for c, d in nearest if c in position])
        return _fuse(query, chunks, dense, k)

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
        window, params = "", [patient_id]
        if since is not None:
            window, params = " AND written >= ?", [patient_id, since.isoformat()]
        rows = self._read(
            f"SELECT note_id, written, text FROM notes WHERE patient_id = ?{window} "
            "ORDER BY written, note_id",
            params,
        )
        return [SourceNote(note_id, date.fromisoformat(w), text) for note_id, w, text in rows]

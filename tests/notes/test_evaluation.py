"""The evaluation's measures, on the session cohort (unredacted notes, for speed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from clarity.notes import ExtractiveBackend, SourceNote, load_embedder, summarise
from clarity.notes._evaluation import corruption_scores, crisis_scores, summary_scores


@pytest.fixture(scope="module")
def embedder() -> Any:
    return load_embedder()


def _patients(cohort: Path) -> dict[str, list[SourceNote]]:
    notes = pq.read_table(cohort / "truth" / "notes.parquet").to_pylist()
    found: dict[str, list[SourceNote]] = {}
    for row in notes:
        found.setdefault(row["source_id"], []).append(
            SourceNote(row["note_id"], row["date"], row["text"])
        )
    return found


def test_extractive_summaries__are_faithful_and_cover_the_cohort_facts(cohort: Path, embedder):
    treatments = pq.read_table(cohort / "truth" / "treatments.parquet").to_pylist()
    drugs: dict[str, list[str]] = {}
    for row in treatments:
        if row["kind"] == "drug":
            drugs.setdefault(row["source_id"], []).append(row["name"])
    scores = summary_scores(_patients(cohort), ExtractiveBackend(), drugs=drugs, encoder=embedder)
    assert scores.failures == 0 and scores.patients == len(_patients(cohort))
    assert scores.dropped == 0 and scores.kept_supported == scores.kept > 0
    assert scores.medication_facts > 0 and scores.medication_covered == scores.medication_facts
    if scores.crisis_facts:
        assert scores.crisis_covered == scores.crisis_facts
    assert scores.trend_covered / scores.trend_facts >= 0.95


def test_fact_check__keeps_faithful_sentences_and_removes_known_corruptions(cohort, embedder):
    patients = _patients(cohort)
    summaries = {
        p: summarise(n, ExtractiveBackend(), encoder=embedder) for p, n in patients.items()
    }
    scores = corruption_scores(patients, summaries, encoder=embedder)
    assert scores.faithful > 50 and scores.faithful_kept == scores.faithful
    for kind in ("another drug", "another number or dose"):
        assert scores.corrupted[kind] > 0
        assert scores.caught[kind] == scores.corrupted[kind], kind
    strangers = "another patient's sentence"
    assert scores.caught[strangers] / scores.corrupted[strangers] >= 0.95


def test_crisis_scores__count_against_the_truth(cohort: Path):
    notes = pq.read_table(cohort / "truth" / "notes.parquet").to_pylist()
    scores = crisis_scores(notes)
    assert scores.tp + scores.fn == sum(bool(n["crisis"]) for n in notes)
    assert scores.fn == 0 and scores.fp == 0 and scores.negated_flagged == 0

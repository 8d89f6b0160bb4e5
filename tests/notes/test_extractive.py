"""The extractive summary: cited, faithful, and covering risk and medication changes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from clarity.notes._crisis import assess_crisis
from clarity.notes._extractive import SECTIONS, SourceNote, extractive_summary
from clarity.notes._factcheck import fact_check


def _patients(cohort: Path) -> dict[str, list[SourceNote]]:
    notes = pq.read_table(cohort / "truth" / "notes.parquet").to_pandas()
    found: dict[str, list[SourceNote]] = {}
    for _, row in notes.iterrows():
        found.setdefault(row["source_id"], []).append(
            SourceNote(row["note_id"], row["date"], row["text"])
        )
    return found


def test_cohort__every_sentence_is_cited_faithful_and_risk_is_never_left_out(cohort: Path):
    for notes in _patients(cohort).values():
        summary = extractive_summary(notes)
        assert list(summary) == [s for s in SECTIONS if s in summary]
        claims = [c for section in summary.values() for c in section]
        sources = {n.note_id: n.text for n in notes}
        kept, dropped = fact_check(claims, sources)
        assert dropped == [] and len(kept) == len(claims)
        for claim in claims:
            for citation in claim.citations:
                cited = sources[citation.note_id][citation.start : citation.end]
                assert cited.lower() == claim.text.lower()
        risk = {c.text for c in summary.get("Risk", [])}
        for note in notes:
            for start, end in assess_crisis(note.text).evidence:
                assert note.text[start:end] in risk


def test_cohort__medication_starts_and_stops_are_in_the_plan(cohort: Path):
    treatments = pq.read_table(cohort / "truth" / "treatments.parquet").to_pandas()
    drugs = treatments[treatments["kind"] == "drug"]
    checked = 0
    for patient, notes in _patients(cohort).items():
        plan = " ".join(c.text.lower() for c in extractive_summary(notes).get("Plan", []))
        written = " ".join(n.text.lower() for n in notes)
        for drug in drugs[drugs["source_id"] == patient]["name"]:
            if f"start {drug}" in written:  # a note recorded the start
                assert drug in plan, (patient, drug)
                checked += 1
    assert checked > 0


def test_summary__orders_notes_by_date_and_says_a_repeated_sentence_once():
    notes = [
        SourceNote("b", date(2024, 2, 1), "O: PHQ-9 9, GAD-7 5.\nP: Stop sertraline."),
        SourceNote("a", date(2024, 1, 1), "O: PHQ-9 19, GAD-7 15.\nP: Start sertraline 50 mg."),
        SourceNote(
            "c", date(2024, 3, 1), "O: PHQ-9 9, GAD-7 5.\nA: Remission.\nP: Stop sertraline."
        ),
    ]
    summary = extractive_summary(notes)
    assert [c.text for c in summary["Objective"]] == ["PHQ-9 19, GAD-7 15.", "PHQ-9 9, GAD-7 5."]
    # Said once, citing both notes that say it.
    assert [c.note_id for c in summary["Objective"][1].citations] == ["b", "c"]
    assert [c.text for c in summary["Plan"]] == ["Start sertraline 50 mg.", "Stop sertraline."]
    assert summary["Assessment"][0].citations[0].note_id == "c"

"""The synthetic cohort: real formats, determinism, and a ground truth the data follow."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from fhir.resources.R4B.bundle import Bundle

from clarity.contracts import INSTRUMENTS, Instrument
from clarity.synth import CohortConfig, generate_cohort


def _truth(cohort: Path, name: str):
    return pq.read_table(cohort / "truth" / f"{name}.parquet").to_pandas()


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_generate_cohort__same_seed_gives_byte_identical_files(tmp_path):
    config = CohortConfig(patients=6, days=14, seed=5, workers=1, reference_samples=200)
    first = _digests(generate_cohort(config, tmp_path / "a").out)
    second = _digests(generate_cohort(config.model_copy(update={"workers": 2}), tmp_path / "b").out)
    assert first == second
    assert len(first) > 20
    other = _digests(generate_cohort(config.model_copy(update={"seed": 6}), tmp_path / "c").out)
    assert other["fhir/SYN-00000.json"] != first["fhir/SYN-00000.json"]


def test_generate_cohort__refuses_to_write_into_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        generate_cohort(CohortConfig(patients=1, days=7), tmp_path)
    assert (tmp_path / "keep.txt").exists()


def test_fhir_bundles__validate_as_r4_with_questionnaires_in_loinc(cohort):
    seen_codes = set()
    for path in sorted((cohort / "fhir").glob("*.json")):
        bundle = Bundle.model_validate_json(path.read_text())
        kinds = {e.resource.__resource_type__ for e in bundle.entry}
        assert {"Patient", "Observation", "Condition", "DocumentReference"} <= kinds
        for entry in bundle.entry:
            resource = entry.resource
            if resource.__resource_type__ == "Observation":
                seen_codes.add(resource.code.coding[0].code)
            if resource.__resource_type__ == "Condition":
                assert re.match(r"^F3[23]\.\d$|^F41\.1$", resource.code.coding[0].code)
    phq9, gad7 = INSTRUMENTS[Instrument.phq9], INSTRUMENTS[Instrument.gad7]
    assert {phq9.total_loinc, gad7.total_loinc} <= seen_codes
    assert set(phq9.item_loincs) <= seen_codes or phq9.panel_loinc not in seen_codes


def test_notes__phi_spans_and_crisis_evidence_point_at_the_text(cohort):
    notes = _truth(cohort, "notes")
    assert len(notes) > 20
    kinds = set()
    for note in notes.itertuples():
        for span in note.phi:
            fragment = note.text[span["start"] : span["end"]]
            assert fragment.strip() == fragment and fragment
            kinds.add(span["kind"])
        for start, end in note.crisis_evidence:
            assert note.crisis and note.text[start:end].strip()
    assert {"NAME", "DATE", "ID"} <= kinds
    bundle = json.loads((cohort / "fhir" / "SYN-00000.json").read_text())
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    docs = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    text = base64.b64decode(docs[0]["content"][0]["attachment"]["data"]).decode()
    assert patient["name"][0]["family"] in text  # the redactor has real PHI to remove


def test_actigraphy__export_layout_and_wear_truth(cohort):
    patients = _truth(cohort, "patients")
    wearer = patients[patients.wears_actigraph].source_id.iloc[0]
    with gzip.open(cohort / "actigraphy" / f"{wearer}.csv.gz", "rt") as handle:
        assert handle.readline() == "timestamp,date,activity\n"
        first = handle.readline().strip().split(",")
    assert re.match(r"^\d{4}-\d\d-\d\d 00:00:00$", first[0]) and first[2].isdigit()
    days = _truth(cohort, "actigraphy_days")
    assert (days.recorded_minutes <= 1440).all() and (
        days.worn_minutes <= days.recorded_minutes
    ).all()


def test_truth__observables_follow_the_latent_state(cohort):
    observations = _truth(cohort, "observations")
    phq9 = observations[observations.instrument == "phq9"]
    assert np.corrcoef(phq9.total, phq9.latent)[0, 1] > 0.7
    gad7 = observations[observations.instrument == "gad7"]
    assert np.corrcoef(gad7.total, gad7.latent)[0, 1] > 0.6
    rr = _truth(cohort, "rr")
    assert np.corrcoef(rr.rmssd_ms, rr.stress)[0, 1] < -0.4
    assert np.corrcoef(rr.mean_hr_bpm, rr.stress)[0, 1] > 0.4
    days = _truth(cohort, "actigraphy_days").merge(
        _truth(cohort, "daily"), on=["source_id", "date"]
    )
    days = days.dropna(subset=["mean_worn_count"])
    assert np.corrcoef(days.mean_worn_count, days.depression)[0, 1] < -0.3


def test_mood_reports__track_depression(cohort):
    import pandas as pd

    mood = pd.read_csv(cohort / "mood" / "mood.csv", parse_dates=["date"])
    daily = _truth(cohort, "daily")
    daily["date"] = pd.to_datetime(daily["date"])
    joined = mood.merge(daily, left_on=["participant_id", "date"], right_on=["source_id", "date"])
    assert len(joined) == len(mood)
    assert np.corrcoef(joined["mood"], joined["depression"])[0, 1] < -0.6


def test_manifest__lists_every_file_with_digest_and_expected_counts(cohort):
    manifest = json.loads((cohort / "manifest.json").read_text())
    for entry in manifest["files"]:
        path = cohort / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    expected = _truth(cohort, "expected").groupby("topic").records.sum().to_dict()
    assert expected == manifest["expected_records"]
    assert manifest["config"]["seed"] == 11

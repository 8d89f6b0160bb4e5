"""The research-grade drug-response model, trained and checked on a small synthetic cohort."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clarity.errors import InputError, NotFittedError
from clarity.pgx._response import (
    FEATURES,
    PGX_GENES,
    RESPONSE_DRUGS,
    DrugResponseModel,
    evaluate,
    training_frame,
)
from clarity.synth._latent import DRUGS
from clarity.synth._pgx import PGX_GENES as SYNTH_GENES

PM = "Poor Metabolizer"
NM = "Normal Metabolizer"


@pytest.fixture(scope="module")
def frame(pgx_cohort):
    return training_frame(pgx_cohort)


@pytest.fixture(scope="module")
def model(frame):
    return DrugResponseModel().fit(frame)


def _patient(**phenotypes):
    return {
        "age": 41,
        "sex": "female",
        "baseline_phq9": 17,
        "prior_courses": 0,
        "prior_nonresponse": 0,
        "phenotypes": {gene: phenotypes.get(gene, NM) for gene in PGX_GENES},
    }


def test_response_drugs__match_the_cohort_simulator():
    assert set(RESPONSE_DRUGS) == set(DRUGS)
    assert PGX_GENES == SYNTH_GENES
    from clarity.pgx._response import _DRUG_GENES

    assert _DRUG_GENES == {name: drug.gene for name, drug in DRUGS.items()}


def test_training_frame__one_row_per_drug_course_with_labels(frame):
    assert list(frame.columns[:3]) == ["source_id", "drug", "start"]
    assert set(FEATURES) <= set(frame.columns)
    assert set(frame["drug"]) <= set(RESPONSE_DRUGS)
    for label in ("response_8w", "adverse_event"):
        known = frame[label].dropna()
        assert set(known) == {0.0, 1.0}
        assert len(known) >= 100
    # Baseline PHQ-9 comes from the visit that started the course.
    assert frame["baseline_phq9"].notna().all()
    # History counts only earlier courses of the same patient.
    first = frame.groupby("source_id").head(1)
    assert (first["prior_courses"] == 0).all() and (first["prior_nonresponse"] == 0).all()


def test_training_frame__poor_metabolisers_have_more_adverse_events(frame):
    labelled = frame.dropna(subset=["adverse_event"])
    rate = labelled.groupby("drug_gene_phenotype")["adverse_event"].mean()
    assert rate[0.0] > rate[2.0] + 0.3  # PM vs NM of the drug's gene


def test_training_frame__refuses_a_directory_without_truth(tmp_path):
    with pytest.raises(FileNotFoundError, match="patients truth table"):
        training_frame(tmp_path)


def test_evaluate__model_beats_the_population_prior_on_held_out_patients(frame):
    # Averaged over splits: one split of ~45 held-out courses can flip a single AUC.
    runs = [evaluate(frame, test_fraction=0.25, seed=seed) for seed in range(3)]
    model_auc = np.mean([r["adverse_event_auc_model"] for r in runs])
    prior_auc = np.mean([r["adverse_event_auc_prior"] for r in runs])
    assert model_auc > prior_auc + 0.03, runs
    assert all(r["test_patients"] > 0 and r["train_patients"] > r["test_patients"] for r in runs)
    # Response is barely learnable in the simulator (it hinges on a hidden trait);
    # only ask that the numbers are there.
    assert all(0 <= r["response_auc_model"] <= 1 for r in runs)


def test_predict__cyp2c19_poor_metaboliser_has_more_escitalopram_adverse_events(model):
    (poor,) = model.predict(_patient(CYP2C19=PM), drugs=["escitalopram"])
    (normal,) = model.predict(_patient(CYP2C19=NM), drugs=["escitalopram"])
    assert poor.adverse_event_probability > normal.adverse_event_probability
    assert poor.source == normal.source == "model"
    assert poor.research_grade and "synthetic" in poor.note


def test_predict__without_pgx_falls_back_to_the_population_prior(model, frame):
    features = {"age": 41, "sex": "male", "phenotypes": {"CYP2D6": None}}
    predictions = model.predict(features)
    assert [p.drug for p in predictions] == list(RESPONSE_DRUGS)
    for p in predictions:
        courses = frame[frame["drug"] == p.drug]
        assert p.source == "population_prior" and p.research_grade
        assert "prior" in p.note
        assert p.response_probability == pytest.approx(courses["response_8w"].mean())
        assert p.adverse_event_probability == pytest.approx(courses["adverse_event"].mean())
        assert (p.response_probability, p.adverse_event_probability) == model.priors()[p.drug]


def test_predict__probabilities_are_probabilities(model):
    for p in model.predict(_patient(CYP2D6=PM, CYP2B6="Ultrarapid Metabolizer")):
        assert 0 < p.response_probability < 1 and 0 < p.adverse_event_probability < 1


def test_save_load__round_trip_gives_identical_predictions(model, tmp_path):
    path = tmp_path / "response.skops"
    model.save(path)
    loaded = DrugResponseModel.load(path)
    for features in (_patient(CYP2C19=PM), _patient(CYP2D6="Intermediate Metabolizer"), {}):
        assert loaded.predict(features) == model.predict(features)
    assert loaded.priors() == model.priors()


def test_load__refuses_a_file_that_is_not_a_model(tmp_path):
    import skops.io as sio

    path = tmp_path / "other.skops"
    sio.dump({"format": "something else"}, path)
    with pytest.raises(InputError, match=r"is not a clarity\.pgx\.DrugResponseModel/1 file"):
        DrugResponseModel.load(path)


@pytest.mark.parametrize(
    ("features", "drugs", "message"),
    [
        ({}, ["lithium"], r"Allowed drugs are escitalopram, .* but got 'lithium'"),
        ({}, "escitalopram", r"'drugs' parameter must be a sequence"),
        ({"phenotypes": {"CYP2C19": "PM"}}, None, r"Invalid phenotype for CYP2C19.*got 'PM'"),
        ({"phenotypes": {"CYP3A4": PM}}, None, r"Allowed genes are CYP2D6.*got CYP3A4"),
        ({"sex": "F"}, None, r"'sex' feature.*got 'F' instead"),
        ({"age": -3}, None, r"'age' feature must be a number in the range \[0, 120\]"),
        ({"baseline_phq9": "high"}, None, r"'baseline_phq9' feature must be a number"),
        ({"activity_scores": {"CYP2D6": "one"}}, None, r"'CYP2D6' feature must be a number"),
        ({"weight": 80}, None, r"Unknown feature 'weight'\. Allowed features are age"),
        ({"phenotypes": ["CYP2D6"]}, None, r"'phenotypes' feature must be a mapping"),
    ],
)
def test_predict__bad_input_raises_a_precise_error(model, features, drugs, message):
    with pytest.raises(ValueError, match=message):
        model.predict(features, drugs=drugs)


def test_predict__unfitted_model_raises():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DrugResponseModel().predict({})


def test_fit__refuses_a_frame_without_labels(frame):
    with pytest.raises(InputError, match="lacks the columns response_8w"):
        DrugResponseModel().fit(frame.drop(columns=["response_8w"]))
    one_class = frame.assign(adverse_event=0.0)
    with pytest.raises(InputError, match="both classes of 'adverse_event'"):
        DrugResponseModel().fit(one_class)


def test_evaluate__refuses_a_bad_test_fraction(frame):
    with pytest.raises(InputError, match=r"'test_fraction' .* range \(0, 1\)\. Got 1"):
        evaluate(frame, test_fraction=1)


def test_fit__same_seed_gives_identical_predictions(frame, model):
    again = DrugResponseModel().fit(frame)
    features = _patient(CYP2C19="Intermediate Metabolizer")
    assert again.predict(features) == model.predict(features)
    assert not math.isnan(again.predict(features)[0].response_probability)

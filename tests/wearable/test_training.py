"""Labels from the bus and the training of the served model, on data with a known answer."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from clarity.bus import Bus, MemoryTransport
from clarity.contracts import (
    INSTRUMENTS,
    Envelope,
    Instrument,
    MoodReport,
    Producer,
    QuestionnaireObservation,
)
from clarity.wearable import (
    FinetuneSettings,
    PretrainSettings,
    TrainSettings,
    WearableModel,
    WeekSet,
    labelled_weeks,
    split_groups,
    train_wearable_model,
    training_weeks_from_bus,
)
from clarity.wearable._labels import TrainingWeeks
from tests.wearable.conftest import START, TINY, week_arrays, week_record

_PRODUCER = Producer(service="ingest", model_name="t", model_version="1", code_version="0")


def _phq9(patient: str, when, total: int) -> Envelope:
    spec = INSTRUMENTS[Instrument.phq9]
    scores = [3] * (total // 3) + [total % 3] + [0] * 9
    items = [{"loinc": code, "score": s} for code, s in zip(spec.item_loincs, scores, strict=False)]
    return Envelope.new(
        topic="ingest.observation",
        patient_id=patient,
        observed_at=when,
        source="t",
        producer=_PRODUCER,
        payload=QuestionnaireObservation(
            instrument="phq9",
            panel_loinc=spec.panel_loinc,
            total_loinc=spec.total_loinc,
            total_score=total,
            items=items,
        ),
    )


def _mood(patient: str, when, quality: int) -> Envelope:
    return Envelope.new(
        topic="ingest.mood",
        patient_id=patient,
        observed_at=when,
        source="t",
        producer=_PRODUCER,
        payload=MoodReport(mood=5, sleep_quality=quality),
    )


def test_labelled_weeks__phq9_during_or_just_after_and_a_week_of_sleep_reports():
    rng = np.random.default_rng(0)
    weeks = [week_record("P001", w, *week_arrays(rng)) for w in range(4)]
    records = [
        *weeks,
        _phq9("P001", START + timedelta(days=3), 14),  # during week 0
        _phq9("P001", START + timedelta(days=16), 4),  # after week 1 (and during week 2)
        _phq9("P001", START + timedelta(days=30), 20),  # too late for week 2; after week 3
        _phq9("P002", START + timedelta(days=2), 25),  # another patient
        *(_mood("P001", START + timedelta(days=7 + d, hours=20), 3) for d in range(3)),
        *(_mood("P001", START + timedelta(days=14 + d, hours=20), 8) for d in range(3)),
        _mood("P001", START + timedelta(days=21, hours=20), 2),  # one report is not enough
    ]
    data = labelled_weeks(reversed(records))
    assert data.weeks.groups.tolist() == ["P001"] * 4
    np.testing.assert_array_equal(data.labels["depression"], [1, 0, 0, 1])
    np.testing.assert_array_equal(data.labels["poor_sleep"], [np.nan, 1, 0, np.nan])
    assert len(data.event_ids) == len(records)  # every record read counts for the lineage
    assert len(data.for_head("poor_sleep")) == 2
    with pytest.raises(ValueError, match="no labels for heads \\['mania'\\]"):
        labelled_weeks(records, heads=("mania",))


def test_training_weeks_from_bus__leaves_out_what_a_patient_did_not_consent_to():
    rng = np.random.default_rng(3)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish_batch(
            [
                week_record("P001", 0, *week_arrays(rng)),
                week_record("P002", 0, *week_arrays(rng)),
                _phq9("P001", START + timedelta(days=3), 14),
                _phq9("P002", START + timedelta(days=3), 14),
            ]
        )
        everyone = training_weeks_from_bus(bus, heads=("depression",))
        # P002 withheld their wearable data; P001 their questionnaires.
        refused = {("P002", "ingest.actigraphy"), ("P001", "ingest.observation")}
        consented = training_weeks_from_bus(
            bus, heads=("depression",), allowed=lambda p, t: (p, t) not in refused
        )
    assert sorted(everyone.weeks.groups.tolist()) == ["P001", "P002"]
    assert consented.weeks.groups.tolist() == ["P001"]
    np.testing.assert_array_equal(consented.labels["depression"], [np.nan])


def _known_answer(n_patients: int = 24, weeks: int = 4) -> TrainingWeeks:
    """Half the patients move less in their depressed weeks; the label says which weeks."""
    rng = np.random.default_rng(1)
    counts, wear, groups, labels = [], [], [], []
    for p in range(n_patients):
        for w in range(weeks):
            depressed = (p + w) % 2 == 0
            c, worn = week_arrays(rng, low=depressed, worn=1.0 if w else 0.6)
            counts.append(c)
            wear.append(worn)
            groups.append(f"P{p:02d}")
            labels.append(float(depressed))
    weeks_set = WeekSet.build(counts, wear, groups)
    y = np.asarray(labels)
    return TrainingWeeks(weeks=weeks_set, labels={"depression": y}, event_ids=("x",))


def test_train_wearable_model__learns_the_known_answer_and_holds_out_patients():
    data = _known_answer()
    settings = TrainSettings(
        config=TINY,
        pretraining=PretrainSettings(epochs=2, batch_size=16),
        finetuning=FinetuneSettings(epochs=15, batch_size=8, learning_rate=1e-3),
        held_out_fraction=0.25,
    )
    lines: list[str] = []
    model, metrics = train_wearable_model(data, settings, report=lines.append)
    assert isinstance(model, WearableModel) and list(model.heads) == ["depression"]
    assert metrics["weeks"] == 96 and metrics["train_weeks"] + metrics["held_out_weeks"] == 72
    assert metrics["depression.held_out_auc"] > 0.9
    assert "pretraining PAT on" in lines[0]
    assert model.training["history"]["depression"]["train_loss"]


def test_train_wearable_model__needs_two_classes():
    data = _known_answer(6, 2)
    flat = TrainingWeeks(
        weeks=data.weeks, labels={"depression": np.ones(len(data.weeks))}, event_ids=()
    )
    settings = TrainSettings(config=TINY, pretraining=PretrainSettings(epochs=1))
    with pytest.raises(ValueError, match="no head has enough labelled weeks"):
        train_wearable_model(flat, settings)


def test_split_groups__never_splits_a_patient():
    groups = np.array(["a", "a", "b", "c", "c", "c", "d"])
    train, validation = split_groups(groups, 0.5, seed=3)
    assert set(groups[train]).isdisjoint(groups[validation])
    assert sorted(np.concatenate([train, validation]).tolist()) == list(range(7))
    assert split_groups(groups, 0.0, seed=3)[1].size == 0

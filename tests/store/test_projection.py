from __future__ import annotations

from clarity.bus import Bus, MemoryTransport
from clarity.contracts import Envelope
from clarity.store import SqliteFeatureStore, materialize, record_features
from clarity.testing import example_records


def test_record_features__values_match_the_records():
    records = example_records(n_patients=1)
    features = {f.feature: f for r in records for f in record_features(r)}
    phq9 = [
        r for r in records if r.topic == "ingest.observation" and r.payload.instrument == "phq9"
    ]
    assert features["phq9.total"].value == phq9[-1].payload.total_score
    assert features["phq9.total"].event_id == phq9[-1].event_id
    assert features["phq9.total"].producer["model_name"] == "examples"
    assert {"mood.mood", "mood.sleep_hours", "demographics.sex", "pgx.cyp2d6.diplotype"} <= set(
        features
    )
    drug = next(r for r in records if r.topic == "ingest.medication").payload.name
    assert features[f"medication.{drug}.status"].value == "active"
    assert 0.9 < features["actigraphy.wear_fraction"].value < 1.0
    note = next(r for r in records if r.topic == "ingest.note")
    assert record_features(note) == []
    risk = next(r for r in records if r.topic == "genotype.trait_risk").payload
    assert features["genotype.depression_liability.score"].value == risk.score
    assert features["genotype.depression_liability.percentile"].value == risk.percentile


def test_record_features__an_unscored_trait_risk_has_no_features():
    record = next(r for r in example_records(n_patients=1) if r.topic == "genotype.trait_risk")
    unscored = record.payload.model_copy(
        update={
            "score": None,
            "interval_lower": None,
            "interval_upper": None,
            "percentile": None,
            "top_snps": (),
            "reason": "too few of the model's variants",
        }
    )
    assert record_features(record.model_copy(update={"payload": unscored})) == []


def test_materialize__writes_once_and_resumes_from_the_group(tmp_path):
    bus = Bus(transport=MemoryTransport())
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    bus.publish_batch(example_records(n_patients=2))
    first = materialize(bus, store, group="fs", batch_size=7)
    assert (first.consumed, first.rejected) == (len(example_records(2)), 0)
    assert first.written == sum(len(record_features(r)) for r in example_records(2))
    assert materialize(bus, store, group="fs").consumed == 0
    # A fresh group replays everything, and the store adds nothing.
    replay = materialize(bus, store, group="fs-rebuild")
    assert (replay.consumed, replay.written) == (len(example_records(2)), 0)


def test_materialize__a_record_that_cannot_be_featurised_is_dead_lettered(tmp_path):
    bus = Bus(transport=MemoryTransport())
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    bus.publish_batch(example_records(n_patients=1))

    def picky(record: Envelope):
        if record.topic == "ingest.mood":
            raise ValueError("mood scale unknown")
        return record_features(record)

    report = materialize(bus, store, group="fs", features=picky)
    assert report.rejected == 3
    letters = bus.subscribe_dead_letters(group="ops").poll()
    assert {d.record.reason for d in letters} == {"cannot derive features: mood scale unknown"}
    assert "mood.mood" not in store.latest(example_records(1)[0].patient_id)


def test_materialize__counts_records_the_bus_could_not_decode(tmp_path):
    from clarity.bus import OutgoingRecord

    bus = Bus(transport=MemoryTransport())
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    bus.publish_batch(example_records(n_patients=1))
    fingerprint, text = bus._codec.current_schema("ingest.mood")
    bus.transport.register_schema(fingerprint, "ingest.mood", text)
    bus.transport.append([OutgoingRecord("x", "ingest.mood", "P001", 0, fingerprint, b"\xff")])
    report = materialize(bus, store, group="fs")
    assert (report.consumed, report.rejected) == (len(example_records(1)), 1)

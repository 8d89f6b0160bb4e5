"""`clarity synth` then ingest: every generated record lands on the bus, once."""

from __future__ import annotations

import collections

import pyarrow.parquet as pq

from clarity.contracts import INSTRUMENTS
from clarity.ingest import Pseudonymizer
from tests.ingest.conftest import KEY, records, run

INSTRUMENT_ORDER = {
    code: n for spec in INSTRUMENTS.values() for n, code in enumerate(spec.item_loincs)
}


def test_roundtrip__every_record_of_the_cohort_arrives_and_counts_match_the_truth(bus, cohort):
    report = run(bus, cohort)
    assert report.ok, [m for f in report.files for m in f.messages]
    expected = pq.read_table(cohort / "truth" / "expected.parquet").to_pandas()
    assert report.by_topic() == expected.groupby("topic").records.sum().to_dict()
    pseudonym = Pseudonymizer(KEY)
    per_patient = collections.Counter((r.patient_id, r.topic) for r in records(bus))
    for row in expected.itertuples():
        assert per_patient[(pseudonym(row.source_id), row.topic)] == row.records, row


def test_roundtrip__values_survive_ingest(bus, cohort):
    run(bus, cohort)
    pseudonym = Pseudonymizer(KEY)
    truth = pq.read_table(cohort / "truth" / "observations.parquet").to_pandas()
    expected = sorted(
        (pseudonym(r.source_id), r.instrument, r.total, tuple(r.items)) for r in truth.itertuples()
    )
    got = sorted(
        (
            r.patient_id,
            r.payload.instrument.value,
            r.payload.total_score,
            tuple(
                i.score for i in sorted(r.payload.items, key=lambda i: INSTRUMENT_ORDER[i.loinc])
            ),
        )
        for r in records(bus, "ingest.observation")
    )
    assert got == expected
    notes = pq.read_table(cohort / "truth" / "notes.parquet").to_pandas()
    assert sorted(r.payload.text for r in records(bus, "ingest.note")) == sorted(notes.text)


def test_roundtrip__ingesting_again_adds_nothing(bus, cohort):
    first = run(bus, cohort)
    size = bus.end_offset()
    second = run(bus, cohort)
    assert bus.end_offset() == size
    assert (second.accepted, second.already) == (0, first.accepted)


def test_roundtrip__records_carry_pseudonyms_not_source_ids(bus, cohort):
    run(bus, cohort)
    for record in records(bus):
        assert record.patient_id.startswith("p-")
        assert "SYN-" not in record.patient_id
        assert record.producer.service == "ingest"
        assert record.source.startswith(
            tuple(["fhir/", "actigraphy/", "physiology/", "mood/", "pgx/", "genotypes/"])
        )


def test_roundtrip__mood_reports_sit_at_local_noon_of_each_patient(bus, cohort):
    from zoneinfo import ZoneInfo

    run(bus, cohort)
    zones = {
        Pseudonymizer(KEY)(r.source_id): r.timezone
        for r in pq.read_table(cohort / "truth" / "patients.parquet").to_pandas().itertuples()
    }
    for record in records(bus, "ingest.mood"):
        assert record.observed_at.astimezone(ZoneInfo(zones[record.patient_id])).hour == 12


def test_roundtrip__note_ids_join_the_ground_truth(bus, cohort):
    run(bus, cohort)
    truth = set(pq.read_table(cohort / "truth" / "notes.parquet").to_pandas().note_id)
    assert {r.payload.note_id for r in records(bus, "ingest.note")} == truth

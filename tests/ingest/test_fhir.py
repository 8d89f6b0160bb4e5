"""FHIR bundles: each bad resource is refused with a precise reason; the rest still lands."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.contracts import INSTRUMENTS, Instrument
from clarity.ingest import Pseudonymizer, ReadContext
from clarity.ingest.fhir import read_fhir
from tests.ingest.conftest import KEY, NOW, dead_letters, records, run

PHQ9 = INSTRUMENTS[Instrument.phq9]
SUBJECT = {"reference": "Patient/P-1"}


def _patient():
    return {"resourceType": "Patient", "id": "P-1", "gender": "female", "birthDate": "1984-03-02"}


def _phq9(score=1, id_="obs-1", when="2025-06-01T10:00:00+02:00", total=None):
    items = [
        {"code": {"coding": [{"system": "http://loinc.org", "code": c}]}, "valueInteger": score}
        for c in PHQ9.item_loincs
    ]
    return {
        "resourceType": "Observation",
        "id": id_,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": PHQ9.total_loinc}]},
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueQuantity": {"value": 9 * score if total is None else total},
        "component": items,
    }


def _medication(unit="mg", value=50, status="active"):
    return {
        "resourceType": "MedicationStatement",
        "id": "med-1",
        "status": status,
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "36437",
                    "display": "sertraline",
                }
            ]
        },
        "subject": SUBJECT,
        "effectivePeriod": {"start": "2025-05-01"},
        "dosage": [
            {
                "doseAndRate": [{"doseQuantity": {"value": value, "unit": unit}}],
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            }
        ],
    }


def _note(text="Seen today. Denies SI.", content_type="text/plain"):
    return {
        "resourceType": "DocumentReference",
        "id": "doc-1",
        "status": "current",
        "subject": SUBJECT,
        "date": "2025-06-01T10:30:00+02:00",
        "content": [
            {
                "attachment": {
                    "contentType": content_type,
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }


def _panel(item_score):
    """A PHQ-9 panel Observation with its nine item members and its total member."""
    members = [
        {
            "resourceType": "Observation",
            "id": f"i{n}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": c}]},
            "subject": SUBJECT,
            "effectiveDateTime": "2025-06-01T10:00:00Z",
            "valueInteger": item_score,
        }
        for n, c in enumerate(PHQ9.item_loincs)
    ]
    total = {
        **members[0],
        "id": "t",
        "code": {"coding": [{"system": "http://loinc.org", "code": PHQ9.total_loinc}]},
        "valueInteger": 9 * item_score,
    }
    panel = {
        **members[0],
        "id": "panel",
        "code": {"coding": [{"system": "http://loinc.org", "code": PHQ9.panel_loinc}]},
        "hasMember": [{"reference": f"Observation/{m['id']}"} for m in [*members, total]],
    }
    del panel["valueInteger"]
    return panel, members, total


def _write(tmp_path, *resources, name="bundle.json"):
    path = tmp_path / name
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2025-06-02T00:00:00Z",
        "entry": [{"resource": r} for r in resources],
    }
    path.write_text(json.dumps(bundle))
    return path


def test_fhir__good_bundle_gives_one_record_per_resource(bus, tmp_path):
    report = run(
        bus, _write(tmp_path, _patient(), _phq9(), _medication(unit="g", value=0.05), _note())
    )
    assert report.ok and report.accepted == 4
    by_topic = {r.topic: r for r in records(bus)}
    assert by_topic["ingest.observation"].payload.total_score == 9
    assert by_topic["ingest.observation"].observed_at.isoformat() == "2025-06-01T08:00:00+00:00"
    assert by_topic["ingest.medication"].payload.dose_mg == pytest.approx(50.0)  # converted from g
    assert by_topic["ingest.medication"].payload.frequency_per_day == 2
    assert by_topic["ingest.note"].payload.text == "Seen today. Denies SI."
    assert by_topic["ingest.patient"].payload.birth_year == 1984
    assert by_topic["ingest.patient"].patient_id == Pseudonymizer(KEY)("P-1")


@pytest.mark.parametrize(
    ("bad", "location", "reason"),
    [
        (_phq9(total=12), "Observation/obs-1", "differs from the sum of the items"),
        (_phq9(score=4), "Observation/obs-1", "less than or equal to 3"),
        (
            {**_phq9(), "effectiveDateTime": None},
            "Observation/obs-1",
            "field 'effectiveDateTime': missing",
        ),
        (_phq9(when="2031-01-01T00:00:00Z"), "Observation/obs-1", "is in the future"),
        (
            {**_medication(), "medicationCodeableConcept": {"text": "sertraline"}},
            "MedicationStatement/med-1",
            "no RxNorm coding",
        ),
        (_note(content_type="application/pdf"), "DocumentReference/doc-1", "is not text/plain"),
        (
            {
                "resourceType": "Condition",
                "id": "c-1",
                "subject": SUBJECT,
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "35489007"}]},
            },
            "Condition/c-1",
            "has no ICD-10 coding",
        ),
        (
            {**_phq9(), "subject": {"reference": "Patient/someone-else"}},
            "Observation/obs-1",
            "does not refer to a Patient",
        ),
        ({**_phq9(), "status": 7}, "Observation/obs-1", "status"),
    ],
)
def test_fhir__each_bad_resource_is_refused_with_its_reason_and_the_rest_lands(
    bus, tmp_path, bad, location, reason
):
    report = run(bus, _write(tmp_path, _patient(), bad, _note()))
    assert (report.accepted, report.rejected) == (2, 1)
    (letter,) = dead_letters(bus)
    assert f"bundle.json: entry 1 ({location})" in letter.reason
    assert reason in letter.reason
    assert json.loads(letter.original)["resourceType"] == bad["resourceType"]
    assert letter.rejected_by == "ingest"


def test_fhir__a_dose_in_tablets_is_reported_and_the_drug_kept_without_dose(bus, tmp_path):
    report = run(bus, _write(tmp_path, _patient(), _medication(unit="tablet")))
    assert (report.accepted, report.rejected) == (2, 1)
    (medication,) = records(bus, "ingest.medication")
    assert medication.payload.dose_mg is None and medication.payload.rxnorm == "36437"
    assert "'tablet' is not a mass unit" in dead_letters(bus)[0].reason


def test_fhir__references_by_full_url_resolve(bus, tmp_path):
    patient = {"fullUrl": "urn:uuid:1b6c0a6e-1d2c-4c1e-9a0e-5d9f4a8f1111", "resource": _patient()}
    observation = _phq9()
    observation["subject"] = {"reference": patient["fullUrl"]}
    path = tmp_path / "synthea.json"
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [patient, {"fullUrl": "urn:uuid:2", "resource": observation}],
            }
        )
    )
    report = run(bus, path)
    assert report.ok and report.accepted == 2


def test_fhir__a_corrected_panel_member_is_a_new_record(bus, tmp_path):
    panel, members, total = _panel(item_score=1)
    run(bus, _write(tmp_path, _patient(), panel, *members, total))
    members[0]["valueInteger"], total["valueInteger"] = 2, 10
    again = run(bus, _write(tmp_path, _patient(), panel, *members, total))
    assert again.accepted == 1  # the corrected questionnaire; the patient is already there
    assert sorted(r.payload.total_score for r in records(bus, "ingest.observation")) == [9, 10]


@pytest.mark.parametrize(
    "resource",
    [
        {
            **_medication(),
            "dosage": [{"timing": {"repeat": {"frequency": 2, "period": 0, "periodUnit": "d"}}}],
        },
        {"resourceType": 7, "id": "x"},
    ],
)
def test_fhir__odd_shapes_are_refused_not_crashes(bus, tmp_path, resource):
    report = run(bus, _write(tmp_path, _patient(), resource))
    assert (report.accepted, report.rejected) == (1, 1)


def test_fhir__deeply_nested_json_is_refused(bus, tmp_path):
    path = tmp_path / "deep.json"
    path.write_text('{"resourceType": "Bundle", "entry": ' + "[" * 100_000 + "]" * 100_000 + "}")
    report = run(bus, path)
    assert report.rejected == 1 and "not valid JSON" in dead_letters(bus)[0].reason


def test_fhir__patient_source_ids_stay_out_of_payload_and_location(bus, tmp_path):
    run(bus, _write(tmp_path, _patient(), _phq9()))
    patient = records(bus, "ingest.patient")[0]
    assert patient.payload.fhir_id is None and "P-1" not in patient.source


def test_fhir__malformed_json_is_refused_whole(bus, tmp_path):
    path = _write(tmp_path, _patient(), _phq9())
    path.write_bytes(path.read_bytes()[:-40])  # truncated
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (0, 1)
    assert "not valid JSON" in dead_letters(bus)[0].reason


def test_fhir__a_repeated_resource_in_one_file_is_a_duplicate(bus, tmp_path):
    report = run(bus, _write(tmp_path, _patient(), _phq9(), _phq9()))
    assert (report.accepted, report.rejected) == (2, 1)
    assert "duplicate of the record at entry 1" in dead_letters(bus)[0].reason


def test_fhir__panels_with_members_make_one_observation_and_unused_resources_are_skipped(
    bus, tmp_path
):
    panel, members, total = _panel(item_score=2)
    weight = {
        **members[0],
        "id": "w",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
    }
    encounter = {
        "resourceType": "Encounter",
        "id": "e",
        "status": "finished",
        "class": {"code": "AMB"},
    }
    report = run(bus, _write(tmp_path, _patient(), panel, *members, total, weight, encounter))
    assert (report.accepted, report.rejected, report.files[0].skipped) == (2, 0, 12)
    (observation,) = records(bus, "ingest.observation")
    assert observation.payload.total_score == 18 and len(observation.payload.items) == 9


def test_fhir__date_only_times_use_the_given_time_zone(bus, tmp_path):
    run(bus, _write(tmp_path, _patient(), _phq9(when="2025-06-01")), timezone="Asia/Tokyo")
    (observation,) = records(bus, "ingest.observation")
    assert observation.observed_at.isoformat() == "2025-05-31T15:00:00+00:00"


_GOOD = [_patient(), _phq9(), _medication(), _note()]


@given(
    victim=st.integers(0, 3),
    path=st.lists(
        st.sampled_from(
            [
                "status",
                "id",
                "subject",
                "code",
                "effectiveDateTime",
                "valueQuantity",
                "component",
                "dosage",
                "content",
                "birthDate",
                "gender",
            ]
        ),
        min_size=1,
        max_size=2,
    ),
    value=st.one_of(
        st.none(),
        st.integers(-5, 5),
        st.text(max_size=5),
        st.just({}),
        st.just([]),
        st.just([{"x": 1}]),
    ),
)
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fhir__any_mangled_resource_is_accepted_rejected_or_skipped_never_a_crash(
    tmp_path_factory, victim, path, value
):
    resources = copy.deepcopy(_GOOD)
    target = resources[victim]
    for key in path:
        target[key] = value
    folder = tmp_path_factory.mktemp("fuzz")
    file = _write(folder, *resources)
    items = list(
        read_fhir(ReadContext(path=file, source="b.json", pseudonym=Pseudonymizer(KEY), now=NOW))
    )
    assert len(items) == 4

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from pydantic import ValidationError

from clarity.contracts import (
    Envelope,
    MoodReport,
    PatientDemographics,
    Producer,
    event_id_for,
    validate_envelope,
)
from clarity.errors import ContractViolation


def _mood_envelope(producer, when, **overrides):
    fields = dict(
        event_id=uuid.uuid4(),
        patient_id="P0001",
        topic="ingest.mood",
        observed_at=when,
        produced_at=when,
        source="app",
        producer=producer,
        payload={"mood": 5},
    )
    fields.update(overrides)
    return Envelope(**fields)


def test_envelope__mapping_payload_is_validated_as_the_topic_payload(producer, when):
    record = _mood_envelope(producer, when)
    assert isinstance(record.payload, MoodReport)
    assert record.payload.mood == 5


def test_envelope__payload_of_another_topic_is_rejected(producer, when):
    demographics = PatientDemographics(birth_year=1980, sex="female")
    with pytest.raises(ValidationError, match=r"does not belong on topic 'ingest\.mood'"):
        _mood_envelope(producer, when, payload=demographics)


def test_envelope__unknown_topic_is_rejected_with_known_topics_listed(producer, when):
    with pytest.raises(ValidationError) as info:
        _mood_envelope(producer, when, topic="ingest.moood")
    message = str(info.value)
    assert "Unknown topic 'ingest.moood'" in message
    assert "ingest.mood" in message
    assert "payload" in message  # the payload cannot be checked without a topic


def test_envelope__naive_timestamp_is_rejected(producer, when):
    with pytest.raises(ValidationError, match="must be timezone-aware"):
        _mood_envelope(producer, when, observed_at=datetime(2024, 1, 1))


@pytest.mark.parametrize("bad_id", ["", "ab", "John Smith", "ÅSE-1", "-leading", "x" * 65])
def test_envelope__patient_id_must_be_a_pseudonym(producer, when, bad_id):
    with pytest.raises(ValidationError, match="patient_id"):
        _mood_envelope(producer, when, patient_id=bad_id)


def test_envelope__is_immutable_and_forbids_extra_fields(producer, when):
    record = _mood_envelope(producer, when)
    with pytest.raises(ValidationError):
        record.patient_id = "P0002"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs"):
        Envelope(**record.model_dump(), nickname="x")


def test_envelope__cannot_list_itself_as_input(producer, when):
    own = uuid.uuid4()
    with pytest.raises(ValidationError, match="lists itself"):
        _mood_envelope(producer, when, event_id=own, inputs=(own,))


def test_envelope_new__fills_id_and_processing_time(producer, when):
    record = Envelope.new(
        topic="ingest.mood",
        patient_id="P0001",
        observed_at=when,
        source="app",
        producer=producer,
        payload=MoodReport(mood=3),
    )
    assert record.event_id.version == 4
    assert record.produced_at >= when


def test_event_id_for__is_stable_and_distinguishes_parts():
    assert event_id_for("a", "b") == event_id_for("a", "b")
    assert event_id_for("a", "b") != event_id_for("ab")
    assert event_id_for("a", "b") != event_id_for("b", "a")
    with pytest.raises(ValueError, match="at least one part"):
        event_id_for()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("service", "Ingest", "service"),
        ("run_id", "not a run id!", "run_id"),
        ("model_version", "", "model_version"),
    ],
)
def test_producer__identifiers_are_validated(field, value, message):
    fields = dict(service="ingest", model_name="m", model_version="1", code_version="0.1")
    fields[field] = value
    with pytest.raises(ValidationError, match=message):
        Producer(**fields)


def test_validate_envelope__names_topic_record_and_every_field(producer, when):
    data = _mood_envelope(producer, when).model_dump()
    data["payload"] = {"mood": 11, "anxiety": "high"}
    with pytest.raises(ContractViolation) as info:
        validate_envelope(data)
    error = info.value
    assert error.topic == "ingest.mood"
    assert error.record_id == str(data["event_id"])
    locations = {e.loc for e in error.errors}
    assert locations == {"payload.mood", "payload.anxiety"}
    assert "got 11" in str(error)


def test_validate_envelope__revalidates_unchecked_instances(producer, when):
    # model_construct skips validation; publishing must not trust it.
    sneaky = Envelope.model_construct(
        **{**_mood_envelope(producer, when).__dict__, "patient_id": "!"}
    )
    with pytest.raises(ContractViolation, match="patient_id"):
        validate_envelope(sneaky)


def test_validate_envelope__non_mapping_reports_unknown_topic():
    with pytest.raises(ContractViolation, match="unknown topic") as info:
        validate_envelope(["not", "a", "record"])  # type: ignore[arg-type]
    assert info.value.topic is None
    assert info.value.record_id is None


def test_validate_envelope__long_received_values_are_shortened(producer, when):
    data = _mood_envelope(producer, when).model_dump()
    data["payload"] = {"mood": 5, "comment": "x" * 5000}
    with pytest.raises(ContractViolation) as info:
        validate_envelope(data)
    (error,) = info.value.errors
    assert error.loc == "payload.comment"
    assert error.msg.endswith("...)") and len(error.msg) < 250


def test_validate_dead_letter__names_the_failing_fields(when):
    from clarity.contracts import validate_dead_letter

    with pytest.raises(ContractViolation, match="Dead letter violates the contract") as info:
        validate_dead_letter({"event_id": str(uuid.uuid4()), "source_topic": "", "reason": "x"})
    assert {"source_topic", "original", "original_format", "rejected_by", "rejected_at"} <= {
        e.loc for e in info.value.errors
    }
    assert info.value.topic == "deadletter"

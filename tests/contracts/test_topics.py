from __future__ import annotations

import pytest

from clarity.contracts import TOPICS, MoodReport, Payload, register_topic, topic_spec
from clarity.errors import ContractViolation


class _Example(Payload):
    value: int


@pytest.fixture
def topics(monkeypatch):
    """Register test topics in a copy of the table, so the real one is untouched."""
    monkeypatch.setattr("clarity.contracts._topics.TOPICS", dict(TOPICS))
    from clarity.contracts import _topics

    return _topics.TOPICS


def test_register_topic__adds_the_topic_and_is_idempotent(topics):
    spec = register_topic("example.topic", _Example, "An example.")
    assert topics["example.topic"] is spec or topics["example.topic"] == spec
    assert register_topic("example.topic", _Example, "An example.") == spec


def test_register_topic__refuses_reserved_and_conflicting_names(topics):
    with pytest.raises(ValueError, match="reserved for dead letters"):
        register_topic("deadletter", _Example, "x")
    with pytest.raises(ValueError, match="already registered with payload MoodReport"):
        register_topic("ingest.mood", _Example, "x")
    assert topics["ingest.mood"].payload is MoodReport


def test_topic_spec__unknown_topic_lists_the_known_ones():
    assert topic_spec("ingest.mood").payload is MoodReport
    with pytest.raises(
        ContractViolation,
        match=r"'ingest\.moods' is not a registered topic \(genotype\.trait_risk, ingest\.actigraphy",
    ):
        topic_spec("ingest.moods")

from __future__ import annotations

import pytest

from clarity.bus import check_pattern, topic_matches


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("ingest.mood", "ingest.mood", True),
        ("ingest.mood", "ingest.mood.v2", False),
        ("ingest.*", "ingest.mood", True),
        ("ingest.*", "ingest", False),
        ("ingest.*", "ingest.mood.v2", False),
        ("ingest.>", "ingest.mood.v2", True),
        ("ingest.>", "ingest", False),
        ("*.daily_risk", "wearable.daily_risk", True),
        ("*.daily_risk", "wearable.weekly_risk", False),
        (">", "anything.at.all", True),
        ("*", "deadletter", True),
        ("*", "ingest.mood", False),
    ],
)
def test_topic_matches__nats_subject_semantics(pattern, topic, expected):
    assert topic_matches(pattern, topic) is expected


@pytest.mark.parametrize("pattern", ["ingest.*", "ingest.>", ">", "*.*", "a_1.b2"])
def test_check_pattern__accepts_valid_patterns(pattern):
    assert check_pattern(pattern) == pattern


@pytest.mark.parametrize(
    "pattern", ["", "ingest.", "Ingest.mood", ">.mood", "ingest.mo od", "ingest.#"]
)
def test_check_pattern__rejects_invalid_patterns(pattern):
    with pytest.raises(ValueError, match="Invalid topic pattern"):
        check_pattern(pattern)

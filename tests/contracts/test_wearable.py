from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from clarity.contracts import (
    MINUTES_PER_WEEK,
    HeadRisk,
    WearableAttention,
    WearableDailyRisk,
    WearableExplainRequest,
)

START = datetime(2024, 1, 1, tzinfo=UTC)


def _risk(**overrides):
    fields = dict(
        day=date(2024, 1, 7),
        window_start=START,
        window_end=START + timedelta(days=7),
        wear_fraction=0.9,
        day_wear_fraction=0.95,
        min_wear_fraction=0.7,
        risks=(HeadRisk(head="depression", probability=0.3),),
    )
    fields.update(overrides)
    return WearableDailyRisk(**fields)


def test_daily_risk__scored_or_unscored_with_a_reason():
    assert _risk().risks[0].probability == 0.3
    unscored = _risk(risks=(), reason="worn 40% of the window; 70% needed", wear_fraction=0.4)
    assert unscored.reason.startswith("worn 40%")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"risks": ()}, "either risks or a reason"),
        ({"reason": "both"}, "either risks or a reason"),
        ({"window_end": START}, "window_end must follow window_start"),
        (
            {"risks": (HeadRisk(head="sleep", probability=0.1),) * 2},
            "each head may appear once",
        ),
        ({"wear_fraction": 1.2}, "less than or equal to 1"),
        ({"risks": ({"head": "Depression", "probability": 0.2},)}, "String should match"),
        ({"risks": ({"head": "depression", "probability": float("nan")},)}, "finite"),
    ],
)
def test_daily_risk__refuses_inconsistent_records(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _risk(**overrides)


def test_attention__needs_one_value_per_minute_of_the_week():
    minutes = (1.0 / MINUTES_PER_WEEK,) * MINUTES_PER_WEEK
    fields = dict(
        window_start=START,
        window_end=START + timedelta(days=7),
        head="depression",
        probability=0.5,
        patch_minutes=18,
    )
    assert len(WearableAttention(minutes=minutes, **fields).minutes) == MINUTES_PER_WEEK
    with pytest.raises(ValidationError, match="at least 10080"):
        WearableAttention(minutes=minutes[:-1], **fields)
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        WearableAttention(minutes=(-1.0, *minutes[1:]), **fields)


def test_explain_request__defaults_to_the_depression_head():
    request = WearableExplainRequest(window_end=START, requested_by="dr-ruth")
    assert request.head == "depression"
    with pytest.raises(ValidationError, match="timezone"):
        WearableExplainRequest(window_end=datetime(2024, 1, 1), requested_by="x")

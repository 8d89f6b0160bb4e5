"""The wearable panel's figures, without a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from clarity.dashboard._wearable import attention_figure, risk_figure
from clarity.sdk import TimelineItem


def _day(k: int, risk: float | None) -> TimelineItem:
    end = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=k + 1)
    payload = {
        "day": (end - timedelta(days=1)).date().isoformat(),
        "window_end": end.isoformat(),
        "risks": [] if risk is None else [{"head": "depression", "probability": risk}],
        "min_wear_fraction": 0.7,
    }
    return TimelineItem(
        offset=k, topic="wearable.daily_risk", observed_at=end, record={"payload": payload}
    )


def test_risk_figure__daily_lines_weekly_markers_and_unscored_days():
    days = [_day(k, None if k < 3 else 0.1 * (k % 7)) for k in range(14)]
    figure = risk_figure(days)
    names = [t.name for t in figure.data]
    assert names == ["depression (daily)", "depression (week)", "not scored (too little wear)"]
    daily, weekly, unscored = figure.data
    assert daily.y[:3] == (None, None, None) and daily.connectgaps is False
    assert len(weekly.x) == 2 and weekly.x[0] == days[6].record["payload"]["day"]
    assert len(unscored.x) == 3
    # A day scored twice (a later model) shows once; a missing day moves no marker.
    rescored = _day(9, 0.9)
    shifted = risk_figure([d for d in days if d.offset != 2] + [rescored])
    daily, weekly = shifted.data[:2]
    assert len(daily.x) == 13 and daily.y[daily.x.index(rescored.record["payload"]["day"])] == 0.9
    assert weekly.x == (days[6].record["payload"]["day"], days[13].record["payload"]["day"])


def test_attention_figure__folds_minutes_into_local_hours_across_a_clock_change():
    # The week of 25 March 2024 in Oslo: clocks go forward on Sunday 31 March.
    start = datetime(2024, 3, 24, 23, 0, tzinfo=UTC)  # Monday 00:00 in Oslo
    minutes = np.zeros(10_080)
    minutes[60 * 3 : 60 * 4] = 0.5 / 60  # half the attention on Monday 03:00-04:00 local
    minutes[-60:] = 0.5 / 60  # and half on the last hour of the window
    attention = {
        "window_start": start.isoformat(),
        "window_end": (start + timedelta(minutes=10_080)).isoformat(),
        "timezone": "Europe/Oslo",
        "head": "depression",
        "probability": 0.62,
        "minutes": minutes.tolist(),
    }
    activity = np.full(10_080, 100.0)
    activity[:60] = np.nan
    figure = attention_figure(attention, activity)
    heat, counts = figure.data
    grid = np.asarray(heat.z)
    assert abs(grid.sum() - 100.0) < 1e-9
    assert abs(grid[0, 3] - 50.0) < 1e-9  # Monday, 03:00
    assert heat.y[0].startswith("Mon 25 Mar")
    # After the clock change the window's last hour is 00:00 on Monday 1 April.
    assert heat.y[-1].startswith("Mon 01 Apr") and abs(grid[-1, 0] - 50.0) < 1e-9
    # Yet the window is the one that ends on Sunday 31 March (01:00 on Monday, summer time).
    assert "ending 2024-03-31" in figure.layout.title.text
    assert np.asarray(counts.z)[1, 5] == 100.0
    assert "depression risk 0.62" in figure.layout.title.text

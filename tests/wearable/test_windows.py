"""Cutting weeks into daily windows: overlaps and daylight-saving changes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np

from clarity.contracts import MINUTES_PER_WEEK
from clarity.wearable import Week, daily_windows, window_ending


def _week(start: datetime, value: float, worn: slice = slice(None), zone: str = "UTC") -> Week:
    wear = np.zeros(MINUTES_PER_WEEK, dtype=bool)
    wear[worn] = True
    return Week(
        patient_id="P001",
        event_id=uuid.uuid4(),
        start=start,
        timezone=zone,
        counts=np.where(wear, value, 0.0).astype(np.float32),
        wear=wear,
    )


def test_window_ending__a_later_week_wins_where_worn_and_never_erases_wear():
    start = datetime(2025, 3, 3, tzinfo=UTC)
    older = _week(start, 5.0)
    # A later export, shifted by a day, worn only on its first two days.
    newer = _week(start + timedelta(days=1), 9.0, worn=slice(0, 2 * 1440))
    for order in ([older, newer], [newer, older]):
        window = window_ending(start + timedelta(days=7), order)
        assert window is not None
        assert window.wear.all()  # the newer week's gap keeps the older week's minutes
        assert (window.counts[:1440] == 5).all() and (window.counts[1440 : 3 * 1440] == 9).all()
        assert (window.counts[3 * 1440 :] == 5).all()
        assert window.inputs == (older.event_id, newer.event_id)


def test_daily_windows__days_stay_consecutive_across_daylight_saving_changes():
    # Oslo midnight on Friday 28 March 2025; clocks go forward on Sunday the 30th.
    spring = _week(datetime(2025, 3, 27, 23, tzinfo=UTC), 1.0, zone="Europe/Oslo")
    days = [w.day for w in daily_windows(spring, [])]
    assert days == [date(2025, 3, 28) + timedelta(days=k) for k in range(7)]
    # And back in autumn (26 October 2025).
    autumn = _week(datetime(2025, 10, 23, 22, tzinfo=UTC), 1.0, zone="Europe/Oslo")
    days = [w.day for w in daily_windows(autumn, [])]
    assert days == [date(2025, 10, 24) + timedelta(days=k) for k in range(7)]

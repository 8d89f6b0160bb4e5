"""Cut a patient's actigraphy weeks into the 7-day windows that end each day."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

from clarity.contracts import MINUTES_PER_WEEK, ActigraphyWeek, Envelope, window_day

__all__ = ["MINUTES_PER_DAY", "Week", "Window", "daily_windows", "window_ending"]

MINUTES_PER_DAY = 1440


@dataclass(frozen=True)
class Week:
    """One ``ingest.actigraphy`` record as arrays.

    Parameters
    ----------
    patient_id
        Pseudonymous patient id.
    event_id
        The record's event id, kept as lineage of the windows it feeds.
    start
        First minute of the week (UTC, on a whole minute).
    timezone
        IANA zone of the wearer.
    counts
        ``(10080,)`` float32 activity counts per minute.
    wear
        ``(10080,)`` boolean, True where the device was worn.
    """

    patient_id: str
    event_id: uuid.UUID
    start: datetime
    timezone: str
    counts: np.ndarray
    wear: np.ndarray

    @classmethod
    def from_record(cls, record: Envelope) -> Week:
        """Read an ``ingest.actigraphy`` envelope."""
        payload = record.payload
        if not isinstance(payload, ActigraphyWeek):
            raise TypeError(f"expected an ingest.actigraphy record; got {record.topic}")
        return cls(
            patient_id=record.patient_id,
            event_id=record.event_id,
            start=payload.start,
            timezone=payload.timezone,
            counts=np.asarray(payload.counts, dtype=np.float32),
            wear=np.asarray(payload.wear, dtype=bool),
        )

    @property
    def end(self) -> datetime:
        """End of the week (exclusive)."""
        return self.start + timedelta(minutes=MINUTES_PER_WEEK)


@dataclass(frozen=True)
class Window:
    """The 7 days of minutes that end one day.

    Parameters
    ----------
    patient_id
        Pseudonymous patient id.
    day
        The wearer's local day the window ends (see
        :func:`clarity.contracts.window_day`).
    start
        First minute of the window (``end`` less 7 days).
    end
        End of the window (exclusive).
    timezone
        IANA zone of the wearer, from the latest week used.
    counts
        ``(10080,)`` float32 activity counts per minute, from whichever weeks
        cover the window; 0 where none does.
    wear
        ``(10080,)`` boolean wear; False where no week covers the minute.
    day_wear_fraction
        Share of the last 24 hours' minutes that were worn.
    inputs
        Event ids of the weeks the window was assembled from, oldest first.
    """

    patient_id: str
    day: date
    start: datetime
    end: datetime
    timezone: str
    counts: np.ndarray
    wear: np.ndarray
    day_wear_fraction: float
    inputs: tuple[uuid.UUID, ...]


def window_ending(end: datetime, weeks: list[Week]) -> Window | None:
    """Assemble the window ``[end - 7 days, end)`` from whichever weeks cover it.

    Parameters
    ----------
    end
        End of the window, on a minute.
    weeks
        The patient's weeks that may overlap it; minutes none of them holds
        count as not worn.

    Returns
    -------
    Window or None
        None when no week overlaps the window.
    """
    start = end - timedelta(minutes=MINUTES_PER_WEEK)
    counts = np.zeros(MINUTES_PER_WEEK, dtype=np.float32)
    wear = np.zeros(MINUTES_PER_WEEK, dtype=bool)
    used: list[Week] = []
    # Later weeks are laid over earlier ones where they were worn; where they
    # were not, an earlier week's worn minutes stand.
    for week in sorted(weeks, key=lambda w: w.start):
        offset = int((week.start - start).total_seconds() // 60)
        lo, hi = max(offset, 0), min(offset + MINUTES_PER_WEEK, MINUTES_PER_WEEK)
        if lo >= hi:
            continue
        piece = slice(lo - offset, hi - offset)
        take = week.wear[piece] | ~wear[lo:hi]
        counts[lo:hi] = np.where(take, week.counts[piece], counts[lo:hi])
        wear[lo:hi] |= week.wear[piece]
        used.append(week)
    if not used:
        return None
    latest = used[-1]
    local_day = window_day(end, latest.timezone)
    return Window(
        patient_id=latest.patient_id,
        day=local_day,
        start=start,
        end=end,
        timezone=latest.timezone,
        counts=counts,
        wear=wear,
        day_wear_fraction=float(wear[-MINUTES_PER_DAY:].mean()),
        inputs=tuple(w.event_id for w in sorted(used, key=lambda w: w.start)),
    )


def daily_windows(week: Week, previous: list[Week]) -> list[Window]:
    """Cut the seven windows that end on each day of a week.

    Parameters
    ----------
    week
        The new week.
    previous
        Earlier weeks of the same patient (the days before ``week.start``
        that the first six windows reach back into).

    Returns
    -------
    list of Window
        One per day, the last being the week itself.
    """
    weeks = [week, *previous]
    out = []
    for day in range(7):
        end = week.start + timedelta(minutes=(day + 1) * MINUTES_PER_DAY)
        window = window_ending(end, weeks)
        assert window is not None  # the new week always overlaps its own days
        out.append(window)
    return out

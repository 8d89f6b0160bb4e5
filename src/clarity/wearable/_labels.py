"""Labelled weeks from the bus: each actigraphy week with what the patient reported around it.

The heads Clarity trains, and where their labels come from:

- ``depression``: a PHQ-9 total of 10 or more (the paper's label, NHANES
  PHQ-9 >= 10). The PHQ-9 asks about the last two weeks, so the label is the
  first PHQ-9 completed during the week or in the seven days after it.
- ``poor_sleep``: self-reported sleep quality (0-10, daily mood reports)
  averaging 5 or less over the week, from at least three reports.

Weeks without such a report stay unlabelled; pretraining still uses them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from clarity.bus import Bus
from clarity.contracts import (
    ActigraphyWeek,
    Envelope,
    Instrument,
    MoodReport,
    QuestionnaireObservation,
)
from clarity.wearable._weekset import WeekSet

__all__ = ["HEADS", "TrainingWeeks", "labelled_weeks", "training_weeks_from_bus"]

HEADS = ("depression", "poor_sleep")
"""The heads Clarity can label from its own records."""

PHQ9_CUTOFF = 10
POOR_SLEEP_QUALITY = 5.0
MIN_SLEEP_REPORTS = 3


@dataclass(frozen=True)
class TrainingWeeks:
    """Weeks with a label per head.

    Parameters
    ----------
    weeks
        The weeks (their ``labels`` are unused; see ``labels``).
    labels
        Head name to ``(n,)`` labels, NaN where unknown.
    event_ids
        The records the set was built from, for the data fingerprint.
    """

    weeks: WeekSet
    labels: dict[str, np.ndarray]
    event_ids: tuple[str, ...]

    def for_head(self, head: str) -> WeekSet:
        """Select the weeks labelled for one head, with those labels.

        Parameters
        ----------
        head
            The head whose labels to use; a key of ``labels``.

        Returns
        -------
        WeekSet
            The weeks with a known label for the head, in their order here,
            carrying that head's labels.
        """
        return WeekSet(
            self.weeks.counts, self.weeks.wear, self.weeks.groups, self.labels[head]
        ).labelled()


def labelled_weeks(records: Iterable[Envelope], heads: Iterable[str] = HEADS) -> TrainingWeeks:
    """Pair each actigraphy week with the reports that label it.

    Parameters
    ----------
    records
        ``ingest.actigraphy``, ``ingest.observation`` and ``ingest.mood``
        records (others are ignored), any order.
    heads
        Which labels to build (see the module).

    Returns
    -------
    TrainingWeeks
        Every week, with its labels.
    """
    heads = tuple(heads)
    unknown = set(heads) - set(HEADS)
    if unknown:
        raise ValueError(f"no labels for heads {sorted(unknown)}; known heads: {list(HEADS)}")
    weeks: list[Envelope] = []
    phq9: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    sleep: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    used: list[str] = []
    for record in records:
        payload = record.payload
        if isinstance(payload, ActigraphyWeek):
            weeks.append(record)
        elif isinstance(payload, QuestionnaireObservation):
            if payload.instrument is Instrument.phq9:
                phq9[record.patient_id].append((record.observed_at, payload.total_score))
        elif isinstance(payload, MoodReport):
            if payload.sleep_quality is not None:
                sleep[record.patient_id].append((record.observed_at, payload.sleep_quality))
        else:
            continue
        used.append(str(record.event_id))
    weeks.sort(key=lambda r: (r.patient_id, r.observed_at))
    counts, wear, groups = [], [], []
    labels: dict[str, list[float]] = {head: [] for head in heads}
    for record in weeks:
        payload = record.payload
        assert isinstance(payload, ActigraphyWeek)
        start = payload.start
        end = start + timedelta(days=7)
        counts.append(np.asarray(payload.counts, dtype=np.float32))
        wear.append(np.asarray(payload.wear, dtype=bool))
        groups.append(record.patient_id)
        if "depression" in labels:
            after = sorted(
                (t, s) for t, s in phq9[record.patient_id] if start <= t < end + timedelta(days=7)
            )
            labels["depression"].append(float(after[0][1] >= PHQ9_CUTOFF) if after else np.nan)
        if "poor_sleep" in labels:
            quality = [q for t, q in sleep[record.patient_id] if start <= t < end]
            labels["poor_sleep"].append(
                float(np.mean(quality) <= POOR_SLEEP_QUALITY)
                if len(quality) >= MIN_SLEEP_REPORTS
                else np.nan
            )
    return TrainingWeeks(
        weeks=WeekSet.build(counts, wear, groups),
        labels={head: np.asarray(values, dtype=np.float64) for head, values in labels.items()},
        event_ids=tuple(sorted(used)),
    )


def training_weeks_from_bus(
    bus: Bus,
    heads: Iterable[str] = HEADS,
    *,
    allowed: Callable[[str, str], bool] | None = None,
) -> TrainingWeeks:
    """Read every actigraphy week and labelling report on the bus (a replay; no group).

    Parameters
    ----------
    bus
        The feature bus.
    heads
        Which labels to build.
    allowed
        ``allowed(patient_id, topic)``: whether a record may be used (consent);
        records it refuses are left out.

    Returns
    -------
    TrainingWeeks
        As :func:`labelled_weeks`.
    """
    topics = ("ingest.actigraphy", "ingest.observation", "ingest.mood")
    records = (delivery.record for topic in topics for delivery in bus.replay(topic))
    if allowed is not None:
        records = (r for r in records if allowed(r.patient_id, r.topic))
    return labelled_weeks(records, heads)

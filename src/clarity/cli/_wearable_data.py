"""Actigraphy weeks for the wearable evaluation, read through the real ingest reader.

The evaluation code (``clarity.wearable.evaluation``) takes arrays; this
module reads them from files: a synthetic cohort (labels from its ground
truth) and the Depresjon dataset (labels from the file names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from clarity.contracts import ActigraphyWeek
from clarity.ingest import Accepted, Pseudonymizer, ReadContext
from clarity.ingest.actigraphy import read_actigraphy
from clarity.wearable.evaluation import WeekSet

__all__ = ["DEPRESJON_ZONE", "depresjon_weeks", "synthetic_weeks"]

DEPRESJON_ZONE = "Europe/Oslo"
"""Depresjon was recorded in Norway; its timestamps are local time there."""

_SUBJECT = re.compile(r"^(condition|control)_(\d+)\.csv(\.gz)?$")
# Evaluation data never leaves the process; a fixed key keeps ids stable between runs.
_KEY = b"clarity-evaluation-pseudonyms-00"


def _weeks(path: Path, patient: str, zone: str) -> Iterator[ActigraphyWeek]:
    context = ReadContext(
        path=path,
        source=path.name,
        pseudonym=Pseudonymizer(_KEY),
        patient=patient,
        timezone=zone,
    )
    for item in read_actigraphy(context):
        if isinstance(item, Accepted) and isinstance(item.envelope.payload, ActigraphyWeek):
            yield item.envelope.payload


def depresjon_weeks(
    directory: Path, *, progress: Callable[[int, int], None] | None = None
) -> WeekSet:
    """Read Depresjon: every subject's weeks, labelled 1 for a patient, 0 for a control.

    Parameters
    ----------
    directory
        Holds ``condition_N.csv(.gz)`` and ``control_N.csv(.gz)``.
    progress
        Called with ``(files done, files)``.

    Returns
    -------
    WeekSet
        Groups are the file stems (``condition_1``).
    """
    files = sorted(p for p in directory.iterdir() if _SUBJECT.match(p.name))
    if not files:
        raise FileNotFoundError(f"no condition_N/control_N files in {directory}")
    counts, wear, groups, labels = [], [], [], []
    for done, path in enumerate(files, 1):
        match = _SUBJECT.match(path.name)
        assert match is not None
        subject = f"{match.group(1)}_{match.group(2)}"
        for week in _weeks(path, subject, DEPRESJON_ZONE):
            counts.append(np.asarray(week.counts, dtype=np.float32))
            wear.append(np.asarray(week.wear, dtype=bool))
            groups.append(subject)
            labels.append(1.0 if match.group(1) == "condition" else 0.0)
        if progress is not None:
            progress(done, len(files))
    return WeekSet.build(counts, wear, groups, labels)


def synthetic_weeks(
    cohort: Path,
    *,
    threshold: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> WeekSet:
    """Read a synthetic cohort's actigraphy; label each week from the latent truth.

    Parameters
    ----------
    cohort
        Directory written by ``clarity synth``.
    threshold
        A week is positive when the patient's latent depression, averaged
        over its seven days, is above this.
    progress
        Called with ``(files done, files)``.

    Returns
    -------
    WeekSet
        Groups are the synthetic patient ids.
    """
    import pandas as pd

    manifest = json.loads((cohort / "manifest.json").read_text())
    daily = pd.read_parquet(
        cohort / "truth" / "daily.parquet", columns=["source_id", "date", "depression"]
    )
    truth = {
        (row.source_id, pd.Timestamp(row.date).date()): float(row.depression)
        for row in daily.itertuples(index=False)
    }
    files = [f for f in manifest["files"] if f["format"] == "actigraphy"]
    counts, wear, groups, labels = [], [], [], []
    for done, entry in enumerate(files, 1):
        patient, zone = entry["patient"], entry["timezone"]
        for week in _weeks(cohort / entry["path"], patient, zone):
            first = week.start.astimezone(ZoneInfo(zone)).date()
            days = [truth.get((patient, first + timedelta(days=d))) for d in range(7)]
            known = [d for d in days if d is not None]
            counts.append(np.asarray(week.counts, dtype=np.float32))
            wear.append(np.asarray(week.wear, dtype=bool))
            groups.append(patient)
            labels.append(float(np.mean(known) > threshold) if len(known) >= 4 else np.nan)
        if progress is not None:
            progress(done, len(files))
    return WeekSet.build(counts, wear, groups, labels)

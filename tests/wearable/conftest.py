"""Tiny PAT models and actigraphy weeks with a known shape, for the wearable tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import torch

from clarity.contracts import MINUTES_PER_WEEK, ActigraphyWeek, Envelope, Producer, event_id_for
from clarity.wearable import MinuteScaler, PATClassifier, PATConfig, WearableModel

TINY = PATConfig(patch_size=144, layers=1, heads=2, embed_dim=8, ff_dim=16, dropout=0.0)
START = datetime(2024, 1, 1, tzinfo=UTC)
_INGEST = Producer(service="ingest", model_name="actigraphy", model_version="1", code_version="0")


def week_arrays(
    rng: np.random.Generator, *, low: bool = False, worn: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """A week with a daily rhythm; ``low`` weeks move less; ``worn`` is the share kept on."""
    hour = (np.arange(MINUTES_PER_WEEK) % 1440) / 60
    level = (60 if low else 200) * (1 + np.cos(2 * np.pi * (hour - 15) / 24))
    counts = rng.gamma(2.0, level / 2 + 1)
    wear = np.ones(MINUTES_PER_WEEK, dtype=bool)
    wear[int(worn * MINUTES_PER_WEEK) :] = False
    counts[~wear] = 0
    return counts.round(), wear


def week_record(
    patient: str, week: int, counts: np.ndarray, wear: np.ndarray, zone: str = "UTC"
) -> Envelope:
    start = START + timedelta(weeks=week)
    return Envelope.new(
        event_id=event_id_for("test-week", patient, str(week)),
        topic="ingest.actigraphy",
        patient_id=patient,
        observed_at=start,
        source=f"test:{patient}:{week}",
        producer=_INGEST,
        payload=ActigraphyWeek(
            start=start,
            timezone=zone,
            counts=tuple(float(c) for c in counts),
            wear=tuple(bool(w) for w in wear),
        ),
    )


@pytest.fixture(scope="session")
def tiny_model() -> WearableModel:
    """Two untrained tiny heads over a scaler fitted on made-up weeks."""
    rng = np.random.default_rng(0)
    weeks = [week_arrays(rng, low=bool(i % 2)) for i in range(6)]
    scaler = MinuteScaler.fit(np.stack([w[0] for w in weeks]), np.stack([w[1] for w in weeks]))
    heads = {}
    for seed, name in enumerate(("depression", "poor_sleep")):
        torch.manual_seed(seed)
        heads[name] = PATClassifier(TINY).eval()
    return WearableModel(config=TINY, scaler=scaler, heads=heads, min_wear_fraction=0.7)

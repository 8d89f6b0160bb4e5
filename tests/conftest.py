"""Shared fixtures; optional servers are detected once here, and tests that need one skip."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

from clarity.bus import Bus, MemoryTransport, SqliteTransport
from clarity.contracts import Producer

# Test-size settings for every torch or LLM test (darts' tfm_kwargs_dev).
CPU_FAST = {"device": "cpu", "max_steps": 2}

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


def reference_missing(path: Path) -> str | None:
    """Return why a test needing reference data must skip, or None when it runs.

    ``make test`` sets ``CLARITY_REQUIRE_REFERENCE=1``: there a missing file is
    a failure (the test runs and fails on it), not a silent skip.
    """
    if path.exists() or os.environ.get("CLARITY_REQUIRE_REFERENCE") == "1":
        return None
    return f"reference data not found at {path} (set CLARITY_REQUIRE_REFERENCE=1 to fail)"


def needs(path: Path) -> pytest.MarkDecorator:
    """Mark a test that needs reference data (see :func:`reference_missing`)."""
    reason = reference_missing(path)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


BUS_BACKENDS = ["memory", "sqlite"]


_SEEDS = range(100) if os.environ.get("CLARITY_TEST_SEEDS") == "all" else range(3)


@pytest.fixture(params=_SEEDS, ids=lambda s: f"seed{s}")
def global_random_seed(request: pytest.FixtureRequest) -> int:
    """A seed; tests using it must pass for any seed in 0-99 (sklearn's contract).

    ``CLARITY_TEST_SEEDS=all`` runs all hundred; the default runs three.
    """
    seed = int(request.param)
    random.seed(seed)
    np.random.seed(seed)
    return seed


def make_transport(kind: str, path: Path) -> MemoryTransport | SqliteTransport:
    if kind == "memory":
        return MemoryTransport()
    if kind == "sqlite":
        return SqliteTransport(path / "bus.sqlite3", synchronous="NORMAL")
    raise AssertionError(kind)  # pragma: no cover


@pytest.fixture(params=BUS_BACKENDS)
def bus(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Bus]:
    """A fresh bus on each backend; every bus test runs against all of them."""
    with Bus(transport=make_transport(request.param, tmp_path)) as instance:
        yield instance


@pytest.fixture
def producer() -> Producer:
    return Producer(
        service="ingest", model_name="test-reader", model_version="1", code_version="0.0.0"
    )


@pytest.fixture
def when() -> datetime:
    return datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic cohort on disk (8 patients, 9 weeks), shared by the session."""
    from clarity.synth import CohortConfig, generate_cohort

    out = tmp_path_factory.mktemp("cohort") / "cohort"
    generate_cohort(
        CohortConfig(patients=8, days=63, seed=11, workers=1, reference_samples=200), out
    )
    return out

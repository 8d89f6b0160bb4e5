"""A synthetic cohort big enough for the PGx tests, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from clarity.synth import CohortConfig, generate_cohort

# The smallest cohort in which the adverse-event signal (rare poor metabolisers)
# shows reliably: about 230 courses, 180 of them with an adverse-event label; it
# also carries a few hundred diplotypes for the calling test.
PGX_COHORT = CohortConfig(
    patients=200, days=112, seed=3, ecg_seconds=5, workers=2, reference_samples=10
)


@pytest.fixture(scope="session")
def pgx_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cohort's directory (files and ground truth)."""
    out = tmp_path_factory.mktemp("pgx-cohort") / "cohort"
    generate_cohort(PGX_COHORT, out)
    return out

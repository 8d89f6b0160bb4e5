"""Tiny versions of the two evaluations: real learning on data with a known answer, in seconds.

The full runs (PAT-S, hundreds of patients, all 55 Depresjon subjects) are
``make eval``; these use a tiny PAT and small budgets and only ask for
learning clearly above chance.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from clarity.cli._wearable_data import depresjon_weeks, synthetic_weeks
from clarity.synth import CohortConfig, generate_cohort
from clarity.wearable import FinetuneSettings, PATConfig, PretrainSettings, WeekSet
from clarity.wearable.evaluation import EvaluationSettings, evaluate_label_efficiency, evaluate_loso
from tests.conftest import REPO, needs

DEPRESJON = REPO.parent / "shared" / "reference" / "depresjon"

TINY = EvaluationSettings(
    config=PATConfig(patch_size=144, layers=1, heads=2, embed_dim=16, ff_dim=32, dropout=0.1),
    pretraining=PretrainSettings(epochs=4, batch_size=16, patience=4),
    finetuning=FinetuneSettings(
        epochs=15, batch_size=8, learning_rate=1e-3, validation_fraction=0.0
    ),
    probing=FinetuneSettings(
        frozen=True, epochs=150, batch_size=16, learning_rate=3e-3, validation_fraction=0.0
    ),
    baselines=FinetuneSettings(epochs=8, batch_size=8, learning_rate=1e-3, validation_fraction=0.0),
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> WeekSet:
    out = tmp_path_factory.mktemp("wearable-eval") / "cohort"
    generate_cohort(CohortConfig(patients=40, days=28, seed=5, workers=1, reference_samples=0), out)
    return synthetic_weeks(out)


def test_synthetic_weeks__labels_follow_the_latent_truth(synthetic):
    assert len(synthetic) >= 100 and not np.isnan(synthetic.labels).any()
    assert 0.2 < synthetic.labels.mean() < 0.8
    # Depression lowers activity in the causal model: positive weeks move less.
    worn = [c[w].mean() for c, w in zip(synthetic.counts, synthetic.wear, strict=True)]
    activity = np.asarray(worn)
    assert activity[synthetic.labels == 1].mean() < activity[synthetic.labels == 0].mean()


def test_label_efficiency__every_arm_runs_and_pat_learns(synthetic):
    # Half the patients are tested: with fewer, one unusual patient can flip the AUC.
    result = evaluate_label_efficiency(synthetic, sizes=(6, 16), test_fraction=0.5, settings=TINY)
    assert {r.arm for r in result.results} == set(TINY.arms)
    assert [r.labelled_patients for r in result.results[:1]] == [6]
    assert result.pretraining_loss[-1] < result.pretraining_loss[0]  # pretraining learns
    # The pretrained encoder's embedding separates the weeks; every arm learns something.
    assert result.auc("PAT (LP)", 16) > 0.65, result.results
    assert np.mean([r.auc for r in result.results]) > 0.6, result.results


@needs(DEPRESJON)
def test_loso__depresjon_subjects_are_told_apart_above_chance():
    data = depresjon_weeks(DEPRESJON)
    assert len(np.unique(data.groups)) == 55  # every subject reads, day-first dates included
    # Every subject, but only the linear probe: the cheap arm that is still real
    # learning (a tiny encoder pretrained per fold, a probe per held-out subject).
    settings = replace(TINY, arms=("PAT (LP)",), probing=replace(TINY.probing, epochs=40))
    result = evaluate_loso(data, pretrain_folds=2, settings=settings)
    assert set(result.labels.values()) == {0, 1} and len(result.labels) == 55
    assert sum(result.labels.values()) == 23  # the dataset's 23 patients with depression
    lp = result.of("PAT (LP)")
    assert lp.auc > 0.65, lp
    assert lp.mcc > 0.1 and 0 <= lp.f1 <= 1 and lp.subjects == 55


def test_settings__refuse_unknown_arms():
    with pytest.raises(ValueError, match="unknown arms"):
        EvaluationSettings(arms=("PAT (FT)", "Random forest"))


def test_depresjon_weeks__needs_the_files(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no condition_N/control_N files"):
        depresjon_weeks(tmp_path)

"""The evaluation's measures, and the fastlmm PLINK example as an end-to-end integration test."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clarity.genotype import (
    VARIANT_COLUMNS,
    DosageMatrix,
    evaluate,
    fit_trait_models,
    ld_proxies,
    paired_difference,
    read_phenotypes,
    read_plink,
    recovery,
    snps_used,
)

EXAMPLES = Path(str(importlib.resources.files("fastlmm") / "feature_selection" / "examples"))


def _matrix(dosages: np.ndarray, chrom: list[str]) -> DosageMatrix:
    m = dosages.shape[1]
    variants = pd.DataFrame(
        {
            "chrom": chrom,
            "pos": np.arange(1, m + 1) * 1_000,
            "id": [f"v{j}" for j in range(m)],
            "ref": "A",
            "alt": "G",
        },
        columns=list(VARIANT_COLUMNS),
    )
    return DosageMatrix(
        dosages.astype(np.int8), tuple(f"s{i}" for i in range(len(dosages))), variants
    )


def test_ld_proxies__a_copy_on_the_same_chromosome_is_a_proxy_and_elsewhere_not():
    rng = np.random.default_rng(0)
    base = rng.binomial(2, 0.4, size=(300, 1))
    noise = rng.binomial(2, 0.4, size=(300, 2))
    # v0 causal; v1 its copy (same chromosome); v2 its copy on another chromosome; v3, v4 noise.
    dosages = np.hstack([base, base, base, noise])
    matrix = _matrix(dosages, ["chr1", "chr1", "chr2", "chr1", "chr1"])
    [found] = ld_proxies(matrix, [0])
    assert found == {"v0", "v1"}
    assert recovery(["v1", "v3"], [found]) == (0.5, 1.0)
    assert recovery([], [found]) == (0.0, 0.0)


def test_paired_difference__zero_for_equal_predictions_and_positive_for_a_better_one():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=400)
    y = truth + rng.normal(scale=0.5, size=400)
    good, poor = truth, truth + rng.normal(scale=1.5, size=400)

    def r2(a, b):
        return 1 - np.sum((a - b) ** 2) / np.sum((a - a.mean()) ** 2)

    assert paired_difference(y, good, good, r2) == (0.0, 0.0, 0.0)
    diff, low, high = paired_difference(y, good, poor, r2, n_boot=200)
    assert diff > 0 and 0 < low < high
    back, _, high_back = paired_difference(y, poor, good, r2, n_boot=200)
    assert back == pytest.approx(-diff) and high_back < 0
    # Stratified resamples keep both classes of a 0/1 outcome in every draw.
    case = (y > np.quantile(y, 0.9)).astype(float)
    seen = []

    def classes(a, b):
        seen.append(a.sum())
        return float(np.corrcoef(a, b)[0, 1])

    paired_difference(case, good, poor, classes, n_boot=50, stratify=True)
    assert set(seen) == {case.sum()}


def test_snps_used__counts_weights_coefficients_and_splits():
    rng = np.random.default_rng(2)
    dosages = rng.binomial(2, 0.3, size=(400, 30))
    matrix = _matrix(dosages, ["chr1"] * 30)
    y = 1.5 * dosages[:, 0] - 1.0 * dosages[:, 1] + rng.normal(scale=0.5, size=400)
    models = fit_trait_models(matrix, y, n_bootstrap=0, xgb_params={"nthread": 1})
    used = {kind: snps_used(model) for kind, model in models.items()}
    for kind, model in models.items():
        assert 2 <= used[kind] <= len(model.snp_ids), kind
    # The elastic net zeroes most of the 28 null SNPs; the ensemble's union is the largest.
    assert used["elastic_net"] < 30
    assert used["ensemble"] >= max(
        used["elastic_net"] if models["ensemble"].details["weights"][0] > 0 else 0,
        used["xgboost"] if models["ensemble"].details["weights"][1] > 0 else 0,
    )


def test_fastlmm_example__trains_on_its_split_and_invents_no_signal():
    matrix = read_plink(EXAMPLES / "toydata.5chrom.bed")
    train = read_phenotypes(EXAMPLES / "toydataTrain.phe")
    test = read_phenotypes(EXAMPLES / "toydataTest.phe")
    covariate = read_phenotypes(EXAMPLES / "toydata.cov").rename(columns={"PHENO1": "cov"})
    where = {s: i for i, s in enumerate(matrix.samples)}
    rows_train = np.array([where[s] for s in train.index])
    rows_test = np.array([where[s] for s in test.index])
    models = fit_trait_models(
        matrix.subset(samples=rows_train),
        train["PHENO1"].to_numpy(),
        covariates=covariate.loc[train.index].reset_index(drop=True),
        kinds=("prs_ct", "elastic_net", "xgboost"),
        n_bootstrap=0,
        xgb_params={"nthread": 1},
        trait="pheno1",
    )
    held = matrix.subset(samples=rows_test)
    cov_test = covariate.loc[test.index].reset_index(drop=True)
    r2 = {
        k: evaluate(m, held, test["PHENO1"].to_numpy(), cov_test)["r2"] for k, m in models.items()
    }
    # Measured: prs_ct -0.042, elastic_net 0.046, xgboost 0.002 on its 244 test people.
    assert all(-0.3 < value < 0.2 for value in r2.values()), r2
    assert all(np.isfinite(list(r2.values())))

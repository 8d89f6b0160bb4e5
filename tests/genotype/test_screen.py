"""Association screening and LD clumping (issue 8, stage 1)."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose
from scipy import stats

from clarity.errors import InputError
from clarity.genotype import (
    ASSOCIATION_COLUMNS,
    MISSING,
    Association,
    DosageMatrix,
    _screen,
    associate,
    clump,
)
from tests.genotype._simulated import simulated

# A few columns of different frequency: the first ones, the middle and the end of the matrix.
SNPS = [0, 17, 1_000, 2_345, 4_000]


def _matrix(dosages, pos, chrom="chr1"):
    m = dosages.shape[1]
    chroms = [chrom] * m if isinstance(chrom, str) else list(chrom)
    variants = pd.DataFrame(
        {
            "chrom": chroms,
            "pos": np.asarray(pos, dtype=np.int64),
            "id": [f"v{i}" for i in range(m)],
            "ref": "A",
            "alt": "G",
        }
    )
    return DosageMatrix(
        np.ascontiguousarray(dosages, dtype=np.int8),
        tuple(f"s{i}" for i in range(len(dosages))),
        variants,
    )


@pytest.fixture(scope="module")
def data():
    return simulated()


@pytest.fixture(scope="module")
def covariates(data):
    rng = np.random.default_rng(11)
    return rng.normal(size=(data.matrix.n_samples, 3))


def test_associate__linear_matches_statsmodels_ols_with_covariates(data, covariates):
    y = data.trait("additive") + covariates @ [0.4, -0.2, 0.1]
    table = associate(data.matrix, y, covariates=covariates)
    assert list(table.columns) == list(ASSOCIATION_COLUMNS)
    assert list(table.index) == list(data.matrix.variants["id"])
    for j in SNPS:
        x = data.matrix.to_float([j])[:, 0].astype(np.float64)
        fit = sm.OLS(y, sm.add_constant(np.column_stack([covariates, x]))).fit()
        row = table.iloc[j]
        assert_allclose(
            [row.beta, row.se, row.stat, row.p],
            [fit.params[-1], fit.bse[-1], fit.tvalues[-1], fit.pvalues[-1]],
            rtol=1e-6,
        )
        assert fit.df_resid == len(y) - covariates.shape[1] - 2


def test_associate__logistic_is_the_score_test_of_statsmodels(data, covariates):
    y = data.trait("depression_liability")
    table = associate(data.matrix, y, covariates=covariates, kind="logistic")
    null = sm.GLM(y, sm.add_constant(covariates), family=sm.families.Binomial()).fit(tol=1e-12)
    for j in SNPS:
        x = data.matrix.to_float([j])[:, [0]].astype(np.float64)
        score = null.score_test(exog_extra=x)
        assert_allclose(table.iloc[j].stat ** 2, score.statistic[0], rtol=1e-6)
        assert_allclose(table.iloc[j].p, score.pvalue[0], rtol=1e-6)


def test_associate__logistic_score_p_is_close_to_wald_p_for_common_variants(data, covariates):
    y = data.trait("depression_liability")
    table = associate(data.matrix, y, covariates=covariates, kind="logistic")
    common = np.flatnonzero(((table.af > 0.2) & (table.af < 0.8)).to_numpy())[::200][:6]
    for j in common:
        x = data.matrix.to_float([j])[:, 0].astype(np.float64)
        fit = sm.Logit(y, sm.add_constant(np.column_stack([covariates, x]))).fit(disp=0)
        assert abs(table.iloc[j].p - fit.pvalues[-1]) < 0.02
        # One Newton step from zero is close to the maximum-likelihood log odds ratio.
        assert abs(table.iloc[j].beta - fit.params[-1]) < 0.05


@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_associate__chunk_size_does_not_change_results(data, covariates, kind):
    trait = "additive" if kind == "linear" else "depression_liability"
    columns = np.arange(0, data.matrix.n_variants, 7)[:300]
    matrix = data.matrix.subset(variants=columns)
    y = data.trait(trait)
    whole = associate(matrix, y, covariates=covariates, kind=kind)
    for chunk in (1, 64, 299):
        chunked = associate(matrix, y, covariates=covariates, kind=kind, chunk_variants=chunk)
        pd.testing.assert_frame_equal(chunked, whole, rtol=1e-10)


@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_associate__rows_equal_a_copy_of_those_rows(data, covariates, kind):
    trait = "additive" if kind == "linear" else "depression_liability"
    columns = np.arange(0, data.matrix.n_variants, 11)[:200]
    matrix = data.matrix.subset(variants=columns)
    dosages = np.array(matrix.dosages)
    dosages[np.random.default_rng(2).uniform(size=dosages.shape) < 0.03] = MISSING
    holed = DosageMatrix(dosages, matrix.samples, matrix.variants)
    rows = np.random.default_rng(3).permutation(matrix.n_samples)[:700]
    y = data.trait(trait)[rows]
    copied = associate(holed.subset(samples=rows), y, covariates=covariates[rows], kind=kind)
    read = associate(holed, y, covariates=covariates[rows], kind=kind, rows=rows, chunk_variants=37)
    pd.testing.assert_frame_equal(read, copied, rtol=1e-10)
    # The means that fill no-calls are the rows' own, as in a copy.
    np.testing.assert_array_equal(
        holed.to_float([0, 5], rows=rows), holed.subset(samples=rows).to_float([0, 5])
    )
    with pytest.raises(InputError, match="one value per sample"):
        associate(holed, data.trait(trait), covariates=covariates, kind=kind, rows=rows)


def test_associate__missing_dosages_are_mean_imputed_and_not_counted(data, covariates):
    matrix = data.matrix.subset(variants=SNPS)
    dosages = matrix.dosages.copy()
    rng = np.random.default_rng(5)
    holes = rng.uniform(size=dosages.shape) < 0.05
    dosages[holes] = MISSING
    holed = DosageMatrix(dosages, matrix.samples, matrix.variants)
    y = data.trait("additive")
    table = associate(holed, y, covariates=covariates)
    assert table.notna().all().all()
    assert_allclose(table["n"], (~holes).sum(axis=0))
    called_mean = np.array(
        [matrix.dosages[~holes[:, j], j].mean() / 2 for j in range(len(SNPS))], dtype=np.float64
    )
    assert_allclose(table["af"], called_mean)
    for j in range(len(SNPS)):
        x = holed.to_float([j])[:, 0].astype(np.float64)
        assert x[holes[:, j]].min() == x[holes[:, j]].max()  # one value: the column mean
        fit = sm.OLS(y, sm.add_constant(np.column_stack([covariates, x]))).fit()
        assert_allclose(table.iloc[j][["beta", "p"]], [fit.params[-1], fit.pvalues[-1]], rtol=1e-6)


def test_associate__a_monomorphic_variant_has_no_statistics(data):
    dosages = np.ones((200, 2), dtype=np.int8)
    dosages[:, 1] = np.random.default_rng(0).integers(0, 3, 200)
    table = associate(_matrix(dosages, [1, 2]), np.random.default_rng(1).normal(size=200))
    assert table.iloc[0][["beta", "se", "stat", "p"]].isna().all()
    assert table.iloc[0]["af"] == 0.5
    assert table.iloc[1].notna().all()


def test_associate__a_repeated_covariate_changes_nothing(data, covariates):
    matrix = data.matrix.subset(variants=SNPS)
    y = data.trait("additive")
    once = associate(matrix, y, covariates=covariates)
    twice = associate(matrix, y, covariates=np.column_stack([covariates, covariates[:, 0]]))
    pd.testing.assert_frame_equal(once, twice, rtol=1e-8)


def _null_percentiles(data, trait, kind):
    """Percentile of each causal SNP's p among SNPs in no LD (r² < 0.1) with any causal SNP."""
    causal = data.causal(trait)
    x = data.matrix.to_float().astype(np.float64)
    x -= x.mean(axis=0)
    x /= np.where(x.std(axis=0) > 0, x.std(axis=0), 1)
    r2 = ((x[:, causal].T @ x / len(x)) ** 2).max(axis=0)
    p = associate(data.matrix, data.trait(trait), kind=kind)["p"].to_numpy()
    null = p[(r2 < 0.1) & np.isfinite(p)]
    return np.array([(null < p[c]).mean() for c in causal])


def test_associate__causal_snps_of_the_additive_trait_rank_far_above_null_snps(data):
    # Measured on this cohort: median percentile 0.027 (40 causal SNPs, ~2,900 null SNPs).
    percentile = _null_percentiles(data, "additive", "linear")
    assert np.median(percentile) < 0.05
    assert np.mean(percentile < 0.01) > 0.3


def _permuted_pvalues(data, trait, kind, min_af):
    """P-values of 8 variants spread over the matrix, for 300 permutations of a trait (rows)."""
    table = associate(data.matrix, data.trait(trait), kind=kind)
    common = np.flatnonzero(((table.af > min_af) & (table.af < 1 - min_af)).to_numpy())
    matrix = data.matrix.subset(variants=common[:: len(common) // 8][:8])
    rng = np.random.default_rng(2024)
    y = data.trait(trait)
    return np.array(
        [associate(matrix, rng.permutation(y), kind=kind)["p"].to_numpy() for _ in range(300)]
    )


def test_associate__linear_null_pvalues_are_uniform_over_permutations(data):
    # Across the variants of one permutation the p-values are correlated through LD, so a
    # KS test over variants is not valid (on this cohort it rejects for most permutations,
    # while on independent genotypes it does not); across permutations, one variant's
    # p-values are independent draws, uniform when the test is calibrated.
    p = _permuted_pvalues(data, "additive", "linear", min_af=0.05)
    for column in p.T:
        assert stats.kstest(column, "uniform").pvalue > 0.001


def test_associate__logistic_null_pvalues_have_the_nominal_error_rates(data):
    # A permuted 0/1 trait makes one variant's score statistic discrete (a count of cases
    # among carriers), so its p-values have atoms and a KS test against the continuous
    # uniform rejects a calibrated test; the error rates at fixed levels are the check.
    p = _permuted_pvalues(data, "depression_liability", "logistic", min_af=0.05).ravel()
    for alpha in (0.01, 0.05, 0.1, 0.5):
        tolerance = 4 * np.sqrt(alpha * (1 - alpha) / len(p))
        assert abs(np.mean(p < alpha) - alpha) < tolerance


def test_associate__rejects_bad_input(data):
    matrix = data.matrix.subset(variants=[0, 1])
    y = data.trait("additive")
    with pytest.raises(InputError, match="one value per sample"):
        associate(matrix, y[:-1])
    with pytest.raises(InputError, match="missing or infinite"):
        associate(matrix, np.where(np.arange(len(y)) == 3, np.nan, y))
    with pytest.raises(InputError, match="covariates"):
        associate(matrix, y, covariates=np.ones((5, 2)))
    with pytest.raises(InputError, match="0/1 trait"):
        associate(matrix, y, kind="logistic")
    with pytest.raises(ValueError, match="Allowed values are 'linear' and 'logistic'"):
        associate(matrix, y, kind="probit")
    with pytest.raises(ValueError, match="'chunk_variants' parameter"):
        associate(matrix, y, chunk_variants=0)


def test_association__checks_its_table_and_orders_by_p(data):
    table = associate(data.matrix.subset(variants=SNPS), data.trait("additive"))
    association = Association(table)
    top = association.top(3)
    assert top == list(table["p"].sort_values().index[:3])
    assert association.pvalues.equals(table["p"])
    with pytest.raises(ValueError, match="columns"):
        Association(table.drop(columns="af"))


# --------------------------------------------------------------------------- clump


def _correlated(rng, base, flips):
    """Return a copy of a dosage column with ``flips`` entries redrawn (less LD with more)."""
    out = base.copy()
    rows = rng.choice(len(base), flips, replace=False)
    out[rows] = rng.integers(0, 3, flips)
    return out


@pytest.fixture(scope="module")
def blocks():
    """Two LD blocks on chr1 (a0-a2 near 1 Mb, b0-b1 near 1.5 Mb) and an independent SNP c."""
    rng = np.random.default_rng(42)
    n = 800
    a = rng.integers(0, 3, n)
    b = rng.integers(0, 3, n)
    c = rng.integers(0, 3, n)
    columns = [
        a,
        _correlated(rng, a, 100),
        _correlated(rng, a, 250),
        b,
        _correlated(rng, b, 120),
        c,
    ]
    pos = [1_000_000, 1_010_000, 1_020_000, 1_500_000, 1_505_000, 1_200_000]
    matrix = _matrix(np.column_stack(columns), pos)
    p = pd.Series([1e-10, 1e-12, 1e-9, 1e-8, 1e-9, 1e-7], index=matrix.variants["id"])
    return matrix, p


def test_clump__two_ld_blocks_and_an_independent_snp(blocks):
    matrix, p = blocks
    # v1 leads block a (v0, v2 join it), v4 leads block b (v3 joins it), v5 is alone.
    assert clump(matrix, p, p_threshold=1e-6, r2=0.1) == ["v1", "v4", "v5"]


def test_clump__index_variants_come_in_p_order_and_respect_the_threshold(blocks):
    matrix, p = blocks
    assert clump(matrix, p, p_threshold=5e-8, r2=0.1) == ["v1", "v4"]  # v5 (1e-7) is not
    assert clump(matrix, p, p_threshold=1e-13) == []
    # A variant without a p-value is no candidate: v3 leads block b instead of v4.
    assert clump(matrix, p.drop("v4"), p_threshold=1e-6, r2=0.1) == ["v1", "v3", "v5"]


def test_clump__r2_threshold_is_strict_and_from_dosage_correlation(blocks):
    matrix, p = blocks
    x = matrix.to_float().astype(np.float64)
    r2 = np.corrcoef(x[:, 1], x[:, 2])[0, 1] ** 2
    assert 0.2 < r2 < 0.9
    assert "v2" not in clump(matrix, p, p_threshold=1e-6, r2=r2 - 1e-6)
    assert "v2" in clump(matrix, p, p_threshold=1e-6, r2=r2 + 1e-6)


def test_clump__window_is_inclusive_and_per_chromosome():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, 300)
    dosages = np.column_stack([a, a, a, a])
    p = pd.Series([1e-9, 1e-8, 1e-7, 1e-6], index=[f"v{i}" for i in range(4)])
    same = _matrix(dosages, [100, 100 + 5_000, 100 + 5_001, 100], chrom=["chr1"] * 3 + ["chr2"])
    # v1 is exactly one window from v0, v2 one base further; v3 is on another chromosome.
    assert clump(same, p, p_threshold=1e-5, r2=0.5, window_bp=5_000) == ["v0", "v2", "v3"]


def test_clump__p_secondary_below_p_threshold_keeps_weaker_variants_as_index(blocks):
    matrix, p = blocks
    # Members need p <= 10^-9.5: v0 still joins v1, but v2 and v3 (1e-9, 1e-8) may not join
    # anyone, so they lead clumps of their own.
    index = clump(matrix, p, p_threshold=1e-6, r2=0.1, p_secondary=10**-9.5)
    assert index == ["v1", "v2", "v4", "v3", "v5"]
    assert clump(matrix, p, p_threshold=1e-6, r2=0.1, p_secondary=0.01) == ["v1", "v4", "v5"]


def _clump_reference(matrix, p, p_threshold, r2, window_bp):
    """PLINK's procedure written plainly, with the full correlation matrix (small inputs only)."""
    x = matrix.to_float().astype(np.float64)
    r = np.corrcoef(x, rowvar=False)
    chrom = matrix.variants["chrom"].to_numpy()
    pos = matrix.variants["pos"].to_numpy()
    ids = list(matrix.variants["id"])
    values = p.reindex(ids).to_numpy()
    clumped, index = set(), []
    for i in sorted(np.flatnonzero(values <= p_threshold), key=lambda k: (values[k], k)):
        if i in clumped:
            continue
        index.append(ids[i])
        for j in np.flatnonzero(values <= p_threshold):
            near = chrom[j] == chrom[i] and abs(pos[j] - pos[i]) <= window_bp
            if near and r[i, j] ** 2 > r2:
                clumped.add(j)
    return index


@pytest.mark.parametrize(
    ("p_threshold", "r2", "window_bp"),
    [(1e-3, 0.1, 250_000), (1e-2, 0.5, 50_000), (1.0, 0.2, 10**7)],
)
def test_clump__matches_a_plain_reference_on_the_simulated_cohort(data, p_threshold, r2, window_bp):
    matrix = data.matrix.subset(variants=np.arange(0, data.matrix.n_variants, 3))
    p = associate(matrix, data.trait("additive"))["p"]
    expected = _clump_reference(matrix, p, p_threshold, r2, window_bp)
    assert clump(matrix, p, p_threshold=p_threshold, r2=r2, window_bp=window_bp) == expected
    assert len(expected) > 5


def test_clump__rejects_unknown_variants_and_bad_parameters(blocks):
    matrix, p = blocks
    with pytest.raises(InputError, match="lacks"):
        clump(matrix, pd.concat([p, pd.Series({"nope": 1e-9})]))
    with pytest.raises(ValueError, match="'r2' parameter"):
        clump(matrix, p, r2=1.5)
    with pytest.raises(ValueError, match="'window_bp' parameter"):
        clump(matrix, p, window_bp=-1)
    assert clump(matrix, p.where(p > 1e-12), p_threshold=1e-6, r2=0.1)[0] == "v0"  # NaN skipped


def test_clump__20000_variants_clump_quickly_in_bounded_memory(monkeypatch):
    rng = np.random.default_rng(9)
    n, m = 300, 20_000
    dosages = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(np.int8)
    chrom = np.where(np.arange(m) < m // 2, "chr1", "chr2")
    matrix = _matrix(dosages, (np.arange(m) % (m // 2)) * 1_000 + 1, chrom=chrom)
    p = pd.Series(rng.uniform(size=m), index=matrix.variants["id"])

    widest = []
    standardised = _screen._standardised

    def spy(matrix, columns):
        widest.append(len(columns))
        return standardised(matrix, columns)

    monkeypatch.setattr(_screen, "_standardised", spy)
    tracemalloc.start()
    started = time.perf_counter()
    index = clump(matrix, p, p_threshold=1.0, r2=0.1, window_bp=250_000)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Independent genotypes: nearly every variant leads its own clump.
    assert len(index) > 0.95 * m
    # A block of 512 candidates plus one window (251 variants at 1 kb spacing) at most...
    assert max(widest) <= 512 + 251
    # ...so far below the 3.2 GB of an all-pairs float64 matrix.
    assert peak < 64 * 2**20
    assert elapsed < 30

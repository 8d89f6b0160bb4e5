"""Quality control: call rates, allele frequency, exact HWE, and the filter order and counts."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from clarity.genotype import (
    MISSING,
    DosageMatrix,
    QcReport,
    allele_frequency,
    call_rate,
    hwe_pvalues,
    quality_control,
    read_plink,
)

M = int(MISSING)


def column(hom_ref: int, het: int, hom_alt: int, missing: int = 0) -> np.ndarray:
    """One variant's dosages with the given genotype counts."""
    return np.array([0] * hom_ref + [1] * het + [2] * hom_alt + [M] * missing, dtype=np.int8)


def matrix_of(columns: list[np.ndarray], ids: list[str] | None = None) -> DosageMatrix:
    dosages = np.stack(columns, axis=1).astype(np.int8)
    ids = ids or [f"v{j}" for j in range(dosages.shape[1])]
    variants = pd.DataFrame(
        {
            "chrom": ["chr1"] * len(ids),
            "pos": np.arange(1, len(ids) + 1, dtype=np.int64),
            "id": ids,
            "ref": ["A"] * len(ids),
            "alt": ["G"] * len(ids),
        }
    )
    return DosageMatrix(
        dosages=dosages, samples=tuple(f"s{i}" for i in range(dosages.shape[0])), variants=variants
    )


# ---------------------------------------------------------------- call rate and frequency


def test_call_rate__per_variant_and_per_sample():
    dosages = np.array([[0, M, 2], [1, M, M], [2, 1, 0], [M, M, 1]], dtype=np.int8)
    np.testing.assert_allclose(call_rate(dosages, axis=0), [3 / 4, 1 / 4, 3 / 4])
    np.testing.assert_allclose(call_rate(dosages, axis=1), [2 / 3, 1 / 3, 1, 1 / 3])
    for axis in (0, 1):
        np.testing.assert_array_equal(
            call_rate(dosages, axis, chunk_variants=1), call_rate(dosages, axis)
        )
    with pytest.raises(ValueError, match=r"'axis' parameter of call_rate must be 0 or 1"):
        call_rate(dosages, axis=2)
    assert np.isnan(call_rate(np.zeros((0, 2), dtype=np.int8), axis=0)).all()


def test_allele_frequency__counts_alt_alleles_among_calls():
    dosages = np.stack(
        [column(2, 1, 1), column(0, 0, 4), column(1, 1, 0, missing=2), column(0, 0, 0, 4)], axis=1
    )
    frequency = allele_frequency(dosages, chunk_variants=3)
    np.testing.assert_allclose(frequency[:3], [3 / 8, 1.0, 1 / 4])
    assert np.isnan(frequency[3])


def test_allele_frequency__values_outside_the_coding_are_refused():
    dosages = np.array([[0, 1], [3, 2]], dtype=np.int8)
    with pytest.raises(ValueError, match=r"variant column 0 holds \[0, 3\]"):
        allele_frequency(dosages)
    with pytest.raises(ValueError, match="2-D int8"):
        allele_frequency(dosages.astype(np.float32))


def test_statistics__a_memmap_is_read_in_chunks_with_the_same_result(tmp_path, global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    values = rng.choice(
        np.array([0, 1, 2, M], dtype=np.int8), size=(50, 37), p=[0.4, 0.3, 0.2, 0.1]
    )
    mapped = np.memmap(tmp_path / "d.i8", dtype=np.int8, mode="w+", shape=values.shape, order="F")
    mapped[:] = values
    for function in (allele_frequency, hwe_pvalues):
        np.testing.assert_array_equal(function(mapped, chunk_variants=4), function(values))
    np.testing.assert_array_equal(call_rate(mapped, 1, chunk_variants=4), call_rate(values, 1))


# ---------------------------------------------------------------- exact HWE


def enumerated_hwe(n: int, rare: int, het: int) -> float:
    """Exact HWE p-value by listing every placement of the rare alleles among 2n gametes.

    Under HWE, given the allele counts, each placement is equally likely; person i
    holds gametes 2i and 2i+1.
    """
    counts: dict[int, int] = {}
    for placed in itertools.combinations(range(2 * n), rare):
        chosen = set(placed)
        hets = sum((2 * i in chosen) != (2 * i + 1 in chosen) for i in range(n))
        counts[hets] = counts.get(hets, 0) + 1
    observed = counts[het]
    return sum(c for c in counts.values() if c <= observed) / math.comb(2 * n, rare)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 6])
def test_hwe_pvalues__equal_enumeration_of_every_small_table(n):
    columns, expected = [], []
    for rare in range(0, n + 1):
        for het in range(rare % 2, rare + 1, 2):
            hom_rare = (rare - het) // 2
            hom_common = n - het - hom_rare
            # Put the rare allele on either side: the test must not depend on which is ALT.
            columns += [column(hom_common, het, hom_rare), column(hom_rare, het, hom_common)]
            expected += [enumerated_hwe(n, rare, het)] * 2
    dosages = np.stack(columns, axis=1)
    np.testing.assert_allclose(hwe_pvalues(dosages), expected, rtol=1e-9)


def levene_pvalue(n: int, rare: int, het: int) -> Fraction:
    """Exact HWE p-value with rational arithmetic on Levene's formula."""

    def probability(h: int) -> Fraction:
        rare_homs = (rare - h) // 2
        return Fraction(
            2**h * math.factorial(n) * math.factorial(rare) * math.factorial(2 * n - rare),
            math.factorial(h)
            * math.factorial(rare_homs)
            * math.factorial(n - h - rare_homs)
            * math.factorial(2 * n),
        )

    observed = probability(het)
    return sum(
        (p for h in range(rare % 2, rare + 1, 2) if (p := probability(h)) <= observed),
        Fraction(0),
    )


@pytest.mark.parametrize(
    ("hom_ref", "het", "hom_alt"),
    [(57, 14, 29), (30, 40, 30), (90, 0, 10), (0, 100, 0), (64, 32, 4), (99, 1, 0), (25, 50, 25)],
)
def test_hwe_pvalues__equal_rational_arithmetic_at_moderate_size(hom_ref, het, hom_alt):
    n = hom_ref + het + hom_alt
    rare = min(2 * hom_ref + het, 2 * hom_alt + het)
    expected = float(levene_pvalue(n, rare, het))
    (got,) = hwe_pvalues(column(hom_ref, het, hom_alt, missing=7)[:, None])
    assert got == pytest.approx(expected, rel=1e-9)


def test_hwe_pvalues__agree_with_a_chi_square_test_for_large_counts():
    n = 20_000
    columns, chi_square = [], []
    for frequency in (0.5, 0.3):
        for shift in (-0.03, -0.02, -0.01, -0.005, 0.0, 0.005, 0.01, 0.02, 0.03):
            het = round(2 * frequency * (1 - frequency) * n * (1 + shift))
            hom_alt = round((2 * frequency * n - het) / 2)
            hom_ref = n - het - hom_alt
            observed = np.array([hom_ref, het, hom_alt])
            p = (het + 2 * hom_alt) / (2 * n)
            expected = n * np.array([(1 - p) ** 2, 2 * p * (1 - p), p**2])
            chi_square.append(chi2.sf(((observed - expected) ** 2 / expected).sum(), df=1))
            columns.append(column(hom_ref, het, hom_alt))
    exact = hwe_pvalues(np.stack(columns, axis=1))
    assert min(chi_square) < 1e-3  # the grid reaches into the tail
    np.testing.assert_allclose(np.log10(exact), np.log10(chi_square), atol=0.05)


def test_hwe_pvalues__no_calls_and_monomorphic_variants():
    dosages = np.stack([column(0, 0, 0, missing=5), column(5, 0, 0), column(0, 0, 5)], axis=1)
    p = hwe_pvalues(dosages)
    assert np.isnan(p[0])
    assert p[1:].tolist() == [1.0, 1.0]


# ---------------------------------------------------------------- quality_control


def designed_cohort() -> DosageMatrix:
    """40 good samples and a last one called at 1 of 7 variants; each variant fails a known step.

    Every good sample misses at most 1 of the 7 variants (call rate 6/7 = 0.857).
    """
    good_samples = {
        "good": column(10, 20, 10),
        # Missing in samples 37-39: 37/40 = 92.5 % called.
        "low_call": column(12, 17, 8, missing=3),
        # One copy of ALT in 80 alleles: MAF 1/80 = 0.0125.
        "rare": column(39, 1, 0),
        # 40 heterozygotes and no homozygote: p far below 1e-6.
        "out_of_hwe": column(0, 40, 0),
        # Missing in samples 0-4 (35/40 called) and monomorphic: counted at call rate only.
        "low_call_and_rare": np.roll(column(35, 0, 0, missing=5), 5),
        "monomorphic": column(40, 0, 0),
        "typical": column(16, 18, 6),
    }
    bad_sample = np.full((1, len(good_samples)), M, dtype=np.int8)
    bad_sample[0, 0] = 1
    dosages = np.vstack([np.stack(list(good_samples.values()), axis=1), bad_sample])
    return matrix_of(list(dosages.T), ids=list(good_samples))


def test_quality_control__removes_the_designed_failures_at_each_step():
    matrix = designed_cohort()
    kept, report = quality_control(
        matrix, min_call_rate=0.98, min_sample_call_rate=0.8, min_maf=0.0125, hwe_p=1e-6
    )
    assert report == QcReport(
        variants_in=7,
        removed_call_rate=2,
        removed_maf=1,
        removed_hwe=1,
        variants_out=3,
        samples_in=41,
        removed_samples_call_rate=1,
        samples_out=40,
        min_call_rate=0.98,
        min_sample_call_rate=0.8,
        min_maf=0.0125,
        hwe_p=1e-6,
    )
    # 'rare' sits exactly at the MAF threshold, and a value at its threshold passes.
    assert list(kept.variants["id"]) == ["good", "rare", "typical"]
    assert kept.samples == matrix.samples[:40]
    np.testing.assert_array_equal(kept.dosages, np.asarray(matrix.dosages)[:40][:, [0, 2, 6]])

    stricter, report = quality_control(
        matrix, min_call_rate=0.98, min_sample_call_rate=0.8, min_maf=0.02, hwe_p=1e-6
    )
    assert (report.removed_call_rate, report.removed_maf, report.removed_hwe) == (2, 2, 1)
    assert list(stricter.variants["id"]) == ["good", "typical"]


def test_quality_control__samples_are_filtered_before_variants():
    # Kept, the bad sample is missing at 6 variants, so each is called in 40/41 < 0.98.
    _, report = quality_control(
        designed_cohort(), min_call_rate=0.98, min_sample_call_rate=0, min_maf=0, hwe_p=0
    )
    assert (report.removed_samples_call_rate, report.removed_call_rate) == (0, 6)


def test_quality_control__thresholds_of_zero_keep_everything_called():
    matrix = designed_cohort()
    kept, report = quality_control(
        matrix, min_call_rate=0, min_sample_call_rate=0, min_maf=0, hwe_p=0
    )
    assert (report.variants_out, report.samples_out) == (7, 41)
    np.testing.assert_array_equal(kept.dosages, matrix.dosages)


def test_quality_control__writes_a_memmap_when_asked(tmp_path):
    matrix = designed_cohort()
    options = {"min_call_rate": 0.98, "min_sample_call_rate": 0.8, "min_maf": 0.0125}
    in_memory, report = quality_control(matrix, **options)
    out = tmp_path / "kept.i8"
    mapped, mapped_report = quality_control(matrix, **options, out=out, chunk_variants=1)
    assert isinstance(mapped.dosages, np.memmap) and out.stat().st_size == 40 * 3
    assert mapped_report == report
    np.testing.assert_array_equal(mapped.dosages, in_memory.dosages)
    pd.testing.assert_frame_equal(mapped.variants, in_memory.variants)


def test_quality_control__thresholds_are_checked():
    with pytest.raises(ValueError, match=r"'min_maf' parameter of quality_control .* Got 1.5"):
        quality_control(designed_cohort(), min_maf=1.5)


def test_quality_control__synthetic_cohort_counts_add_up(cohort):
    matrix = read_plink(cohort / "genotypes" / "reference.bed")
    kept, report = quality_control(matrix, min_maf=0.05, hwe_p=1e-4)
    removed = report.removed_call_rate + report.removed_maf + report.removed_hwe
    assert report.variants_in - removed == report.variants_out == kept.n_variants
    assert report.removed_call_rate == 0  # the simulation has no missing calls
    assert report.removed_maf > 0  # msprime gives many rare variants
    frequency = allele_frequency(kept.dosages)
    assert (np.minimum(frequency, 1 - frequency) >= 0.05).all()
    assert (hwe_pvalues(kept.dosages) >= 1e-4).all()

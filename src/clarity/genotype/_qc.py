"""Quality control of a dosage matrix: call rates, allele frequency, Hardy-Weinberg equilibrium.

Every statistic is computed from blocks of variant columns, so a memory-mapped
matrix is never loaded whole; with the variant-major layout the readers write,
each block is one contiguous read. :func:`quality_control` applies the filters
in the order PLINK users expect (sample call rate, then variant call rate,
minor allele frequency and Hardy-Weinberg equilibrium on the samples kept), and
counts what each step removed; a variant is counted at the first step it fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clarity.genotype._dosage import MISSING, DosageMatrix
from clarity.genotype._storage import _allocate, _finish

__all__ = ["QcReport", "allele_frequency", "call_rate", "hwe_pvalues", "quality_control"]

_CHUNK_BYTES = 64 * 2**20
# Probabilities within this relative distance count as ties of the observed one; without it
# rounding in exp() can drop one of two equally likely tables from a symmetric distribution.
_TIE = 1e-7


@dataclass(frozen=True)
class QcReport:
    """How many samples and variants each quality-control step removed.

    Parameters
    ----------
    variants_in
        Variants before quality control.
    removed_call_rate
        Variants called in fewer than ``min_call_rate`` of the samples kept.
    removed_maf
        Variants, of those left, with minor allele frequency below ``min_maf``.
    removed_hwe
        Variants, of those left, with an exact Hardy-Weinberg p-value below ``hwe_p``.
    variants_out
        Variants kept.
    samples_in
        Samples before quality control.
    removed_samples_call_rate
        Samples called at fewer than ``min_sample_call_rate`` of all variants.
    samples_out
        Samples kept.
    min_call_rate, min_sample_call_rate, min_maf, hwe_p
        The thresholds used.
    """

    variants_in: int
    removed_call_rate: int
    removed_maf: int
    removed_hwe: int
    variants_out: int
    samples_in: int
    removed_samples_call_rate: int
    samples_out: int
    min_call_rate: float
    min_sample_call_rate: float
    min_maf: float
    hwe_p: float


def _step(dosages: np.ndarray, chunk_variants: int | None) -> int:
    if chunk_variants is not None:
        if isinstance(chunk_variants, bool) or chunk_variants < 1:
            raise ValueError(
                "The 'chunk_variants' parameter must be an int in the range [1, inf) or None. "
                f"Got {chunk_variants!r} instead."
            )
        return int(chunk_variants)
    return max(1, _CHUNK_BYTES // max(1, int(dosages.shape[0])))


def _check_dosages(dosages: np.ndarray) -> None:
    if dosages.ndim != 2 or dosages.dtype != np.int8:
        raise ValueError(
            "The 'dosages' must be a 2-D int8 array (samples x variants); got "
            f"{dosages.ndim}-D {dosages.dtype}."
        )


def _genotype_counts(
    dosages: np.ndarray, rows: np.ndarray | None = None, chunk_variants: int | None = None
) -> np.ndarray:
    """Return counts of dosage 0, 1 and 2 per variant (variants x 3), over ``rows`` only."""
    _check_dosages(dosages)
    n = dosages.shape[0] if rows is None else len(rows)
    m = dosages.shape[1]
    counts = np.zeros((m, 3), dtype=np.int64)
    step = _step(dosages, chunk_variants)
    for start in range(0, m, step):
        stop = min(start + step, m)
        block = np.asarray(dosages[:, start:stop] if rows is None else dosages[rows, start:stop])
        for value in range(3):
            counts[start:stop, value] = (block == value).sum(axis=0)
        accounted = counts[start:stop].sum(axis=1) + (block == MISSING).sum(axis=0)
        odd = np.flatnonzero(accounted != n)
        if len(odd):
            column = start + int(odd[0])
            values = np.unique(block[:, odd[0]])
            raise ValueError(
                f"Dosages must be 0, 1, 2 or MISSING ({int(MISSING)}); variant column {column} "
                f"holds {values.tolist()}."
            )
    return counts


def call_rate(dosages: np.ndarray, axis: int, *, chunk_variants: int | None = None) -> np.ndarray:
    """Return the fraction of calls that are not missing, per variant or per sample.

    Parameters
    ----------
    dosages
        int8 samples x variants (an array or a ``numpy.memmap``).
    axis
        0 to reduce over samples (one rate per variant), 1 to reduce over
        variants (one rate per sample), as numpy's ``axis`` does.
    chunk_variants
        Variant columns read at a time; by default a block of about 64 MiB.

    Returns
    -------
    numpy.ndarray
        float64 rates in [0, 1]; NaN where there is nothing to count (no
        samples, or no variants).

    Raises
    ------
    ValueError
        When ``axis`` is not 0 or 1, or ``dosages`` is not 2-D int8.
    """
    _check_dosages(dosages)
    if axis not in (0, 1):
        raise ValueError(f"The 'axis' parameter of call_rate must be 0 or 1. Got {axis!r} instead.")
    n, m = dosages.shape
    called = np.zeros(m if axis == 0 else n, dtype=np.int64)
    step = _step(dosages, chunk_variants)
    for start in range(0, m, step):
        stop = min(start + step, m)
        present = np.asarray(dosages[:, start:stop]) != MISSING
        if axis == 0:
            called[start:stop] = present.sum(axis=0)
        else:
            called += present.sum(axis=1)
    total = n if axis == 0 else m
    with np.errstate(invalid="ignore", divide="ignore"):
        rates: np.ndarray = called / total if total else np.full(called.shape, np.nan)
    return rates


def _frequency(counts: np.ndarray) -> np.ndarray:
    called = counts.sum(axis=1)
    alt = counts[:, 1] + 2 * counts[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        frequency: np.ndarray = np.where(called > 0, alt / (2 * called), np.nan)
    return frequency


def allele_frequency(dosages: np.ndarray, *, chunk_variants: int | None = None) -> np.ndarray:
    """Return the frequency of the ALT allele among the called genotypes of each variant.

    Parameters
    ----------
    dosages
        int8 samples x variants (an array or a ``numpy.memmap``).
    chunk_variants
        Variant columns read at a time; by default a block of about 64 MiB.

    Returns
    -------
    numpy.ndarray
        float64 per variant; NaN for a variant with no call. The minor allele
        frequency is ``numpy.minimum(f, 1 - f)``.

    Raises
    ------
    ValueError
        When ``dosages`` is not 2-D int8 or holds a value other than 0, 1, 2
        and MISSING.
    """
    return _frequency(_genotype_counts(dosages, chunk_variants=chunk_variants))


def _hwe_exact(het: np.ndarray, hom_ref: np.ndarray, hom_alt: np.ndarray) -> np.ndarray:
    """Return exact HWE p-values from genotype counts (see :func:`hwe_pvalues`)."""
    n = het + hom_ref + hom_alt
    rare = np.minimum(2 * hom_ref + het, 2 * hom_alt + het)
    pvalues = np.full(len(n), np.nan)
    if len(n) == 0 or n.max() == 0:
        return pvalues
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n.max() + 1)))])
    # Variants with the same sample size and rare-allele count share one null distribution.
    keys, inverse = np.unique(np.stack([n, rare], axis=1), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(keys) + 1))
    for group, (size, copies) in enumerate(keys):
        members = order[bounds[group] : bounds[group + 1]]
        if size == 0:
            continue
        # Heterozygote counts possible with `copies` rare alleles in `size` people have
        # the parity of `copies` (the rare homozygotes carry the rest in pairs).
        hets = np.arange(copies % 2, copies + 1, 2)
        rare_homs = (copies - hets) // 2
        common_homs = size - hets - rare_homs
        # Levene's conditional probability up to a constant: 2^het / (het! hom1! hom2!).
        log_p = (
            hets * np.log(2.0)
            - log_factorial[hets]
            - log_factorial[rare_homs]
            - log_factorial[common_homs]
        )
        relative = np.exp(log_p - log_p.max())
        ranked = np.sort(relative)
        tail = np.cumsum(ranked)
        position = np.searchsorted(ranked, relative * (1 + _TIE), side="right") - 1
        by_het = np.minimum(1.0, tail[position] / tail[-1])
        pvalues[members] = by_het[(het[members] - copies % 2) // 2]
    return pvalues


def hwe_pvalues(dosages: np.ndarray, *, chunk_variants: int | None = None) -> np.ndarray:
    """Return the exact Hardy-Weinberg equilibrium test p-value of each variant [1]_.

    Given the number of called samples and of rare alleles, the number of
    heterozygotes follows Levene's distribution under HWE; the p-value is the
    total probability of the heterozygote counts no more likely than the one
    observed (the test of Wigginton, Cutler and Abecasis). The distribution is
    computed in log space from factorials rather than by their recurrence,
    which gives the same probabilities without overflow, once per distinct
    (samples, rare alleles) pair.

    Parameters
    ----------
    dosages
        int8 samples x variants (an array or a ``numpy.memmap``); missing calls
        are left out of the test.
    chunk_variants
        Variant columns read at a time; by default a block of about 64 MiB.

    Returns
    -------
    numpy.ndarray
        float64 p-values in (0, 1], per variant (0 only where the probability
        underflows); NaN for a variant with no call.

    Raises
    ------
    ValueError
        When ``dosages`` is not 2-D int8 or holds a value other than 0, 1, 2
        and MISSING.

    References
    ----------
    .. [1] Wigginton JE, Cutler DJ, Abecasis GR. A note on exact tests of
       Hardy-Weinberg equilibrium. Am J Hum Genet. 2005;76(5):887-893.

    Examples
    --------
    Twenty heterozygotes and no homozygote are unlikely under HWE; 5, 10 and 5
    are what it expects:

    >>> import numpy as np
    >>> from clarity.genotype import hwe_pvalues
    >>> dosages = np.array([[1, 0]] * 5 + [[1, 1]] * 10 + [[1, 2]] * 5, dtype=np.int8)
    >>> [f"{p:.3g}" for p in hwe_pvalues(dosages)]
    ['8.95e-06', '1']
    """
    counts = _genotype_counts(dosages, chunk_variants=chunk_variants)
    return _hwe_exact(counts[:, 1], counts[:, 0], counts[:, 2])


def _check_fraction(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(
            f"The {name!r} parameter of quality_control must be a float in the range [0, 1]. "
            f"Got {value!r} instead."
        )


def quality_control(
    matrix: DosageMatrix,
    *,
    min_call_rate: float = 0.95,
    min_sample_call_rate: float = 0.9,
    min_maf: float = 0.01,
    hwe_p: float = 1e-6,
    out: Path | str | None = None,
    chunk_variants: int | None = None,
) -> tuple[DosageMatrix, QcReport]:
    """Remove poorly called samples, then poorly called, rare and out-of-HWE variants.

    Steps, in order, each on what the previous ones kept:

    1. samples called at fewer than ``min_sample_call_rate`` of all variants;
    2. variants called in fewer than ``min_call_rate`` of the samples kept;
    3. variants with minor allele frequency below ``min_maf``;
    4. variants with exact HWE p-value (:func:`hwe_pvalues`) below ``hwe_p``.

    A value equal to its threshold passes. A variant with no call fails step 2
    (or step 3 when ``min_call_rate`` is 0). With no variant at all, no sample
    is judged. HWE is tested on every sample kept; where cases carry a true
    association, test on controls and pass ``hwe_p=0`` here.

    Parameters
    ----------
    matrix
        The dosages to check.
    min_call_rate
        Least fraction of samples a variant must be called in.
    min_sample_call_rate
        Least fraction of variants a sample must be called at.
    min_maf
        Least minor allele frequency (0 keeps monomorphic variants).
    hwe_p
        Least HWE p-value (0 turns the test off).
    out
        Where to write the kept dosages as a raw variant-major int8
        memory-mapped file, a block of columns at a time; when None the kept
        matrix is copied into memory (:meth:`DosageMatrix.subset`).
    chunk_variants
        Variant columns read at a time; by default a block of about 64 MiB.

    Returns
    -------
    kept : DosageMatrix
        The samples and variants that passed, in their original order.
    report : QcReport
        Counts in and out, removed at each step, and the thresholds.

    Raises
    ------
    ValueError
        When a threshold is outside [0, 1], or a dosage is not 0, 1, 2 or MISSING.
    """
    for value, name in (
        (min_call_rate, "min_call_rate"),
        (min_sample_call_rate, "min_sample_call_rate"),
        (min_maf, "min_maf"),
        (hwe_p, "hwe_p"),
    ):
        _check_fraction(value, name)
    dosages = matrix.dosages
    n, m = matrix.n_samples, matrix.n_variants
    if m:
        sample_rate = call_rate(dosages, axis=1, chunk_variants=chunk_variants)
        rows = np.flatnonzero(sample_rate >= min_sample_call_rate)
    else:
        rows = np.arange(n)
    counts = _genotype_counts(dosages, rows if len(rows) < n else None, chunk_variants)
    called = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        variant_rate = called / len(rows) if len(rows) else np.full(m, np.nan)
    passed_rate = variant_rate >= min_call_rate
    frequency = _frequency(counts)
    maf = np.minimum(frequency, 1 - frequency)
    passed_maf = passed_rate & (maf >= min_maf)
    tested = np.flatnonzero(passed_maf)
    pvalues = _hwe_exact(counts[tested, 1], counts[tested, 0], counts[tested, 2])
    columns = tested[pvalues >= hwe_p]
    kept = (
        matrix.subset(samples=rows, variants=columns)
        if out is None
        else _subset_to(matrix, rows, columns, Path(out), _step(dosages, chunk_variants))
    )
    report = QcReport(
        variants_in=m,
        removed_call_rate=int(m - passed_rate.sum()),
        removed_maf=int(passed_rate.sum() - len(tested)),
        removed_hwe=int(len(tested) - len(columns)),
        variants_out=len(columns),
        samples_in=n,
        removed_samples_call_rate=int(n - len(rows)),
        samples_out=len(rows),
        min_call_rate=float(min_call_rate),
        min_sample_call_rate=float(min_sample_call_rate),
        min_maf=float(min_maf),
        hwe_p=float(hwe_p),
    )
    return kept, report


def _subset_to(
    matrix: DosageMatrix, rows: np.ndarray, columns: np.ndarray, out: Path, step: int
) -> DosageMatrix:
    """Write the kept rows and columns to a memory-mapped file, a block of columns at a time."""
    target = _allocate(len(rows), len(columns), out)
    try:
        for start in range(0, len(columns), step):
            block = columns[start : start + step]
            target[:, start : start + len(block)] = matrix.dosages[np.ix_(rows, block)]
        dosages = _finish(target, out)
    except BaseException:
        del target
        out.unlink(missing_ok=True)
        raise
    return DosageMatrix(
        dosages=dosages,
        samples=tuple(matrix.samples[i] for i in rows),
        variants=matrix.variants.iloc[columns].reset_index(drop=True),
    )

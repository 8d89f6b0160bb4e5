"""The genotype matrix every stage reads: alt-allele dosages as int8, samples by variants.

A cohort's genotypes are kept as 0/1/2 copies of the alternative allele in one
byte each, with :data:`MISSING` for no call, never as a dense float matrix of
every variant: 100,000 people by 50,000 variants is 5 GB as int8 and 40 GB as
float64. Large matrices live in a memory-mapped file (``numpy.memmap``), so a
stage reads the columns it needs in chunks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["MISSING", "VARIANT_COLUMNS", "DosageMatrix"]

MISSING = np.int8(-127)
"""The no-call value (bed-reader's int8 convention)."""

VARIANT_COLUMNS = ("chrom", "pos", "id", "ref", "alt")
"""Columns of :attr:`DosageMatrix.variants`, in order."""


@dataclass(frozen=True)
class DosageMatrix:
    """Alt-allele dosages of samples at variants.

    Parameters
    ----------
    dosages
        int8 array (or ``numpy.memmap``) of shape ``(n_samples, n_variants)``:
        0, 1 or 2 copies of ``alt``, :data:`MISSING` where not called.
    samples
        Sample ids, one per row.
    variants
        One row per column: ``chrom`` (str, e.g. ``"chr1"``), ``pos`` (int,
        1-based), ``id`` (str, unique), ``ref`` and ``alt`` (str).

    Raises
    ------
    ValueError
        If the shapes, dtype or variant table do not agree.
    """

    dosages: np.ndarray
    samples: tuple[str, ...]
    variants: pd.DataFrame

    def __post_init__(self) -> None:
        if self.dosages.dtype != np.int8 or self.dosages.ndim != 2:
            raise ValueError(
                "The 'dosages' of a DosageMatrix must be a 2-D int8 array; got "
                f"{self.dosages.ndim}-D {self.dosages.dtype}."
            )
        n, m = self.dosages.shape
        if len(self.samples) != n:
            raise ValueError(f"{len(self.samples)} sample ids for {n} rows of dosages.")
        if tuple(self.variants.columns) != VARIANT_COLUMNS or len(self.variants) != m:
            raise ValueError(
                f"The 'variants' table must have the columns {list(VARIANT_COLUMNS)} and one "
                f"row per column of dosages ({m}); got {list(self.variants.columns)} with "
                f"{len(self.variants)} rows."
            )

    @property
    def n_samples(self) -> int:
        """Number of samples (rows)."""
        return int(self.dosages.shape[0])

    @property
    def n_variants(self) -> int:
        """Number of variants (columns)."""
        return int(self.dosages.shape[1])

    def subset(
        self,
        *,
        samples: Sequence[int] | np.ndarray | None = None,
        variants: Sequence[int] | np.ndarray | None = None,
    ) -> DosageMatrix:
        """Return the rows and columns given by integer indices (all when None), in memory.

        Parameters
        ----------
        samples
            Row indices of the samples to keep, in the order wanted; ``None``
            keeps every sample.
        variants
            Column indices of the variants to keep, in the order wanted;
            ``None`` keeps every variant.

        Returns
        -------
        DosageMatrix
            A new matrix whose dosages are a contiguous in-memory copy (never a
            memmap), with the matching sample ids and a re-indexed variant table.
        """
        rows = np.arange(self.n_samples) if samples is None else np.asarray(samples)
        cols = np.arange(self.n_variants) if variants is None else np.asarray(variants)
        return DosageMatrix(
            dosages=np.ascontiguousarray(self.dosages[np.ix_(rows, cols)]),
            samples=tuple(self.samples[i] for i in rows),
            variants=self.variants.iloc[cols].reset_index(drop=True),
        )

    def to_float(
        self,
        columns: Sequence[int] | np.ndarray | None = None,
        *,
        rows: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Return dosages of some columns as float32, missing set to the column mean.

        Mean imputation keeps a sample with a no-call in the model without
        moving the estimate; only the columns asked for are converted.

        Parameters
        ----------
        columns
            Indices of the variant columns to convert; ``None`` converts all.
        rows
            Indices of the samples to convert (the means are theirs); ``None``
            converts all. Only the columns read are indexed, so the matrix
            itself is never copied.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``(len(rows), len(columns))``; each missing
            dosage is replaced by the mean of the called dosages in its column,
            or 0 where the column has no call.
        """
        block = self.dosages if columns is None else self.dosages[:, np.asarray(columns)]
        if rows is not None:
            block = np.asarray(block)[np.asarray(rows)]
        values = block.astype(np.float32)
        missing = block == MISSING
        values[missing] = np.nan
        # A column with no call at all gets 0 (no information), without nanmean's warning.
        called = (~missing).sum(axis=0)
        totals = np.where(missing, 0.0, values).sum(axis=0)
        means = np.divide(
            totals, called, out=np.zeros(values.shape[1], dtype=np.float64), where=called > 0
        ).astype(np.float32)
        rows, cols = np.nonzero(missing)
        values[rows, cols] = means[cols]
        return values

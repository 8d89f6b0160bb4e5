"""Put a patient's genotypes on a model's variants: matched by position and alleles, not by id.

A model is trained on one cohort's variant table; a patient's file comes from
another lab, array or imputation, with other ids (rsIDs, ``chrom:pos``, none)
and sometimes the two alleles the other way round. :func:`align_to` finds
each model variant in the patient's matrix by chromosome, position and the
pair of alleles: the same REF and ALT count ALT copies as the model does; REF
and ALT swapped count the other allele, so the dosage is ``2 - d``. A variant
the file lacks, or holds with other alleles, becomes a no-call, which the
model fills with its training mean, and is counted, so that a score resting
on too few of the model's variants can be refused.

Both files must be on the forward strand of the same genome build (as VCF
always is). A strand flip (``A/G`` against ``T/C``) is counted as other alleles,
never complemented: for ``A/T`` and ``C/G`` variants a flip cannot be told
from a swap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from clarity.errors import InputError
from clarity.genotype._dosage import MISSING, VARIANT_COLUMNS, DosageMatrix

__all__ = ["Alignment", "align_to"]


@dataclass(frozen=True)
class Alignment:
    """A matrix on a model's variants, and how each variant was found.

    Parameters
    ----------
    matrix
        The samples' dosages in the order and with the ids of the model's
        variant table; :data:`~clarity.genotype.MISSING` where a variant was
        not found.
    matched
        Variants found with the same REF and ALT.
    swapped
        Variants found with REF and ALT the other way round (dosage ``2 - d``).
    other_alleles
        Variants at the position, but with other alleles (another variant,
        or the other strand): treated as not found.
    absent
        Variants at a position the file does not have.
    repeated
        Variants the file holds more than once (two array probes of one SNP,
        or both allele orders): a sample's calls are merged when they agree,
        and missing when they do not.
    """

    matrix: DosageMatrix
    matched: int
    swapped: int
    other_alleles: int
    absent: int
    repeated: int = 0

    @property
    def found(self) -> int:
        """Variants found (matched or swapped)."""
        return self.matched + self.swapped

    @property
    def missing(self) -> int:
        """Variants not found (absent, or with other alleles)."""
        return self.other_alleles + self.absent


def align_to(matrix: DosageMatrix, variants: pd.DataFrame) -> Alignment:
    """Return the samples' dosages at a model's variants.

    Parameters
    ----------
    matrix
        The samples' dosages, with any ids and in any variant order.
    variants
        The model's variant table (the columns of
        :data:`~clarity.genotype.VARIANT_COLUMNS`).

    Returns
    -------
    Alignment
        The aligned matrix and the counts of how each variant was found.

    Raises
    ------
    InputError
        If ``variants`` lacks a column.

    Examples
    --------
    >>> table = pd.DataFrame(
    ...     {"chrom": ["chr1", "chr1"], "pos": [100, 200], "id": ["rs1", "rs2"],
    ...      "ref": ["A", "C"], "alt": ["G", "T"]}
    ... )
    >>> theirs = table.assign(id=["x", "y"], ref=["G", "C"], alt=["A", "T"])
    >>> patient = DosageMatrix(np.array([[2, 1]], dtype=np.int8), ("p1",), theirs)
    >>> aligned = align_to(patient, table)
    >>> aligned.matrix.dosages.tolist(), aligned.matched, aligned.swapped
    ([[0, 1]], 1, 1)
    """
    lacking = [c for c in VARIANT_COLUMNS if c not in variants.columns]
    if lacking:
        raise InputError(f"The model's variant table lacks the columns {lacking}.")
    theirs = matrix.variants
    where: dict[tuple[str, int, str, str], list[int]] = {}
    keys = zip(
        theirs["chrom"], theirs["pos"].astype(int), theirs["ref"], theirs["alt"], strict=True
    )
    for column, key in enumerate(keys):
        where.setdefault(key, []).append(column)
    at_position = {(chrom, pos) for chrom, pos, _, _ in where}
    n = matrix.n_samples
    out = np.full((n, len(variants)), MISSING, dtype=np.int8, order="F")
    matched = swapped = other = absent = repeated = 0
    rows = zip(
        variants["chrom"],
        variants["pos"].astype(int),
        variants["ref"],
        variants["alt"],
        strict=True,
    )
    for j, (chrom, pos, ref, alt) in enumerate(rows):
        same = where.get((chrom, pos, ref, alt), [])
        turned = where.get((chrom, pos, alt, ref), [])
        if not same and not turned:
            if (chrom, pos) in at_position:
                other += 1
            else:
                absent += 1
            continue
        calls = [np.asarray(matrix.dosages[:, c]) for c in same]
        for c in turned:
            values = np.asarray(matrix.dosages[:, c])
            calls.append(np.where(values == MISSING, MISSING, 2 - values).astype(np.int8))
        out[:, j] = calls[0] if len(calls) == 1 else _merged(np.column_stack(calls))
        matched += bool(same)
        swapped += not same
        repeated += len(calls) > 1
    table = variants[list(VARIANT_COLUMNS)].reset_index(drop=True)
    return Alignment(
        matrix=DosageMatrix(dosages=out, samples=matrix.samples, variants=table),
        matched=matched,
        swapped=swapped,
        other_alleles=other,
        absent=absent,
        repeated=repeated,
    )


def _merged(calls: np.ndarray) -> np.ndarray:
    """Merge several records of one variant (samples x records): agreeing calls, else missing."""
    called = calls != MISSING
    low = np.where(called, calls, 3).min(axis=1)
    high = np.where(called, calls, -1).max(axis=1)
    merged = np.where(called.any(axis=1) & (low == high), low, MISSING)
    return merged.astype(np.int8)

"""Stage 1 of the genotype service: per-SNP association screening and LD clumping.

:func:`associate` tests every variant against a trait, with covariates, in
column chunks, so a memory-mapped matrix is never converted to floats whole.
:func:`clump` reduces the significant variants to one index variant per LD
block, the way PLINK's ``--clump`` does [1]_, computing r² only between
variants inside one window of each other.

References
----------
.. [1] Purcell S, et al. "PLINK: a tool set for whole-genome association and
   population-based linkage analyses." Am J Hum Genet 2007;81(3):559-575
   (section "LD-based result clumping");
   https://zzz.bwh.harvard.edu/plink/clump.shtml
.. [2] Frisch R, Waugh FV. "Partial time regressions as compared with
   individual trends." Econometrica 1933;1(4):387-401.
.. [3] Rao CR. "Large sample tests of statistical hypotheses concerning
   several parameters with applications to problems of estimation." Math
   Proc Camb Philos Soc 1948;44(1):50-57 (the score test).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from clarity.errors import InputError
from clarity.genotype._dosage import MISSING, DosageMatrix

__all__ = ["ASSOCIATION_COLUMNS", "Association", "associate", "clump"]

ASSOCIATION_COLUMNS = ("beta", "se", "stat", "p", "n", "af")
"""Columns of an association table, in order (see :func:`associate`)."""

# A dosage column whose variance left after the covariates is below this (per sample)
# carries no information: its slope is undefined, not huge.
_DEGENERATE = 1e-10
# Candidate variants per block when correlating for clumping: a block and the variants
# within one window after it are the largest correlation matrix ever built.
_CLUMP_BLOCK = 512


@dataclass(frozen=True)
class Association:
    """An association table, checked: one row per variant id.

    Parameters
    ----------
    table
        A frame from :func:`associate`: indexed by variant id, with the
        columns of :data:`ASSOCIATION_COLUMNS`.

    Raises
    ------
    ValueError
        If the columns differ or a variant id is repeated.
    """

    table: pd.DataFrame

    def __post_init__(self) -> None:
        if tuple(self.table.columns) != ASSOCIATION_COLUMNS:
            raise ValueError(
                f"An association table must have the columns {list(ASSOCIATION_COLUMNS)}; "
                f"got {list(self.table.columns)}."
            )
        if not self.table.index.is_unique:
            raise ValueError("An association table must have one row per variant id.")

    @property
    def pvalues(self) -> pd.Series:
        """P-value per variant id (NaN where the variant could not be tested)."""
        return self.table["p"]

    def top(self, k: int) -> list[str]:
        """Return the ``k`` variant ids with the smallest p-values, smallest first.

        Untestable variants (p is NaN) come last; ties keep the table's order.

        Parameters
        ----------
        k
            How many ids to return (all when the table is shorter).

        Returns
        -------
        list of str
            Variant ids in p-value order.
        """
        p = self.table["p"].to_numpy(dtype=np.float64)
        order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
        return [str(v) for v in self.table.index.to_numpy()[order[: max(k, 0)]]]


def _check_trait(
    matrix: DosageMatrix, y: np.ndarray, covariates: np.ndarray | None, n: int | None = None
) -> np.ndarray:
    """Return the design of the covariates with an intercept first, after checking shapes.

    ``n`` is the number of samples used (default: the matrix's).
    """
    n = matrix.n_samples if n is None else n
    if y.ndim != 1 or len(y) != n:
        raise InputError(
            f"The trait 'y' must hold one value per sample ({n}); got shape {y.shape}."
        )
    if not np.all(np.isfinite(y)):
        raise InputError(
            "The trait 'y' has missing or infinite values; drop those samples first "
            "(DosageMatrix.subset)."
        )
    design = np.ones((n, 1))
    if covariates is not None:
        cov = np.asarray(covariates, dtype=np.float64)
        cov = cov.reshape(n, -1) if cov.ndim == 1 and len(cov) == n else cov
        if cov.ndim != 2 or len(cov) != n:
            raise InputError(
                f"The 'covariates' must be an array of shape ({n}, k); got shape {cov.shape}."
            )
        if not np.all(np.isfinite(cov)):
            raise InputError("The 'covariates' have missing or infinite values.")
        design = np.hstack([design, cov])
    return design


def _basis(design: np.ndarray) -> np.ndarray:
    """Return an orthonormal basis of the column space of ``design``.

    SVD rather than QR, so a covariate that repeats another (or the intercept)
    drops out instead of making the projection singular.
    """
    u, s, _ = np.linalg.svd(design, full_matrices=False)
    rank = int(np.sum(s > s[0] * max(design.shape) * np.finfo(np.float64).eps))
    return u[:, :rank]


def _chunks(m: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, m, size):
        yield np.arange(start, min(start + size, m))


def _null_logistic(design: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return fitted probabilities of the covariates-only logistic model.

    Newton-Raphson (IRLS) to machine precision: a few covariates make this a
    handful of tiny solves, and the score test needs the exact null maximum,
    which library defaults (tolerances around 1e-4, or a penalty) do not give.
    """
    beta = np.zeros(design.shape[1])
    mean = float(y.mean())
    beta[0] = np.log(mean / (1 - mean))  # the intercept-only maximum, a safe start
    for _ in range(100):
        mu = 1 / (1 + np.exp(-(design @ beta)))
        w = mu * (1 - mu)
        hessian = design.T @ (design * w[:, None])
        step = np.linalg.lstsq(hessian, design.T @ (y - mu), rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-12 * (1 + np.max(np.abs(beta))):
            break
    else:
        raise InputError(
            "The covariates-only logistic model did not converge: the covariates may "
            "separate cases from controls."
        )
    fitted: np.ndarray = 1 / (1 + np.exp(-(design @ beta)))
    return fitted


def associate(
    matrix: DosageMatrix,
    y: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    kind: Literal["linear", "logistic"] = "linear",
    chunk_variants: int = 2_000,
    rows: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Test every variant for association with a trait, adjusting for covariates.

    ``linear``: ordinary least squares of ``y`` on an intercept, the
    covariates and the dosage. By the Frisch-Waugh-Lovell theorem [2]_ the
    dosage's slope, standard error and t statistic equal those of the full
    regression when the covariates are projected out of ``y`` once and out of
    each dosage column, so a chunk of columns is one matrix product; the t
    test has ``n - k - 2`` degrees of freedom (``k`` covariates).

    ``logistic``: the score (Rao) test [3]_ of the dosage under the
    covariates-only logistic model, which is fitted once: ``U = x'(y - mu)``
    and its variance ``V = x'Wx - x'WC (C'WC)^-1 C'Wx``, with ``z = U / sqrt(V)``
    compared with a normal. It needs no per-variant fit, so it is vectorised
    like the linear test. ``beta = U / V`` is one Newton step from zero (the
    log odds ratio to first order) and ``se = 1 / sqrt(V)``; the p-value is
    the score test's, which matches a Wald test closely for common variants
    of small effect and is better calibrated for rare ones.

    Missing dosages are set to the variant's mean (:meth:`DosageMatrix.to_float`).

    Parameters
    ----------
    matrix
        Dosages of the samples at the variants.
    y
        Trait value per sample, in the matrix's sample order; 0/1 for ``logistic``.
    covariates
        Array of shape ``(n_samples, k)``, without an intercept (one is
        always added); None for none.
    kind
        ``"linear"`` for a quantitative trait, ``"logistic"`` for a binary one.
    chunk_variants
        Columns converted to floats at a time: bounds memory at
        ``n_samples * chunk_variants`` doubles, and does not change results.
    rows
        Test on these samples only (row indices); ``y`` and ``covariates``
        are then theirs, in this order. Each chunk of columns is read and
        indexed, so a cross-validation fold never copies the whole matrix.

    Returns
    -------
    pandas.DataFrame
        Indexed by variant id, with the columns of :data:`ASSOCIATION_COLUMNS`:
        ``beta`` (effect per alt allele), ``se``, ``stat`` (t for linear, z for
        logistic), ``p`` (two-sided), ``n`` (samples with a call) and ``af``
        (alt allele frequency among them). A variant left without variance by
        the covariates (for example a monomorphic one) has NaN statistics.

    Raises
    ------
    ValueError
        If ``kind`` or ``chunk_variants`` is not allowed.
    InputError
        If ``y`` or ``covariates`` do not fit the matrix, are not finite, or
        ``y`` is not 0/1 with both classes for ``logistic``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> dosages = rng.integers(0, 3, size=(200, 3)).astype(np.int8)
    >>> variants = pd.DataFrame(
    ...     {"chrom": "chr1", "pos": [10, 20, 30], "id": ["a", "b", "c"], "ref": "A", "alt": "G"}
    ... )
    >>> matrix = DosageMatrix(dosages, tuple(f"s{i}" for i in range(200)), variants)
    >>> y = 0.5 * dosages[:, 0] + rng.normal(size=200)
    >>> table = associate(matrix, y)
    >>> list(table.columns)
    ['beta', 'se', 'stat', 'p', 'n', 'af']
    >>> table["p"].idxmin()
    'a'
    """
    if kind not in ("linear", "logistic"):
        raise ValueError(
            "Invalid value for the 'kind' parameter. Allowed values are 'linear' and "
            f"'logistic', but got {kind!r} instead."
        )
    if not isinstance(chunk_variants, int | np.integer) or chunk_variants < 1:
        raise ValueError(
            "The 'chunk_variants' parameter of associate must be an int in the range "
            f"[1, inf). Got {chunk_variants!r} instead."
        )
    y = np.asarray(y, dtype=np.float64)
    picked = None if rows is None else np.asarray(rows, dtype=np.intp)
    n = matrix.n_samples if picked is None else len(picked)
    design = _check_trait(matrix, y, covariates, n)
    m = matrix.n_variants
    out = np.full((m, 4), np.nan)
    called = np.zeros(m, dtype=np.int64)
    freq = np.full(m, np.nan)

    if kind == "linear":
        basis = _basis(design)
        df = n - basis.shape[1] - 1
        if df < 1:
            raise InputError(f"{n} samples are too few for {basis.shape[1]} covariate terms.")
        y_res = y - basis @ (basis.T @ y)
        yy = float(y_res @ y_res)
    else:
        if not np.all((y == 0) | (y == 1)) or y.min() == y.max():
            raise InputError(
                "A 'logistic' association needs a 0/1 trait with both classes; got values "
                f"{np.unique(y)[:5].tolist()}."
            )
        mu = _null_logistic(design, y)
        root_w = np.sqrt(mu * (1 - mu))
        basis = _basis(design * root_w[:, None])
        resid = y - mu

    for columns in _chunks(m, int(chunk_variants)):
        block = np.asarray(matrix.dosages[:, columns[0] : columns[-1] + 1])
        if picked is not None:
            block = block[picked]
        calls = block != MISSING
        called[columns] = calls.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            freq[columns] = np.where(calls, block, 0).sum(axis=0) / (2 * called[columns])
        x = matrix.to_float(columns, rows=picked).astype(np.float64)
        if kind == "linear":
            x -= basis @ (basis.T @ x)
            sxx = np.einsum("ij,ij->j", x, x)
            sxy = x.T @ y_res
            ok = sxx > _DEGENERATE * n
            beta = sxy[ok] / sxx[ok]
            rss = np.maximum(yy - beta * sxy[ok], 0.0)
            se = np.sqrt(rss / df / sxx[ok])
            with np.errstate(divide="ignore", invalid="ignore"):
                stat = beta / se
            p = 2 * stats.t.sf(np.abs(stat), df)
        else:
            u = x.T @ resid
            xw = x * root_w[:, None]
            xw -= basis @ (basis.T @ xw)
            v = np.einsum("ij,ij->j", xw, xw)
            ok = v > _DEGENERATE * n
            beta = u[ok] / v[ok]
            se = 1 / np.sqrt(v[ok])
            stat = u[ok] * se
            p = 2 * stats.norm.sf(np.abs(stat))
        out[columns[ok]] = np.column_stack([beta, se, stat, p])

    table = pd.DataFrame(out, columns=list(ASSOCIATION_COLUMNS[:4]))
    table["n"] = called
    table["af"] = freq
    table.index = pd.Index(matrix.variants["id"].astype(str).to_numpy(), name="id")
    return table


def _standardised(matrix: DosageMatrix, columns: np.ndarray) -> np.ndarray:
    """Return columns centred and scaled to unit variance (zero for a monomorphic one)."""
    x = matrix.to_float(columns).astype(np.float64)
    x -= x.mean(axis=0)
    sd = x.std(axis=0)
    z: np.ndarray = np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
    return z


def _linked_pairs(
    matrix: DosageMatrix, columns: np.ndarray, pos: np.ndarray, *, r2: float, window_bp: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return pairs (i, j), i < j, of positions in ``columns`` within the window with r² > r2.

    ``columns`` are the candidate variants of one chromosome in position
    order. Blocks of :data:`_CLUMP_BLOCK` candidates are correlated with
    themselves and with the candidates up to one window past the block, so
    each pair within the window is computed once and no matrix is ever larger
    than a block by a block plus a window.
    """
    firsts: list[np.ndarray] = []
    seconds: list[np.ndarray] = []
    n = matrix.n_samples
    for start in range(0, len(columns), _CLUMP_BLOCK):
        stop = min(start + _CLUMP_BLOCK, len(columns))
        reach = int(np.searchsorted(pos, pos[stop - 1] + window_bp, side="right"))
        z = _standardised(matrix, columns[start:reach])
        r = z[:, : stop - start].T @ z / n
        i, j = np.nonzero(r**2 > r2)
        i, j = i + start, j + start
        keep = (j > i) & (pos[j] - pos[i] <= window_bp)
        firsts.append(i[keep])
        seconds.append(j[keep])
    return np.concatenate(firsts), np.concatenate(seconds)


def clump(
    matrix: DosageMatrix,
    pvalues: pd.Series,
    *,
    p_threshold: float = 5e-8,
    r2: float = 0.1,
    window_bp: int = 250_000,
    p_secondary: float | None = None,
) -> list[str]:
    """Return one index variant per LD clump of significant variants (PLINK ``--clump``).

    As in PLINK [1]_: variants with ``p <= p_threshold`` that are not yet in a
    clump become index variants, in increasing order of p; each takes into
    its clump every variant on the same chromosome within ``window_bp`` of it
    (``|pos - pos_index| <= window_bp``), with ``p <= p_secondary`` and an r²
    with it above ``r2``; a variant in a clump is never an index variant
    later. r² is the squared correlation of dosages across samples (the
    genotype r² of PLINK 1.9, not a phased haplotype r²), missing calls set
    to the variant's mean; ties in p keep the matrix's order.

    Only pairs of candidate index variants (``p <= p_threshold``) inside one
    window are correlated, block by block: never all pairs.

    Parameters
    ----------
    matrix
        The genotypes to measure LD in (the study's own, or a reference panel
        with the same variant ids).
    pvalues
        P-value per variant id; ids the series lacks, and NaN p-values, are
        never candidates.
    p_threshold
        Largest p of an index variant (PLINK ``--clump-p1``).
    r2
        A variant joins an index variant's clump when its r² with it is
        greater than this (PLINK ``--clump-r2``).
    window_bp
        Largest distance in base pairs from the index variant (PLINK
        ``--clump-kb`` times 1,000).
    p_secondary
        Largest p of a variant that joins a clump (PLINK ``--clump-p2``);
        None for ``p_threshold``. Only a value below ``p_threshold`` changes
        which variants are index variants (PLINK's default of 0.01 lists more
        clump members, but the same index variants).

    Returns
    -------
    list of str
        Index variant ids, in increasing order of p.

    Raises
    ------
    ValueError
        If a threshold or the window is out of range.
    InputError
        If ``pvalues`` names variants the matrix lacks, or repeats one.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> a = rng.integers(0, 3, 300)
    >>> b = rng.integers(0, 3, 300)
    >>> dosages = np.column_stack([a, a, b]).astype(np.int8)
    >>> variants = pd.DataFrame(
    ...     {"chrom": "chr1", "pos": [100, 200, 300], "id": ["x", "y", "z"], "ref": "A", "alt": "C"}
    ... )
    >>> matrix = DosageMatrix(dosages, tuple(str(i) for i in range(300)), variants)
    >>> clump(matrix, pd.Series({"x": 1e-9, "y": 1e-10, "z": 1e-8}))
    ['y', 'z']
    """
    for name, value in (("p_threshold", p_threshold), ("r2", r2)):
        if not 0 <= value <= 1:
            raise ValueError(
                f"The {name!r} parameter of clump must be a float in the range [0, 1]. "
                f"Got {value!r} instead."
            )
    if p_secondary is not None and not 0 <= p_secondary <= 1:
        raise ValueError(
            "The 'p_secondary' parameter of clump must be a float in the range [0, 1] or "
            f"None. Got {p_secondary!r} instead."
        )
    if window_bp < 0:
        raise ValueError(
            "The 'window_bp' parameter of clump must be an int in the range [0, inf). "
            f"Got {window_bp!r} instead."
        )
    if not pvalues.index.is_unique:
        raise InputError("The 'pvalues' series repeats variant ids.")
    ids = matrix.variants["id"].astype(str)
    unknown = pvalues.index.difference(pd.Index(ids))
    if len(unknown):
        raise InputError(
            f"The 'pvalues' series names {len(unknown)} variants the matrix lacks, e.g. "
            f"{', '.join(map(str, unknown[:3]))}."
        )
    p_second = p_threshold if p_secondary is None else p_secondary
    p = pvalues.reindex(ids).to_numpy(dtype=np.float64)
    # Members that are not index candidates never absorb anyone, so they cannot change
    # the index variants: only candidates are correlated.
    candidate = np.flatnonzero(np.nan_to_num(p, nan=np.inf) <= p_threshold)
    if len(candidate) == 0:
        return []

    chrom = matrix.variants["chrom"].astype(str).to_numpy()
    pos = matrix.variants["pos"].to_numpy(dtype=np.int64)
    # Neighbours of each candidate (by column) through pairs of linked candidates.
    first_parts, second_parts = [], []
    for name in pd.unique(chrom[candidate]):
        on_chrom = candidate[chrom[candidate] == name]
        on_chrom = on_chrom[np.argsort(pos[on_chrom], kind="stable")]
        i, j = _linked_pairs(matrix, on_chrom, pos[on_chrom], r2=r2, window_bp=window_bp)
        first_parts.append(on_chrom[i])
        second_parts.append(on_chrom[j])
    first = np.concatenate([*first_parts, *second_parts])
    second = np.concatenate([*second_parts, *first_parts])
    order = np.argsort(first, kind="stable")
    first, second = first[order], second[order]
    bounds = np.searchsorted(first, np.arange(matrix.n_variants + 1))

    clumped = np.zeros(matrix.n_variants, dtype=bool)
    index: list[str] = []
    for column in candidate[np.argsort(p[candidate], kind="stable")]:
        if clumped[column]:
            continue
        index.append(str(ids.iloc[column]))
        clumped[column] = True
        neighbours = second[bounds[column] : bounds[column + 1]]
        clumped[neighbours[p[neighbours] <= p_second]] = True
    return index

"""Measures of the genotype evaluation: selector recovery, SNPs used, paired held-out differences.

These score a fitted pipeline against a simulation's truth: which causal
variants a SNP selection found (LD proxies count, as a tag SNP predicts as
well as the causal one it tags), how many variants each model actually uses,
and whether one model beats another on the same held-out samples by more than
the noise of those samples (a paired bootstrap).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from clarity.genotype._boosted import BoostedPart, StackedPart
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._features import Part
from clarity.genotype._prs import PenalisedPart, ScorePart
from clarity.genotype._trait_model import TraitModel

__all__ = ["ld_proxies", "paired_difference", "recovery", "snps_used"]

_CHUNK = 2_000


def _standardised(matrix: DosageMatrix, columns: np.ndarray) -> np.ndarray:
    x = matrix.to_float(columns).astype(np.float64)
    x -= x.mean(axis=0)
    sd = x.std(axis=0)
    z: np.ndarray = np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
    return z


def ld_proxies(matrix: DosageMatrix, causal: Sequence[int], *, r2: float = 0.5) -> list[set[str]]:
    """Return, per causal column, the ids of the variants on its chromosome in LD with it.

    Parameters
    ----------
    matrix
        The dosages the LD is measured on.
    causal
        Column indices of the causal variants.
    r2
        Least squared correlation of a proxy.

    Returns
    -------
    list of set of str
        Per causal variant, its own id and those of its proxies; the matrix
        is read a chunk of columns at a time.
    """
    columns_of = np.asarray(causal, dtype=np.int64)
    ids = matrix.variants["id"].astype(str).to_numpy()
    chrom = matrix.variants["chrom"].astype(str).to_numpy()
    z_causal = _standardised(matrix, columns_of)
    found: list[set[str]] = [{ids[c]} for c in columns_of]
    n = matrix.n_samples
    for start in range(0, matrix.n_variants, _CHUNK):
        columns = np.arange(start, min(start + _CHUNK, matrix.n_variants))
        r = z_causal.T @ _standardised(matrix, columns) / n
        for k, c in enumerate(columns_of):
            hits = columns[(r[k] ** 2 > r2) & (chrom[columns] == chrom[c])]
            found[k].update(ids[hits])
    return found


def recovery(selected: Sequence[str], proxies: Sequence[set[str]]) -> tuple[float, float]:
    """Return (precision, recall) of a selection against causal variants and their proxies.

    Parameters
    ----------
    selected
        Ids of the selected variants.
    proxies
        Per causal variant, the ids that count as finding it
        (:func:`ld_proxies`).

    Returns
    -------
    tuple of float
        Precision: the share of selected variants that are a causal one or
        a proxy of one. Recall: the share of causal variants with a selected
        proxy.
    """
    chosen = set(selected)
    tagged = set().union(*proxies) if proxies else set()
    precision = len(chosen & tagged) / len(chosen) if chosen else 0.0
    recall = sum(bool(p & chosen) for p in proxies) / len(proxies) if proxies else 0.0
    return precision, recall


def _used(part: Part, threshold: float) -> set[str]:
    if isinstance(part, ScorePart):
        return {s for s, b in zip(part.snps, part.betas, strict=True) if abs(b) > threshold}
    if isinstance(part, PenalisedPart):
        coef = np.ravel(part.pipeline[-1].coef_)
        return {f for f, c in zip(part.features, coef, strict=True) if abs(c) > threshold}
    if isinstance(part, BoostedPart):
        splits = part.booster.get_score(importance_type="weight")
        return {f for i, f in enumerate(part.features) if splits.get(f"f{i}", 0) > 0}
    if isinstance(part, StackedPart):
        linear, boosted = part.weights
        return (_used(part.linear, threshold) if linear > 0 else set()) | (
            _used(part.boosted, threshold) if boosted > 0 else set()
        )
    raise TypeError(f"Unknown model part {type(part).__name__}.")  # pragma: no cover


def snps_used(model: TraitModel) -> int:
    """Return how many of a model's SNPs change its predictions.

    Parameters
    ----------
    model
        A fitted model.

    Returns
    -------
    int
        ``prs_ct``: SNPs with a weight; ``elastic_net``: SNPs with a non-zero
        coefficient; ``xgboost``: SNPs some tree splits on; ``ensemble``: the
        union over the parts with a positive stacking weight. Covariates are
        not counted.
    """
    return len(_used(model.part, 0.0) & set(model.snp_ids))


def paired_difference(
    y: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], float],
    *,
    n_boot: int = 500,
    seed: int = 0,
    stratify: bool = False,
) -> tuple[float, float, float]:
    """Return ``metric(first) - metric(second)`` on the same samples, with a 95 % interval.

    The samples are resampled with replacement and both predictions scored
    on each resample, so the interval reflects the noise of this held-out
    set for the difference itself (the two models' errors are correlated).

    Parameters
    ----------
    y
        Held-out outcomes.
    first, second
        The two models' predictions of them.
    metric
        ``metric(y, prediction)``, higher better (R², AUC).
    n_boot
        Bootstrap resamples.
    seed
        Seed of the resamples.
    stratify
        Resample each value of ``y`` separately (for a 0/1 outcome, so every
        resample holds both classes in their held-out proportion, as AUC
        needs).

    Returns
    -------
    tuple of float
        The difference, and the 2.5 % and 97.5 % bootstrap quantiles.
    """
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == v) for v in np.unique(y)] if stratify else [np.arange(len(y))]
    observed = metric(y, first) - metric(y, second)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        rows = np.concatenate([rng.choice(g, size=len(g)) for g in groups])
        draws[b] = metric(y[rows], first[rows]) - metric(y[rows], second[rows])
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(observed), float(low), float(high)

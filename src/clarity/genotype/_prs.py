"""Stage 3 of the genotype service, linear half: population-structure PCs and polygenic scores.

:func:`principal_components` gives the genotype principal components that
every trait model takes as covariates, with a :class:`PcaModel` that scores a
new patient in the reference cohort's PCs. The two linear trait models live
here too: the classical clumping-and-thresholding polygenic score [2]_ and a
penalised (elastic net) regression [3]_; :mod:`clarity.genotype._models`
wraps them, with XGBoost and the stacked ensemble, into trait models.

References
----------
.. [1] Patterson N, Price AL, Reich D. "Population structure and
   eigenanalysis." PLoS Genet 2006;2(12):e190 (the standardisation).
.. [2] Choi SW, Mak TS, O'Reilly PF. "Tutorial: a guide to performing
   polygenic risk score analyses." Nat Protoc 2020;15(9):2759-2772.
.. [3] Zou H, Hastie T. "Regularization and variable selection via the
   elastic net." J R Stat Soc B 2005;67(2):301-320.
.. [4] Halko N, Martinsson PG, Tropp JA. "Finding structure with randomness:
   probabilistic algorithms for constructing approximate matrix
   decompositions." SIAM Rev 2011;53(2):217-288.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from clarity.errors import InputError
from clarity.genotype._dosage import MISSING, DosageMatrix
from clarity.genotype._screen import associate, clump

__all__ = ["PcaModel", "principal_components"]

_CHUNK = 2_000  # variant columns converted to floats at a time
_OVERSAMPLE = 10  # extra random directions of the randomized SVD [4]
_POWER_ITERATIONS = 4  # enough for a clear spectral gap; genotype spectra decay slowly

# Clumping and thresholding: PLINK's clumping defaults, and a small grid of p thresholds
# close to PRSice's default levels (described by Choi et al. [2]). 1.0 is left out so that
# clumping never has to correlate every variant with its neighbours.
PRS_THRESHOLDS = (1e-6, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.5)
PRS_CLUMP_R2 = 0.1
PRS_WINDOW_BP = 250_000
VALIDATION_FRACTION = 0.2
# Penalised regression: the SNPs of smallest p-value it starts from, and its tuning grid.
LINEAR_SCREEN = 500
_L1_RATIOS = (0.1, 0.5, 0.9)
# saga (the one scikit-learn solver for an elastic-net logistic loss) costs about a hundred
# times coordinate descent, so the binary model tunes C at one mix only; on the simulated
# cohort the mix moved held-out AUC by under 0.002 (0.791-0.792 for l1 ratios 0.1-0.9,
# LogisticRegressionCV on 200 SNPs).
_LOGISTIC_L1_RATIOS = (0.5,)
_LOGISTIC_CS = tuple(np.logspace(-2.5, -0.5, 5).tolist())  # increasing: each warm-starts the next
_N_ALPHAS = 20
_LOGISTIC_TOL = 1e-2  # a tighter tolerance changed held-out AUC by < 0.001 at 4x the time
_TOL = 1e-3  # coordinate descent: 2-3x faster than 1e-4, the same held-out R² to 0.001
_FOLDS = 5


# --- features ---------------------------------------------------------------------------


def variant_columns(matrix: DosageMatrix, ids: Sequence[str]) -> np.ndarray:
    """Return the column of each variant id in ``matrix``, refusing ids it lacks."""
    index = pd.Index(matrix.variants["id"].astype(str))
    if not index.is_unique:
        raise InputError("The matrix repeats variant ids; a model cannot find its SNPs in it.")
    positions: np.ndarray = index.get_indexer(list(ids))
    if (positions < 0).any():
        lacking = [str(i) for i, p in zip(ids, positions, strict=True) if p < 0]
        raise InputError(
            f"The matrix lacks {len(lacking)} of the {len(ids)} variants the model needs, "
            f"e.g. {', '.join(lacking[:3])}."
        )
    return positions


def imputed(matrix: DosageMatrix, columns: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Return float64 dosages of some columns, a no-call set to the given (training) mean.

    Unlike :meth:`DosageMatrix.to_float`, the fill value comes from the
    training cohort, so one patient's missing call is not filled from that
    patient alone.
    """
    block = np.asarray(matrix.dosages[:, columns])
    values = block.astype(np.float64)
    missing = block == MISSING
    if missing.any():
        values[missing] = np.broadcast_to(means, values.shape)[missing]
    return values


def called_means(matrix: DosageMatrix, columns: np.ndarray) -> np.ndarray:
    """Return the mean called dosage of each column (0 where no sample is called)."""
    means = np.zeros(len(columns))
    for start in range(0, len(columns), _CHUNK):
        block = np.asarray(matrix.dosages[:, columns[start : start + _CHUNK]])
        calls = block != MISSING
        total = np.where(calls, block, 0).sum(axis=0, dtype=np.float64)
        count = calls.sum(axis=0)
        means[start : start + _CHUNK] = np.divide(
            total, count, out=np.zeros(len(total)), where=count > 0
        )
    return means


@dataclass(frozen=True, eq=False)
class Features:
    """Named feature columns of some samples: SNP dosages, then covariates."""

    values: np.ndarray
    names: tuple[str, ...]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def positions(self, names: Sequence[str]) -> np.ndarray:
        """Return the column of each name."""
        return np.array([self._index[n] for n in names], dtype=np.int64)

    def take(self, names: Sequence[str]) -> np.ndarray:
        """Return the columns of some names, in that order."""
        return self.values[:, self.positions(names)]

    def rows(self, rows: np.ndarray) -> Features:
        """Return some samples."""
        return Features(self.values[rows], self.names)


class Part(Protocol):
    """A fitted predictor of a margin (a value, or log-odds) from named features."""

    @property
    def features(self) -> tuple[str, ...]:
        """Names of the features read."""
        ...

    def margin(self, x: Features) -> np.ndarray:
        """Return the margin of each sample."""
        ...

    def contributions(self, x: Features) -> np.ndarray:
        """Return contributions per name of ``x`` and the bias; each row sums to the margin."""
        ...


def decision(estimator: Any, x: np.ndarray) -> np.ndarray:
    """Return a fitted scikit-learn model's margin: log-odds of a classifier, else the value."""
    classifier = hasattr(estimator, "predict_proba")
    out = estimator.decision_function(x) if classifier else estimator.predict(x)
    return np.asarray(out, dtype=np.float64).ravel()


def _linear_contributions(
    x: Features, names: Sequence[str], weights: np.ndarray, centers: np.ndarray, margin: np.ndarray
) -> np.ndarray:
    """Return ``weights * (x - centers)`` placed in ``x``'s columns, and the rest as bias."""
    out = np.zeros((len(x.values), len(x.names) + 1))
    part = weights * (x.take(names) - centers)
    out[:, x.positions(names)] = part
    out[:, -1] = margin - part.sum(axis=1)
    return out


@dataclass(frozen=True, eq=False)
class PenalisedPart:
    """A standardising scikit-learn pipeline ending in ElasticNet or LogisticRegression."""

    features: tuple[str, ...]
    pipeline: Any

    def margin(self, x: Features) -> np.ndarray:
        """Return the value, or the log-odds of a binary trait."""
        return decision(self.pipeline, x.take(self.features))

    def contributions(self, x: Features) -> np.ndarray:
        """Return ``beta * (x - mean)`` per feature (beta on the dosage scale), and the bias."""
        scaler, estimator = self.pipeline[0], self.pipeline[-1]
        weights = np.ravel(estimator.coef_) / scaler.scale_
        return _linear_contributions(x, self.features, weights, scaler.mean_, self.margin(x))


@dataclass(frozen=True, eq=False)
class ScorePart:
    """A polygenic score (fixed SNP weights), then a regression on it and the covariates."""

    snps: tuple[str, ...]
    betas: np.ndarray
    covariates: tuple[str, ...]
    centers: np.ndarray  # training means of snps, then of covariates
    outer: Any

    @property
    def features(self) -> tuple[str, ...]:
        """Names of the features read."""
        return self.snps + self.covariates

    def _design(self, x: Features) -> np.ndarray:
        score = x.take(self.snps) @ self.betas
        return np.column_stack([score, x.take(self.covariates)])

    def margin(self, x: Features) -> np.ndarray:
        """Return the value, or the log-odds of a binary trait."""
        return decision(self.outer, self._design(x))

    def contributions(self, x: Features) -> np.ndarray:
        """Return ``c * beta * (dosage - mean)`` per SNP (``c``: the score's coefficient)."""
        coef = np.ravel(self.outer.coef_)
        weights = np.concatenate([coef[0] * self.betas, coef[1:]])
        return _linear_contributions(x, self.features, weights, self.centers, self.margin(x))


@dataclass
class Fitted:
    """What fitting one kind produced: its predictor, bootstrap replicates and details."""

    part: Part
    bootstrap: list[Part]
    details: dict[str, Any] = field(default_factory=dict)
    oof: np.ndarray | None = None  # out-of-fold margins, when stacking or calibrating


# --- principal components -----------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PcaModel:
    """Genotype principal components of a reference cohort, to score new samples in.

    Dosages are standardised as Patterson et al. [1]_ do,
    ``(x - 2p) / sqrt(2p(1 - p))`` with ``p`` the reference cohort's alt
    allele frequency; a monomorphic variant gets weight 0, and a missing call
    is set to the reference mean (a standardised 0).

    Parameters
    ----------
    variants
        Variant ids the components are defined on.
    means
        Reference mean dosage (``2p``) of each variant.
    scales
        ``sqrt(2p(1 - p))`` of each variant (0 for a monomorphic one).
    loadings
        Array ``(n_components, n_variants)``: the right singular vectors of
        the standardised reference matrix, each signed so that its largest
        absolute entry is positive.
    singular_values
        The singular values of the standardised reference matrix, largest first.
    """

    variants: tuple[str, ...]
    means: np.ndarray
    scales: np.ndarray
    loadings: np.ndarray
    singular_values: np.ndarray

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(self.loadings.shape[0])

    def transform(self, matrix: DosageMatrix) -> np.ndarray:
        """Project samples onto the reference components.

        Parameters
        ----------
        matrix
            Dosages of the samples; it must hold every variant of the model
            (by id, in any order; other variants are ignored).

        Returns
        -------
        numpy.ndarray
            Array ``(n_samples, n_components)`` of PC scores. For the
            reference samples these are the components
            :func:`principal_components` returned.

        Raises
        ------
        InputError
            If the matrix lacks a variant of the model.
        """
        columns = variant_columns(matrix, self.variants)
        return _product(matrix, columns, self.means, self.scales, self.loadings.T)


def _standardised_block(
    matrix: DosageMatrix, columns: np.ndarray, means: np.ndarray, scales: np.ndarray
) -> np.ndarray:
    block = np.asarray(matrix.dosages[:, columns])
    z: np.ndarray = (block.astype(np.float64) - means) / np.where(scales > 0, scales, 1.0)
    z[:, scales <= 0] = 0.0
    z[block == MISSING] = 0.0
    return z


def _product(
    matrix: DosageMatrix,
    columns: np.ndarray,
    means: np.ndarray,
    scales: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    """Return ``Z @ right`` for the standardised columns ``Z``, a chunk of columns at a time."""
    out = np.zeros((matrix.n_samples, right.shape[1]))
    for start in range(0, len(columns), _CHUNK):
        part = slice(start, start + _CHUNK)
        out += _standardised_block(matrix, columns[part], means[part], scales[part]) @ right[part]
    return out


def _transposed_product(
    matrix: DosageMatrix,
    columns: np.ndarray,
    means: np.ndarray,
    scales: np.ndarray,
    left: np.ndarray,
) -> np.ndarray:
    """Return ``Z.T @ left`` for the standardised columns ``Z``, a chunk of columns at a time."""
    out = np.zeros((len(columns), left.shape[1]))
    for start in range(0, len(columns), _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = _standardised_block(matrix, columns[part], means[part], scales[part]).T @ left
    return out


def principal_components(
    matrix: DosageMatrix,
    n: int = 10,
    *,
    variants: Sequence[str] | None = None,
    random_state: int = 0,
) -> tuple[np.ndarray, PcaModel]:
    """Compute genotype principal components by randomized SVD of standardised dosages.

    The dosages are standardised as in EIGENSTRAT [1]_ and never held as
    floats whole: every product with the matrix converts a chunk of columns
    at a time. The singular vectors come from the randomized range finder of
    Halko et al. [4]_ (``n + 10`` random directions, four power iterations
    with re-orthonormalisation). The returned components are the projection
    of the samples onto the loadings (``Z V``), computed by
    :meth:`PcaModel.transform`, so a patient projected later is scored by
    exactly the map the cohort was.

    Parameters
    ----------
    matrix
        Dosages of the reference cohort (after QC; LD pruning first is usual).
    n
        Number of components.
    variants
        Ids of the variants to use (e.g. an LD-pruned set); None for all.
    random_state
        Seed of the random directions.

    Returns
    -------
    components : numpy.ndarray
        Array ``(n_samples, n)`` of PC scores of the cohort.
    model : PcaModel
        The fitted projection, to score new samples with.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int.
    InputError
        If ``n`` exceeds the samples or usable variants, or an id is unknown.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> dosages = rng.binomial(2, 0.3, size=(50, 40)).astype(np.int8)
    >>> ids = [f"v{i}" for i in range(40)]
    >>> variants = pd.DataFrame(
    ...     {"chrom": "chr1", "pos": range(1, 41), "id": ids, "ref": "A", "alt": "G"}
    ... )
    >>> matrix = DosageMatrix(dosages, tuple(f"s{i}" for i in range(50)), variants)
    >>> pcs, model = principal_components(matrix, 3)
    >>> pcs.shape, model.loadings.shape
    ((50, 3), (3, 40))
    >>> bool(np.allclose(model.transform(matrix), pcs))
    True
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(
            f"The 'n' parameter of principal_components must be an int in the range [1, inf). "
            f"Got {n!r} instead."
        )
    if variants is None:
        columns = np.arange(matrix.n_variants)
        ids = tuple(matrix.variants["id"].astype(str))
    else:
        ids = tuple(str(v) for v in variants)
        columns = variant_columns(matrix, ids)
    means = called_means(matrix, columns)
    p = means / 2
    scales = np.sqrt(2 * p * (1 - p))
    usable = int(np.sum(scales > 0))
    if n > min(matrix.n_samples, usable):
        raise InputError(
            f"Cannot compute {n} components from {matrix.n_samples} samples and {usable} "
            "polymorphic variants."
        )
    k = min(n + _OVERSAMPLE, matrix.n_samples, usable)
    rng = np.random.default_rng(random_state)
    basis = np.linalg.qr(
        _product(matrix, columns, means, scales, rng.standard_normal((len(columns), k)))
    )[0]
    for _ in range(_POWER_ITERATIONS):
        back = np.linalg.qr(_transposed_product(matrix, columns, means, scales, basis))[0]
        basis = np.linalg.qr(_product(matrix, columns, means, scales, back))[0]
    small = _transposed_product(matrix, columns, means, scales, basis).T  # Q' Z, k x m
    _, singular, right = np.linalg.svd(small, full_matrices=False)
    loadings = right[:n]
    # A deterministic sign, as scikit-learn's svd_flip: the largest |loading| is positive.
    signs = np.sign(loadings[np.arange(n), np.argmax(np.abs(loadings), axis=1)])
    loadings = loadings * np.where(signs == 0, 1.0, signs)[:, None]
    model = PcaModel(ids, means, scales, loadings, singular[:n])
    return model.transform(matrix), model


# --- clumping and thresholding ------------------------------------------------------------


def split_rows(
    y: np.ndarray, binary: bool, seed: int, fraction: float = VALIDATION_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Return (training, validation) rows: a random ``fraction`` held out, by class if binary."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == v) for v in (0, 1)] if binary else [np.arange(len(y))]
    held = [rng.permutation(g)[: max(1, round(fraction * len(g)))] for g in groups]
    valid = np.zeros(len(y), dtype=bool)
    valid[np.concatenate(held)] = True
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def _outer(binary: bool) -> Any:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    # An unpenalised fit: a handful of terms estimated on hundreds of samples.
    return LogisticRegression(C=np.inf, max_iter=1_000) if binary else LinearRegression()


def _outer_fit(design: np.ndarray, y: np.ndarray, binary: bool) -> tuple[Any, float]:
    """Fit the score-plus-covariates regression; return it and its in-sample fit (higher better)."""
    model = _outer(binary).fit(design, y)
    if binary:
        prob = np.clip(model.predict_proba(design)[:, 1], 1e-12, 1 - 1e-12)
        return model, float(np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob)))
    resid = y - model.predict(design)
    return model, -float(resid @ resid)


def fit_prs_ct(
    matrix: DosageMatrix,
    y: np.ndarray,
    cov: Features,
    *,
    binary: bool,
    seed: int,
    resamples: list[np.ndarray],
) -> tuple[Fitted, list[str]]:
    """Fit the clumping-and-thresholding score; return it and its SNP ids.

    The marginal betas come from the discovery part of an internal split;
    the threshold and the regression of the trait on the score and the
    covariates come from its validation part, so the score's coefficient is
    not inflated by the winner's curse of its own betas.
    """
    kind: Literal["linear", "logistic"] = "logistic" if binary else "linear"
    discovery, validation = split_rows(y, binary, seed)
    found = matrix.subset(samples=discovery)
    table = associate(found, y[discovery], covariates=cov.values[discovery], kind=kind)
    index = clump(
        found,
        table["p"],
        p_threshold=max(PRS_THRESHOLDS),
        r2=PRS_CLUMP_R2,
        window_bp=PRS_WINDOW_BP,
    )
    if not index:
        raise InputError(
            f"No variant has p <= {max(PRS_THRESHOLDS)} for a clumping-and-thresholding score."
        )
    p = table.loc[index, "p"].to_numpy()
    beta = table.loc[index, "beta"].to_numpy()
    columns = variant_columns(matrix, index)
    means = called_means(matrix, columns)
    dosages = imputed(matrix, columns, means)
    best: tuple[float, float, Any] | None = None
    for threshold in PRS_THRESHOLDS:
        keep = p <= threshold
        if not keep.any():
            continue
        design = np.column_stack(
            [dosages[validation][:, keep] @ beta[keep], cov.values[validation]]
        )
        model, score = _outer_fit(design, y[validation], binary)
        if best is None or score > best[1]:
            best = (threshold, score, model)
    assert best is not None  # the largest threshold keeps every index variant
    threshold, _, outer = best
    keep = p <= threshold
    snps = [v for v, k in zip(index, keep, strict=True) if k]
    cov_means = cov.values.mean(axis=0)
    centers = np.concatenate([means[keep], cov_means])
    part = ScorePart(tuple(snps), beta[keep], cov.names, centers, outer)

    in_discovery = np.zeros(len(y), dtype=bool)
    in_discovery[discovery] = True
    replicates: list[Part] = []
    kept = found.subset(variants=variant_columns(found, snps))
    position = np.full(len(y), -1)
    position[discovery] = np.arange(len(discovery))
    for rows in resamples:
        found_rows, valid_rows = rows[in_discovery[rows]], rows[~in_discovery[rows]]
        boot_table = associate(
            kept.subset(samples=position[found_rows]),
            y[found_rows],
            covariates=cov.values[found_rows],
            kind=kind,
        )
        boot_beta = np.nan_to_num(boot_table["beta"].to_numpy())
        design = np.column_stack([dosages[valid_rows][:, keep] @ boot_beta, cov.values[valid_rows]])
        boot_outer = _outer(binary).fit(design, y[valid_rows])
        replicates.append(ScorePart(tuple(snps), boot_beta, cov.names, centers, boot_outer))
    details = {"p_threshold": threshold, "n_snps": len(snps), "n_index_snps": len(index)}
    return Fitted(part, replicates, details), snps


# --- elastic net --------------------------------------------------------------------------


def folds(y: np.ndarray, binary: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the (training, test) rows of the 5-fold cross-validation, stratified if binary."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (StratifiedKFold if binary else KFold)(_FOLDS, shuffle=True, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros((len(y), 1)), y)]


def _penalised(binary: bool, setting: float, l1_ratio: float, seed: int) -> Any:
    """Return the penalised model: ``setting`` is the penalty alpha, or C if binary."""
    from sklearn.linear_model import ElasticNet, LogisticRegression

    if binary:
        return LogisticRegression(
            C=setting,
            l1_ratio=l1_ratio,
            solver="saga",
            tol=_LOGISTIC_TOL,
            max_iter=2_000,
            random_state=seed,
            warm_start=True,  # along the path of C, and from the full fit for refits
        )
    return ElasticNet(
        alpha=setting,
        l1_ratio=l1_ratio,
        max_iter=5_000,
        tol=_TOL,
        precompute=True,  # the Gram matrix: 10x faster than cyclic descent on the data here
    )


def _alpha_grids(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return a decreasing grid of penalties per l1 ratio, from the one that keeps no SNP.

    As ``ElasticNetCV`` does: ``alpha_max = max|x'(y - mean)| / (n l1_ratio)`` for
    standardised ``x``, down to 1 % of it.
    """
    top = np.max(np.abs(x.T @ (y - y.mean()))) / len(y)
    return np.array([np.geomspace(top / r, top / r * 1e-2, _N_ALPHAS) for r in _L1_RATIOS])


def fit_elastic_net(
    x: Features,
    y: np.ndarray,
    *,
    screens: tuple[list[str], list[list[str]]],
    covariates: tuple[str, ...],
    cv: list[tuple[np.ndarray, np.ndarray]],
    binary: bool,
    seed: int,
    resamples: list[np.ndarray],
) -> Fitted:
    """Fit the elastic net on screened SNPs and the covariates, tuned by honest cross-validation.

    ``screens`` holds the SNPs screened on all rows and those screened on
    the training rows of each fold. Each fold's model sees only its own
    screen, so neither the penalty chosen nor the out-of-fold predictions
    profit from SNPs picked with the test rows' outcomes (the selection
    bias of Ambroise and McLachlan [5]_); ``ElasticNetCV`` screened once
    would pick a penalty that fits noise (on the simulated epistasis trait,
    with no marginal effects, it kept 261 SNPs and scored a held-out R² of
    -0.06). The penalty (and l1 ratio, for a continuous trait) with the
    least pooled out-of-fold squared error, or log loss, is refitted on all
    rows; the bootstrap refits keep it.

    References
    ----------
    .. [5] Ambroise C, McLachlan GJ. "Selection bias in gene extraction on
       the basis of microarray gene-expression data." PNAS 2002;99(10):6562-6566.
    """
    from sklearn.linear_model import enet_path
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    full, per_fold = screens
    names = [*full, *covariates]
    if binary:
        grid = np.array([list(_LOGISTIC_CS)])
        ratios: tuple[float, ...] = _LOGISTIC_L1_RATIOS
    else:
        grid = _alpha_grids(StandardScaler().fit_transform(x.take(names)), y)
        ratios = _L1_RATIOS
    margins = np.zeros((len(ratios), grid.shape[1], len(y)))
    for (train, test), ids in zip(cv, per_fold, strict=True):
        columns = x.positions([*ids, *covariates])
        scaler = StandardScaler().fit(x.values[train][:, columns])
        fit_x = scaler.transform(x.values[train][:, columns])
        test_x = scaler.transform(x.values[test][:, columns])
        for i, ratio in enumerate(ratios):
            if binary:
                model = _penalised(True, grid[i, 0], ratio, seed)
                for j, c in enumerate(grid[i]):
                    model.set_params(C=c).fit(fit_x, y[train])
                    margins[i, j, test] = model.decision_function(test_x)
            else:
                mean = y[train].mean()
                _, coefs, _ = enet_path(
                    fit_x, y[train] - mean, l1_ratio=ratio, alphas=grid[i], tol=_TOL, max_iter=5_000
                )
                margins[i][:, test] = (test_x @ coefs + mean).T
    if binary:
        prob = np.clip(1 / (1 + np.exp(-margins)), 1e-12, 1 - 1e-12)
        loss = -np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob), axis=2)
    else:
        loss = np.mean((margins - y) ** 2, axis=2)
    row, column = (int(v) for v in np.unravel_index(int(np.argmin(loss)), loss.shape))
    setting, ratio = float(grid[row, column]), float(ratios[row])
    final = make_pipeline(StandardScaler(), _penalised(binary, setting, ratio, seed))
    final.fit(x.take(names), y)
    details: dict[str, Any] = {"C" if binary else "alpha": setting, "l1_ratio": ratio}
    details["n_nonzero"] = int(np.count_nonzero(np.ravel(final[-1].coef_)))
    data = x.take(names)
    replicates: list[Part] = [
        PenalisedPart(tuple(names), copy.deepcopy(final).fit(data[rows], y[rows]))
        for rows in resamples
    ]
    return Fitted(PenalisedPart(tuple(names), final), replicates, details, margins[row, column])

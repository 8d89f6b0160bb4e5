"""Stage 3 of the genotype service, linear half: the polygenic score and the elastic net.

The two linear trait models: the classical clumping-and-thresholding
polygenic score [1]_ and a penalised (elastic net) regression [2]_;
:mod:`clarity.genotype._models` fits them, with XGBoost and the stacked
ensemble, into trait models.

References
----------
.. [1] Choi SW, Mak TS, O'Reilly PF. "Tutorial: a guide to performing
   polygenic risk score analyses." Nat Protoc 2020;15(9):2759-2772.
.. [2] Zou H, Hastie T. "Regularization and variable selection via the
   elastic net." J R Stat Soc B 2005;67(2):301-320.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from clarity.errors import InputError
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._features import (
    Features,
    Fitted,
    Part,
    called_means,
    decision,
    imputed,
    variant_columns,
)
from clarity.genotype._screen import associate, clump

__all__ = [
    "LINEAR_SCREEN",
    "PRS_CLUMP_R2",
    "PRS_THRESHOLDS",
    "PRS_WINDOW_BP",
    "VALIDATION_FRACTION",
    "PenalisedPart",
    "ScorePart",
    "fit_elastic_net",
    "fit_prs_ct",
    "folds",
    "split_rows",
]

# Clumping and thresholding: PLINK's clumping defaults, and a small grid of p thresholds
# close to PRSice's default levels (described by Choi et al. [1]). 1.0 is left out so that
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
    # The discovery rows are read chunk by chunk, never copied; LD for clumping is measured
    # on every training row (it uses no outcome).
    table = associate(
        matrix, y[discovery], covariates=cov.values[discovery], kind=kind, rows=discovery
    )
    index = clump(
        matrix,
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
    kept = matrix.subset(samples=discovery, variants=variant_columns(matrix, snps))
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

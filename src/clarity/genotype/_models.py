"""Stage 3 of the genotype service: per-trait genetic risk models, with intervals and files.

:func:`fit_trait_models` fits, for one trait, any of four kinds of model on one
training cohort, each a :class:`TraitModel`:

``prs_ct``
    The classical polygenic score: clumping and thresholding of marginal
    association betas [2]_ (:mod:`clarity.genotype._prs`).
``elastic_net``
    Penalised regression on the SNPs of smallest p-value plus the covariates.
``xgboost``
    Gradient-boosted trees (``hist``) [3]_ on a compact SNP set (a
    :class:`~clarity.genotype.SnpSet`, or clumped top SNPs) plus the covariates.
``ensemble``
    The elastic net and XGBoost stacked [4]_ by a linear (or, for a binary
    trait, logistic) meta-model fitted on their out-of-fold predictions.

Medvedev et al. [1]_ found boosted trees ahead of linear scores once rich
covariates are included, and an ensemble of linear and boosted models best of
all; Elgart et al. [5]_ found non-linear models that read SNPs together with a
polygenic score improving on the score alone. The tests check the same
comparisons on simulated traits of known architecture (additive, dominance,
epistasis, and a thresholded liability).

A binary trait's probabilities are calibrated by Platt scaling [6]_: a
logistic regression of the outcome on the model's out-of-fold log-odds.
Isotonic regression needs far more calibration samples than a cohort of a few
thousand gives (its step function overfits below about a thousand positives
[7]_), while two parameters cannot; the ``prs_ct`` and ``ensemble`` kinds need
no extra step, as their last stage is already a logistic regression fitted on
held-out predictions.

Every model carries ``n_bootstrap`` replicates refitted on bootstrap resamples
of the training cohort [8]_ (stratified by class for a binary trait) with the
tuned hyperparameters held fixed: the penalty of the elastic net, the number
of boosting rounds, the p threshold and SNPs of the score, the stacking
weights. Intervals therefore show the estimation uncertainty of the fitted
model, not that of tuning or SNP selection.

References
----------
.. [1] Medvedev A, Mishra Sharma S, Tsatsorin E, Nabieva E, Yarotsky D.
   "Human genotype-to-phenotype predictions: Boosting accuracy with nonlinear
   models." PLoS ONE 2022;17(8):e0273293. doi:10.1371/journal.pone.0273293
.. [2] Choi SW, Mak TS, O'Reilly PF. "Tutorial: a guide to performing
   polygenic risk score analyses." Nat Protoc 2020;15(9):2759-2772.
.. [3] Chen T, Guestrin C. "XGBoost: A Scalable Tree Boosting System." KDD
   2016:785-794.
.. [4] Breiman L. "Stacked regressions." Mach Learn 1996;24(1):49-64.
.. [5] Elgart M, et al. "Non-linear machine learning models incorporating
   SNPs and PRS improve polygenic prediction in diverse human populations."
   Communications Biology 2022;5:856.
.. [6] Platt J. "Probabilistic outputs for support vector machines and
   comparisons to regularized likelihood methods." Adv Large Margin
   Classifiers 1999:61-74.
.. [7] Niculescu-Mizil A, Caruana R. "Predicting good probabilities with
   supervised learning." ICML 2005:625-632.
.. [8] Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman &
   Hall 1993.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from clarity.errors import InputError, NotFittedError
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._prs import (
    LINEAR_SCREEN,
    PRS_CLUMP_R2,
    PRS_THRESHOLDS,
    PRS_WINDOW_BP,
    VALIDATION_FRACTION,
    Features,
    Fitted,
    Part,
    PenalisedPart,
    ScorePart,
    called_means,
    fit_elastic_net,
    fit_prs_ct,
    folds,
    imputed,
    split_rows,
    variant_columns,
)
from clarity.genotype._screen import Association, _check_trait, associate, clump
from clarity.genotype._select import SnpSet, _data_digest

__all__ = ["KINDS", "TraitModel", "evaluate", "fit_trait_models"]

Kind = Literal["prs_ct", "elastic_net", "xgboost", "ensemble"]
KINDS: tuple[Kind, ...] = ("prs_ct", "elastic_net", "xgboost", "ensemble")
"""The kinds of trait model, in the order :func:`fit_trait_models` fits them."""

_FORMAT = "clarity.genotype.TraitModel/1"
_METHOD = "clarity.genotype.trait-models/1"
# Without a SnpSet, XGBoost reads the index SNPs of a loose clumping (r² 0.5) of the
# smallest p-values: trees split on one of several proxies of a locus at random, so the
# top p-values themselves (mostly proxies of a few loci) did far worse on the simulated
# additive trait (held-out R² 0.26 against 0.37-0.40 for clumped SNPs, 2,250 samples).
TREE_SCREEN = 100
_TREE_PRESCREEN = 1_000
_TREE_CLUMP_R2 = 0.5
# Shallow trees (depth 3 still models a pair of interacting SNPs), a small learning rate,
# row and column subsampling; two keys are not XGBoost's own. 16 histogram bins leave a
# dosage's three values alone and coarsen only continuous covariates (age, PCs), whose many
# candidate splits otherwise draw trees to fit noise: on the simulated epistasis trait, with
# the causal SNPs given and six uninformative covariates, held-out R² rose from 0.13 (256
# bins) to 0.27, and patience of 100 rounds rather than 50 let the slowly learnt
# interactions reach 0.3; the additive and dominance traits moved by under 0.01.
_XGB_DEFAULTS: dict[str, Any] = {
    "tree_method": "hist",
    "max_depth": 3,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "colsample_bynode": 0.5,
    "min_child_weight": 5.0,
    "reg_lambda": 1.0,
    "max_bin": 16,
    "num_boost_round": 2_000,
    "early_stopping_rounds": 100,
}
_RESOURCES = frozenset({"nthread", "n_jobs"})  # change speed, never results
_BIAS = "bias"
# Types a saved model's scikit-learn parts hold (skops trusts them all by default today);
# a file holding any other type is refused.
_TRUSTED = frozenset(
    {
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.str",
        "builtins.tuple",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "sklearn.linear_model._base.LinearRegression",
        "sklearn.linear_model._coordinate_descent.ElasticNet",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
    }
)


# --- the boosted and stacked parts ------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoostedPart:
    """An XGBoost booster over named features (mean-imputed dosages, then covariates)."""

    features: tuple[str, ...]
    booster: Any

    def _data(self, x: Features) -> Any:
        import xgboost

        return xgboost.DMatrix(x.take(self.features))

    def margin(self, x: Features) -> np.ndarray:
        """Return the raw margin: the value, or the log-odds of a binary trait."""
        out = self.booster.predict(self._data(x), output_margin=True)
        return np.asarray(out, dtype=np.float64)

    def contributions(self, x: Features) -> np.ndarray:
        """Return XGBoost's per-feature contributions (TreeSHAP) and bias, on the raw margin."""
        raw = np.asarray(self.booster.predict(self._data(x), pred_contribs=True), np.float64)
        out = np.zeros((len(x.values), len(x.names) + 1))
        out[:, x.positions(self.features)] = raw[:, :-1]
        out[:, -1] = raw[:, -1]
        return out


@dataclass(frozen=True, eq=False)
class StackedPart:
    """A linear and a boosted part, combined with non-negative weights and an intercept."""

    linear: PenalisedPart
    boosted: BoostedPart
    weights: tuple[float, float]
    intercept: float

    @property
    def features(self) -> tuple[str, ...]:
        """Names of the features read: the linear part's, then the boosted part's new ones."""
        return tuple(dict.fromkeys(self.linear.features + self.boosted.features))

    def margin(self, x: Features) -> np.ndarray:
        """Return the weighted sum of the parts' margins, plus the intercept."""
        first, second = self.weights
        return self.intercept + first * self.linear.margin(x) + second * self.boosted.margin(x)

    def contributions(self, x: Features) -> np.ndarray:
        """Return the parts' contributions times their weights; the intercept joins the bias."""
        first, second = self.weights
        out: np.ndarray = first * self.linear.contributions(x)
        out += second * self.boosted.contributions(x)
        out[:, -1] += self.intercept
        return out


def _fit_xgboost(
    x: Features,
    y: np.ndarray,
    *,
    screens: tuple[list[str], list[list[str]] | None],
    covariates: tuple[str, ...],
    cv: list[tuple[np.ndarray, np.ndarray]] | None,
    binary: bool,
    seed: int,
    params: Mapping[str, Any],
    resamples: list[np.ndarray],
) -> Fitted:
    """Fit XGBoost: rounds chosen by early stopping on a split, then refitted on every row.

    ``screens`` holds the SNPs for all rows and, when they were screened
    here, those screened on each fold's training rows, which the out-of-fold
    refits (for stacking and calibration; ``cv`` None for none) read.
    """
    import xgboost

    booster_params = {
        k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")
    }
    booster_params.update(
        objective="binary:logistic" if binary else "reg:squarederror",
        eval_metric="logloss" if binary else "rmse",
        seed=seed,
    )
    full, per_fold = screens
    names = (*full, *covariates)
    data = x.take(names)
    train, valid = split_rows(y, binary, seed)
    probe = xgboost.train(
        booster_params,
        xgboost.DMatrix(data[train], label=y[train]),
        num_boost_round=int(params["num_boost_round"]),
        evals=[(xgboost.DMatrix(data[valid], label=y[valid]), "valid")],
        early_stopping_rounds=int(params["early_stopping_rounds"]),
        verbose_eval=False,
    )
    # Every later fit (on all rows, on resamples, on folds) runs the rounds early stopping
    # chose on 80 % of the rows, with no early stopping of its own: a resample holds about
    # 63 % distinct rows, so it cannot hold out a validation split of its own.
    rounds = int(probe.best_iteration) + 1

    def refit(columns: Sequence[str], rows: np.ndarray) -> BoostedPart:
        booster = xgboost.train(
            booster_params,
            xgboost.DMatrix(x.take(columns)[rows], label=y[rows]),
            num_boost_round=rounds,
        )
        return BoostedPart(tuple(columns), booster)

    final = refit(names, np.arange(len(y)))
    replicates: list[Part] = [refit(names, rows) for rows in resamples]
    oof = None
    if cv is not None:
        oof = np.zeros(len(y))
        for k, (train_rows, test_rows) in enumerate(cv):
            columns = names if per_fold is None else (*per_fold[k], *covariates)
            oof[test_rows] = refit(columns, train_rows).margin(x.rows(test_rows))
    details = {"n_rounds": rounds, "validation_score": float(probe.best_score)}
    return Fitted(final, replicates, details, oof)


def _stack(linear: Fitted, boosted: Fitted, y: np.ndarray, *, binary: bool) -> Fitted:
    """Fit the stacking weights on out-of-fold margins and wrap the parts and replicates.

    The weights are constrained to be non-negative (Breiman [4]): the two
    predictions are strongly correlated, and an unconstrained fit gave one
    of them a negative weight on the simulated binary trait, which would
    flip the sign of that model's explanations. With two inputs the
    constrained fit is exact by enumeration: the unconstrained fit on both,
    or on either alone, whichever is feasible and fits best.
    """
    assert linear.oof is not None and boosted.oof is not None
    z = np.column_stack([linear.oof, boosted.oof])
    best: tuple[float, np.ndarray, float] | None = None
    for used in ([0, 1], [0], [1]):
        if binary:
            coef, intercept, fit = _logistic(z[:, used], y)
        else:
            design = np.column_stack([np.ones(len(y)), z[:, used]])
            solution = np.linalg.lstsq(design, y, rcond=None)[0]
            coef, intercept = solution[1:], float(solution[0])
            fit = -float(np.sum((y - design @ solution) ** 2))
        if np.all(coef >= 0) and (best is None or fit > best[0]):
            found = np.zeros(2)
            found[used] = coef
            best = (fit, found, intercept)
    if best is None:  # both predictions anti-correlated with the trait: predict its mean
        mean = float(y.mean())
        best = (0.0, np.zeros(2), float(logit(mean)) if binary else mean)
    _, found, intercept = best
    weights = (float(found[0]), float(found[1]))
    lin, boost = cast(PenalisedPart, linear.part), cast(BoostedPart, boosted.part)
    replicates: list[Part] = [
        StackedPart(cast(PenalisedPart, a), cast(BoostedPart, b), weights, intercept)
        for a, b in zip(linear.bootstrap, boosted.bootstrap, strict=True)
    ]
    details = {"weights": list(weights), "intercept": intercept}
    return Fitted(StackedPart(lin, boost, weights, intercept), replicates, details)


def _logistic(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Return coefficients, intercept and mean log-likelihood of a logistic regression.

    Newton-Raphson to convergence, unpenalised: a library fit with a default
    tolerance or penalty would bias a calibration slope.
    """
    design = np.column_stack([np.ones(len(y)), x])
    beta = np.zeros(design.shape[1])
    beta[0] = float(logit(np.clip(y.mean(), 1e-6, 1 - 1e-6)))
    for _ in range(100):
        mu = expit(design @ beta)
        hessian = design.T @ (design * (mu * (1 - mu))[:, None])
        step = np.linalg.lstsq(hessian, design.T @ (y - mu), rcond=None)[0]
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            mu = np.clip(expit(design @ beta), 1e-15, 1 - 1e-15)
            fit = float(np.mean(y * np.log(mu) + (1 - y) * np.log(1 - mu)))
            return beta[1:], float(beta[0]), fit
    raise InputError(
        "A logistic recalibration did not converge: the predictions separate the classes."
    )


def _logistic_line(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return (slope, intercept) of the logistic regression of y on one predictor z."""
    coef, intercept, _ = _logistic(z[:, None], y)
    return float(coef[0]), intercept


# --- inputs ---------------------------------------------------------------------------------


def _covariates(
    covariates: pd.DataFrame | None, n: int, names: tuple[str, ...] | None = None
) -> Features:
    """Return the covariates as named float columns, checked; ``names`` picks a model's."""
    if names is not None and not names:
        return Features(np.zeros((n, 0)), ())
    if covariates is None:
        if names:
            raise InputError(f"The model needs the covariates {list(names)}; got None.")
        return Features(np.zeros((n, 0)), ())
    if not isinstance(covariates, pd.DataFrame):
        raise InputError(
            "The 'covariates' must be a pandas DataFrame (one row per sample) or None. "
            f"Got {type(covariates).__name__} instead."
        )
    if len(covariates) != n:
        raise InputError(f"The 'covariates' have {len(covariates)} rows for {n} samples.")
    columns = [str(c) for c in covariates.columns]
    if len(set(columns)) != len(columns):
        raise InputError("The 'covariates' repeat a column name.")
    frame = covariates.set_axis(columns, axis=1)
    wanted = list(names) if names is not None else columns
    lacking = [c for c in wanted if c not in frame.columns]
    if lacking:
        raise InputError(f"The 'covariates' lack the columns {lacking} the model needs.")
    frame = frame[wanted]
    numeric = [c for c in wanted if not pd.api.types.is_numeric_dtype(frame[c])]
    if numeric:
        raise InputError(
            f"The covariates {numeric} are not numeric; encode them (e.g. sex as 0/1) first."
        )
    values = frame.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise InputError("The 'covariates' have missing or infinite values.")
    return Features(values, tuple(wanted))


def _kinds(kinds: Iterable[str]) -> tuple[Kind, ...]:
    chosen = tuple(kinds) if not isinstance(kinds, str) else (kinds,)
    unknown = [k for k in chosen if k not in KINDS]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(
            "Invalid value for the 'kinds' parameter. Allowed values are distinct choices of "
            f"'prs_ct', 'elastic_net', 'xgboost' and 'ensemble', but got {chosen!r} instead."
        )
    return tuple(k for k in KINDS if k in chosen)


def _count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(
            f"The {name!r} parameter of fit_trait_models must be an int in the range "
            f"[{low}, inf). Got {value!r} instead."
        )
    return int(value)


def _resamples(y: np.ndarray, binary: bool, n: int, seed: int) -> list[np.ndarray]:
    """Return ``n`` bootstrap resamples of the rows, stratified by class if binary."""
    rng = np.random.default_rng([seed, 8])
    groups = [np.flatnonzero(y == v) for v in (0, 1)] if binary else [np.arange(len(y))]
    return [np.concatenate([rng.choice(g, size=len(g)) for g in groups]) for _ in range(n)]


def _canonical(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"Model parameters must be JSON values: {e}") from e


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TraitModel:
    """One fitted genetic model of one trait (built by :func:`fit_trait_models` or :meth:`load`).

    Parameters
    ----------
    kind
        ``"prs_ct"``, ``"elastic_net"``, ``"xgboost"`` or ``"ensemble"``.
    trait
        Name of the trait.
    binary
        True when the trait is 0/1 and :meth:`predict` returns calibrated
        probabilities.
    snp_ids
        Variant ids the model reads, in its feature order.
    covariates
        Covariate columns the model reads, in order (empty for none).
    centers
        Training means of the SNP dosages (the fill value of a no-call) and
        then of the covariates.
    part
        The fitted predictor of the margin.
    bootstrap
        Its replicates refitted on bootstrap resamples.
    calibration
        ``(slope, intercept)`` mapping the margin to the log-odds of a binary
        trait; None for a continuous one.
    params
        Everything the fit depended on besides the data (JSON values).
    details
        What tuning chose (penalty, rounds, p threshold, stacking weights).
    data_digest
        SHA-256 of the training genotypes, trait and covariates.
    snp_set_version
        Version of the :class:`~clarity.genotype.SnpSet` the model was
        trained on, or None.

    Attributes
    ----------
    version : str
        SHA-256 of the kind, trait, covariates, params, data digest and SNP
        set version: two fits share a version exactly when they were trained
        the same way on the same data.
    """

    kind: Kind
    trait: str
    binary: bool
    snp_ids: tuple[str, ...]
    covariates: tuple[str, ...]
    centers: np.ndarray
    part: Part
    bootstrap: tuple[Part, ...]
    calibration: tuple[float, float] | None
    params: Mapping[str, Any]
    details: Mapping[str, Any]
    data_digest: str
    snp_set_version: str | None
    version: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _canonical(dict(self.params)))
        object.__setattr__(self, "details", _canonical(dict(self.details)))
        object.__setattr__(self, "version", _hash(self._identity()))

    def _identity(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "kind": self.kind,
            "trait": self.trait,
            "binary": self.binary,
            "covariates": list(self.covariates),
            "params": self.params,
            "data_digest": self.data_digest,
            "snp_set_version": self.snp_set_version,
        }

    def __repr__(self) -> str:
        return (
            f"TraitModel(kind={self.kind!r}, trait={self.trait!r}, binary={self.binary}, "
            f"snps={len(self.snp_ids)}, covariates={list(self.covariates)}, "
            f"version={self.version[:12]!r})"
        )

    @property
    def n_bootstrap(self) -> int:
        """Number of bootstrap replicates."""
        return len(self.bootstrap)

    def _features(self, matrix: DosageMatrix, covariates: pd.DataFrame | None) -> Features:
        n_snps = len(self.snp_ids)
        columns = variant_columns(matrix, self.snp_ids)
        snps = imputed(matrix, columns, self.centers[:n_snps])
        cov = _covariates(covariates, matrix.n_samples, self.covariates)
        return Features(np.hstack([snps, cov.values]), self.snp_ids + self.covariates)

    def _explain(self, matrix: DosageMatrix, covariates: pd.DataFrame | None) -> np.ndarray:
        """Return per-feature contributions (SNPs, covariates) and the bias, on the margin."""
        return self.part.contributions(self._features(matrix, covariates))

    def decision_function(
        self, matrix: DosageMatrix, covariates: pd.DataFrame | None = None
    ) -> np.ndarray:
        """Return the margin: the predicted value, or the uncalibrated log-odds if binary.

        Parameters
        ----------
        matrix
            Dosages of the samples; it must hold every SNP of
            :attr:`snp_ids` (by id, in any order). A no-call is set to the
            training mean.
        covariates
            One row per sample, in the matrix's order, with (at least) the
            columns of :attr:`covariates`; None when the model has none.

        Returns
        -------
        numpy.ndarray
            One margin per sample; :meth:`predict` applies the calibration to it.

        Raises
        ------
        InputError
            If the matrix lacks a SNP or the covariates do not fit.
        """
        return self.part.margin(self._features(matrix, covariates))

    def predict(self, matrix: DosageMatrix, covariates: pd.DataFrame | None = None) -> np.ndarray:
        """Predict the trait: its value, or the calibrated probability of a binary trait.

        Parameters
        ----------
        matrix
            Dosages of the samples; it must hold every SNP of
            :attr:`snp_ids` (by id, in any order). A no-call is set to the
            training mean.
        covariates
            One row per sample, in the matrix's order, with (at least) the
            columns of :attr:`covariates`; None when the model has none.

        Returns
        -------
        numpy.ndarray
            One prediction per sample.

        Raises
        ------
        InputError
            If the matrix lacks a SNP or the covariates do not fit.
        """
        margin = self.decision_function(matrix, covariates)
        if self.calibration is None:
            return margin
        slope, intercept = self.calibration
        return np.asarray(expit(slope * margin + intercept), dtype=np.float64)

    def interval(
        self,
        matrix: DosageMatrix,
        covariates: pd.DataFrame | None = None,
        *,
        level: float = 0.9,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return a bootstrap confidence interval of each prediction.

        The spread is that of the bootstrap replicates' predictions around
        their median, placed around the full-data prediction (on the log-odds
        scale for a binary trait): a replicate sees about 63 % distinct
        samples, so its predictions are shifted as a group (more or less
        shrunk) and the bootstrap median is not the prediction. The interval
        always contains the prediction. It covers the model's estimation
        uncertainty with tuning and SNP selection held fixed: neither the
        spread of the trait around its expected value nor the model's bias
        (the genetic effects it misses). On the simulated additive trait
        (1,500 training samples, 10 replicates) 90 % intervals covered the
        true expected trait value for 37 % (``prs_ct``) to 57 %
        (``ensemble``) of held-out patients.

        Parameters
        ----------
        matrix
            Dosages of the samples (see :meth:`predict`).
        covariates
            Covariates of the samples (see :meth:`predict`).
        level
            Nominal coverage, in (0, 1).

        Returns
        -------
        lower, upper : numpy.ndarray
            Bounds per sample, ``lower <= predict(...) <= upper``.

        Raises
        ------
        ValueError
            If ``level`` is not in (0, 1).
        NotFittedError
            If the model was fitted with ``n_bootstrap=0``.
        InputError
            If the matrix lacks a SNP or the covariates do not fit.
        """
        if not 0 < level < 1:
            raise ValueError(
                f"The 'level' parameter of interval must be a float in the range (0, 1). "
                f"Got {level!r} instead."
            )
        if not self.bootstrap:
            raise NotFittedError(
                "This TraitModel was fitted with n_bootstrap=0; refit it with bootstrap "
                "replicates to get intervals."
            )
        x = self._features(matrix, covariates)
        point = self.part.margin(x)
        replicates = np.stack([p.margin(x) for p in self.bootstrap])
        if self.calibration is not None:
            slope, intercept = self.calibration
            point, replicates = slope * point + intercept, slope * replicates + intercept
        spread = replicates - np.median(replicates, axis=0)
        lower = point + np.quantile(spread, (1 - level) / 2, axis=0)
        upper = point + np.quantile(spread, (1 + level) / 2, axis=0)
        if self.calibration is not None:
            return np.asarray(expit(lower), np.float64), np.asarray(expit(upper), np.float64)
        return lower, upper

    def save(self, path: str | Path) -> None:
        """Write the model to a zip file: JSON, skops and XGBoost JSON members, no pickle.

        ``manifest.json`` holds the description, the weights of the score,
        the SHA-256 of every other member and a checksum of itself;
        ``estimators.skops`` the scikit-learn parts (skops [1]_ loads only
        trusted types); ``boosters/*.json`` each booster in XGBoost's own JSON
        format.

        Parameters
        ----------
        path
            Target file, conventionally ``*.zip``.

        References
        ----------
        .. [1] skops.io, https://skops.readthedocs.io/en/stable/persistence.html
        """
        import sklearn
        import skops  # type: ignore[import-untyped]
        import skops.io as sio  # type: ignore[import-untyped]
        import xgboost

        estimators: dict[str, Any] = {}
        boosters: dict[str, bytes] = {}
        part = _encode(self.part, "final", estimators, boosters)
        replicates = [
            _encode(p, f"bootstrap{i}", estimators, boosters) for i, p in enumerate(self.bootstrap)
        ]
        members = {f"boosters/{key}.json": raw for key, raw in boosters.items()}
        if estimators:
            members["estimators.skops"] = sio.dumps(estimators)
        manifest = {
            **self._identity(),
            "version": self.version,
            "snp_ids": list(self.snp_ids),
            "centers": [float(c) for c in self.centers],
            "calibration": None if self.calibration is None else list(self.calibration),
            "details": self.details,
            "part": part,
            "bootstrap": replicates,
            "libraries": {
                "numpy": np.__version__,
                "scikit-learn": sklearn.__version__,
                "skops": skops.__version__,
                "xgboost": xgboost.__version__,
            },
            "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
        }
        manifest["checksum"] = _hash(manifest)
        with zipfile.ZipFile(Path(path), "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("manifest.json", json.dumps(manifest, sort_keys=True, indent=1))
            for name, data in members.items():
                archive.writestr(name, data)

    @classmethod
    def load(cls, path: str | Path, *, version: str | None = None) -> TraitModel:
        """Read a model written by :meth:`save`, refusing a changed or unexpected file.

        Parameters
        ----------
        path
            A file written by :meth:`save`.
        version
            The version the caller expects (e.g. from the model registry);
            None to accept any.

        Returns
        -------
        TraitModel
            The model, predicting exactly as the saved one did.

        Raises
        ------
        InputError
            If the file is not a model file of this format, a member or the
            manifest was changed after saving, the skops member holds types a
            model never contains, or the version is not the one expected.
        """
        import skops.io as sio

        try:
            with zipfile.ZipFile(Path(path)) as archive:
                contents = {name: archive.read(name) for name in archive.namelist()}
            manifest = json.loads(contents.pop("manifest.json"))
        except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise InputError(f"{path} is not a {_FORMAT} file: {e}") from e
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise InputError(f"{path} is not a {_FORMAT} file (its format is {found!r}).")
        checksum = manifest.pop("checksum", None)
        if checksum != _hash(manifest):
            raise InputError(f"Refusing {path}: its manifest was changed after it was saved.")
        hashes = manifest["members"]
        changed = sorted(
            set(hashes) ^ set(contents)
            | {n for n in contents if hashlib.sha256(contents[n]).hexdigest() != hashes.get(n)}
        )
        if changed:
            raise InputError(f"Refusing {path}: {', '.join(changed)} changed after it was saved.")
        if version is not None and manifest["version"] != version:
            raise InputError(
                f"{path} holds model version {manifest['version']}, not the expected {version}."
            )
        estimators: dict[str, Any] = {}
        if "estimators.skops" in contents:
            data = contents["estimators.skops"]
            untrusted = set(sio.get_untrusted_types(data=data))
            if untrusted - _TRUSTED:
                raise InputError(
                    f"Refusing {path}: it holds types a TraitModel never contains "
                    f"({', '.join(sorted(untrusted - _TRUSTED))})."
                )
            estimators = sio.loads(data, trusted=sorted(untrusted))
        model = cls(
            kind=manifest["kind"],
            trait=manifest["trait"],
            binary=bool(manifest["binary"]),
            snp_ids=tuple(manifest["snp_ids"]),
            covariates=tuple(manifest["covariates"]),
            centers=np.array(manifest["centers"], dtype=np.float64),
            part=_decode(manifest["part"], estimators, contents),
            bootstrap=tuple(_decode(p, estimators, contents) for p in manifest["bootstrap"]),
            calibration=None
            if manifest["calibration"] is None
            else (float(manifest["calibration"][0]), float(manifest["calibration"][1])),
            params=manifest["params"],
            details=manifest["details"],
            data_digest=manifest["data_digest"],
            snp_set_version=manifest["snp_set_version"],
        )
        if model.version != manifest["version"]:
            raise InputError(
                f"Refusing {path}: its content hashes to version {model.version}, not to the "
                f"version it records ({manifest['version']})."
            )
        return model


def _encode(part: Part, key: str, estimators: dict[str, Any], boosters: dict[str, bytes]) -> Any:
    """Return a JSON description of a part; its scikit-learn and XGBoost pieces go aside."""
    if isinstance(part, PenalisedPart):
        estimators[key] = part.pipeline
        return {"type": "penalised", "features": list(part.features), "estimator": key}
    if isinstance(part, ScorePart):
        estimators[key] = part.outer
        return {
            "type": "score",
            "snps": list(part.snps),
            "betas": [float(b) for b in part.betas],
            "covariates": list(part.covariates),
            "centers": [float(c) for c in part.centers],
            "estimator": key,
        }
    if isinstance(part, BoostedPart):
        boosters[key] = bytes(part.booster.save_raw(raw_format="json"))
        return {"type": "boosted", "features": list(part.features), "booster": key}
    if isinstance(part, StackedPart):
        return {
            "type": "stacked",
            "linear": _encode(part.linear, f"{key}.linear", estimators, boosters),
            "boosted": _encode(part.boosted, f"{key}.boosted", estimators, boosters),
            "weights": list(part.weights),
            "intercept": part.intercept,
        }
    raise TypeError(f"Cannot save a {type(part).__name__}.")  # pragma: no cover


def _decode(
    spec: Mapping[str, Any], estimators: Mapping[str, Any], files: Mapping[str, bytes]
) -> Any:
    """Rebuild a part from :func:`_encode`'s description."""
    import xgboost

    kind = spec["type"]
    if kind == "penalised":
        return PenalisedPart(tuple(spec["features"]), estimators[spec["estimator"]])
    if kind == "score":
        return ScorePart(
            tuple(spec["snps"]),
            np.array(spec["betas"], dtype=np.float64),
            tuple(spec["covariates"]),
            np.array(spec["centers"], dtype=np.float64),
            estimators[spec["estimator"]],
        )
    if kind == "boosted":
        booster = xgboost.Booster()
        booster.load_model(bytearray(files[f"boosters/{spec['booster']}.json"]))
        return BoostedPart(tuple(spec["features"]), booster)
    if kind == "stacked":
        first, second = spec["weights"]
        return StackedPart(
            _decode(spec["linear"], estimators, files),
            _decode(spec["boosted"], estimators, files),
            (float(first), float(second)),
            float(spec["intercept"]),
        )
    raise InputError(f"Unknown model part {kind!r} in a saved TraitModel.")


# --- fitting --------------------------------------------------------------------------------


def _tree_snps(matrix: DosageMatrix, table: pd.DataFrame) -> list[str]:
    """Return the SNPs XGBoost reads without a SnpSet: clumped top p-values, best first."""
    top = [v for v in Association(table).top(_TREE_PRESCREEN) if np.isfinite(table.at[v, "p"])]
    index = clump(
        matrix, table.loc[top, "p"], p_threshold=1.0, r2=_TREE_CLUMP_R2, window_bp=PRS_WINDOW_BP
    )
    return index[:TREE_SCREEN]


def _screens(
    matrix: DosageMatrix,
    y: np.ndarray,
    covariates: np.ndarray | None,
    *,
    binary: bool,
    cv: list[tuple[np.ndarray, np.ndarray]],
    needed: set[str],
    snp_set: SnpSet | None,
) -> dict[str, tuple[list[str], list[list[str]] | None]]:
    """Return, per screened kind, its SNPs on all rows and on each fold's training rows.

    One association test on all rows and one per fold serve both kinds; LD
    for clumping is measured on all rows, which uses no outcome.
    """
    test: Literal["linear", "logistic"] = "logistic" if binary else "linear"
    trees = "xgboost" in needed and snp_set is None
    if not ({"elastic_net"} & needed or trees):
        tables = []
    else:
        tables = [associate(matrix, y, covariates=covariates, kind=test)] + [
            associate(
                matrix.subset(samples=train),
                y[train],
                covariates=None if covariates is None else covariates[train],
                kind=test,
            )
            for train, _ in cv
        ]
    out: dict[str, tuple[list[str], list[list[str]] | None]] = {}
    if "elastic_net" in needed:
        linear = [
            [v for v in Association(t).top(LINEAR_SCREEN) if np.isfinite(t.at[v, "p"])]
            for t in tables
        ]
        out["elastic_net"] = (linear[0], linear[1:])
    if "xgboost" in needed:
        if snp_set is not None:
            variant_columns(matrix, snp_set.variants)  # fail early on unknown ids
            out["xgboost"] = (list(snp_set.variants), None)
        else:
            boosted = [_tree_snps(matrix, t) for t in tables]
            out["xgboost"] = (boosted[0], boosted[1:])
    for kind, (full, folded) in out.items():
        if not full or any(not ids for ids in folded or []):
            raise InputError(f"No variant passed the screen of the {kind} model.")
    return out


def fit_trait_models(
    matrix: DosageMatrix,
    y: np.ndarray,
    *,
    covariates: pd.DataFrame | None = None,
    snp_set: SnpSet | None = None,
    kinds: Sequence[str] = KINDS,
    binary: bool | None = None,
    n_bootstrap: int = 50,
    random_state: int = 0,
    xgb_params: Mapping[str, Any] | None = None,
    trait: str | None = None,
) -> dict[str, TraitModel]:
    """Fit genetic models of one trait: linear scores, XGBoost and their ensemble.

    ``prs_ct``: marginal betas (:func:`~clarity.genotype.associate`, with
    the covariates) on a discovery 80 % of the samples, PLINK clumping (r²
    0.1, 250 kb), and the p threshold of ``PRS_THRESHOLDS`` (1e-6 to 0.5)
    whose score, regressed with the covariates on the other 20 %, fits
    them best. ``elastic_net``: scikit-learn's ``ElasticNet`` (a
    ``LogisticRegression`` with an elastic-net penalty, saga, for a binary
    trait) on the 500 SNPs of smallest p-value and the covariates,
    standardised; the penalty is chosen by 5-fold cross-validation in which
    every fold screens its own SNPs (see :func:`fit_elastic_net
    <clarity.genotype._prs.fit_elastic_net>`). ``xgboost``: ``hist`` trees
    on the SNP set's variants (or, without one, the index SNPs of an r² 0.5
    clumping of the 1,000 smallest p-values, 100 at most) and the
    covariates, the rounds chosen by early stopping on 20 % of the samples,
    then refitted on all. ``ensemble``: the elastic net and XGBoost combined
    with non-negative weights, by least squares (a logistic likelihood for
    a binary trait) on their 5-fold out-of-fold predictions, for which each
    fold screens its own SNPs too. A SNP set given here is used as it is in
    every fold; select it on these training samples only. See the module
    docstring for calibration and the bootstrap.

    Parameters
    ----------
    matrix
        Dosages of the training cohort (after QC).
    y
        Trait value per sample, in the matrix's order.
    covariates
        Numeric covariates (age, sex as 0/1, genotype principal components
        from :func:`principal_components`, ...), one row per sample in the
        matrix's order; None for none.
    snp_set
        SNPs for XGBoost (and the ensemble), e.g. from
        :class:`~clarity.genotype.SequentialTreeSelector` fitted on these
        training samples; None to screen them here.
    kinds
        Which models to return; the ensemble also fits the elastic net and
        XGBoost (returned only when asked for).
    binary
        True for a 0/1 trait (probabilities), False for a continuous one,
        None to decide from the values (0/1 with both classes is binary).
    n_bootstrap
        Bootstrap replicates per model, for :meth:`TraitModel.interval`; 0
        for none.
    random_state
        Seed of the internal splits, folds, resamples and XGBoost.
    xgb_params
        XGBoost parameters over the defaults (depth 3, learning rate 0.05,
        row subsampling 0.8, column subsampling 0.5 per node,
        ``min_child_weight`` 5, 16 histogram bins); two keys are not
        XGBoost's own: ``num_boost_round`` (2,000 at most) and
        ``early_stopping_rounds`` (100). ``nthread`` changes speed, not
        results, and is not part of a model's version.
    trait
        Name of the trait; None for the SNP set's trait, or ``"trait"``.

    Returns
    -------
    dict
        Kind to fitted :class:`TraitModel`, in the order of :data:`KINDS`.

    Raises
    ------
    ValueError
        If a parameter is not allowed.
    InputError
        If ``y`` or the covariates do not fit the matrix, ``binary`` is True
        for a trait that is not 0/1, the SNP set names variants the matrix
        lacks or another trait, or no variant passes a screen.
    """
    chosen = _kinds(kinds)
    n_bootstrap = _count("n_bootstrap", n_bootstrap, 0)
    random_state = _count("random_state", random_state, 0)
    if xgb_params is not None and not isinstance(xgb_params, Mapping):
        raise ValueError(
            "The 'xgb_params' parameter of fit_trait_models must be a mapping or None. "
            f"Got {type(xgb_params).__name__} instead."
        )
    y = np.asarray(y, dtype=np.float64)
    cov = _covariates(covariates, matrix.n_samples)
    cov_array = cov.values if cov.names else None
    _check_trait(matrix, y, cov_array)
    zero_one = bool(np.all((y == 0) | (y == 1)) and y.min() != y.max())
    if binary is None:
        binary = zero_one
    elif binary and not zero_one:
        raise InputError("A binary trait must be 0/1 with both classes.")
    if snp_set is not None and trait is not None and snp_set.trait != trait:
        raise InputError(f"The SNP set was selected for {snp_set.trait!r}, not for {trait!r}.")
    name = trait if trait is not None else (snp_set.trait if snp_set is not None else "trait")
    clash = set(cov.names) & ({_BIAS} | set(matrix.variants["id"].astype(str)))
    if clash:
        raise InputError(f"Covariate names may not be 'bias' or a variant id; got {clash}.")
    booster = {**_XGB_DEFAULTS, **dict(xgb_params or {})}
    common = {"method": _METHOD, "n_bootstrap": n_bootstrap, "random_state": random_state}
    settings: dict[str, dict[str, Any]] = {
        "prs_ct": {
            "thresholds": list(PRS_THRESHOLDS),
            "clump_r2": PRS_CLUMP_R2,
            "window_bp": PRS_WINDOW_BP,
            "validation_fraction": VALIDATION_FRACTION,
        },
        "elastic_net": {"screen": LINEAR_SCREEN},
        "xgboost": {
            "screen": "snp_set" if snp_set is not None else TREE_SCREEN,
            "xgb_params": {k: v for k, v in booster.items() if k not in _RESOURCES},
        },
    }
    settings["ensemble"] = {
        "elastic_net": settings["elastic_net"],
        "xgboost": settings["xgboost"],
        "meta": "logistic" if binary else "non-negative linear",
    }
    _canonical(settings)  # fail on unserialisable xgb_params before fitting anything

    needed = set(chosen) | ({"elastic_net", "xgboost"} if "ensemble" in chosen else set())
    resamples = _resamples(y, binary, n_bootstrap, random_state)
    cv = folds(y, binary, random_state)
    screens = _screens(matrix, y, cov_array, binary=binary, cv=cv, needed=needed, snp_set=snp_set)
    fitted: dict[str, Fitted] = {}
    snps = {kind: full for kind, (full, _) in screens.items()}
    if "prs_ct" in needed:
        fitted["prs_ct"], snps["prs_ct"] = fit_prs_ct(
            matrix, y, cov, binary=binary, seed=random_state, resamples=resamples
        )
    every = [*snps.values(), *(ids for _, folded in screens.values() for ids in folded or [])]
    union = list(dict.fromkeys(v for ids in every for v in ids))
    columns = variant_columns(matrix, union)
    means = called_means(matrix, columns)
    x = Features(np.hstack([imputed(matrix, columns, means), cov.values]), (*union, *cov.names))
    center = dict(zip(x.names, np.concatenate([means, cov.values.mean(axis=0)]), strict=True))
    if "elastic_net" in needed:
        full, folded = screens["elastic_net"]
        assert folded is not None
        fitted["elastic_net"] = fit_elastic_net(
            x,
            y,
            screens=(full, folded),
            covariates=cov.names,
            cv=cv,
            binary=binary,
            seed=random_state,
            resamples=resamples,
        )
    if "xgboost" in needed:
        fitted["xgboost"] = _fit_xgboost(
            x,
            y,
            screens=screens["xgboost"],
            covariates=cov.names,
            cv=cv if binary or "ensemble" in chosen else None,
            binary=binary,
            seed=random_state,
            params=booster,
            resamples=resamples,
        )
    if "ensemble" in chosen:
        fitted["ensemble"] = _stack(fitted["elastic_net"], fitted["xgboost"], y, binary=binary)
        snps["ensemble"] = list(dict.fromkeys(snps["elastic_net"] + snps["xgboost"]))

    digest = _data_digest(matrix, y, cov_array)
    models: dict[str, TraitModel] = {}
    for kind in chosen:
        fit = fitted[kind]
        calibration: tuple[float, float] | None = None
        if binary:
            calibration = (1.0, 0.0)
            if fit.oof is not None and kind in ("elastic_net", "xgboost"):
                calibration = _logistic_line(fit.oof, y)
        features = tuple(snps[kind]) + cov.names
        uses_set = snp_set is not None and kind in ("xgboost", "ensemble")
        models[kind] = TraitModel(
            kind=kind,
            trait=name,
            binary=binary,
            snp_ids=tuple(snps[kind]),
            covariates=cov.names,
            centers=np.array([center.get(f, np.nan) for f in features]),
            part=fit.part,
            bootstrap=tuple(fit.bootstrap),
            calibration=calibration,
            params={**common, **settings[kind]},
            details=fit.details,
            data_digest=digest,
            snp_set_version=snp_set.version if snp_set is not None and uses_set else None,
        )
    return models


def evaluate(
    model: TraitModel, matrix: DosageMatrix, y: np.ndarray, covariates: pd.DataFrame | None = None
) -> dict[str, float]:
    """Score a model on held-out samples.

    Parameters
    ----------
    model
        A fitted model.
    matrix
        Dosages of the held-out samples.
    y
        Their trait values, in the matrix's order (0/1 for a binary trait).
    covariates
        Their covariates (see :meth:`TraitModel.predict`).

    Returns
    -------
    dict
        Continuous trait: ``r2`` (1 - residual / total sum of squares, so it
        is negative for a model worse than the held-out mean). Binary:
        ``auc`` (ROC), ``brier`` (mean squared error of the probabilities)
        and ``calibration_slope`` (slope of the logistic regression of the
        outcome on the predicted log-odds: 1 is calibrated, below 1 too
        extreme, above 1 too timid).

    Raises
    ------
    InputError
        If ``y`` does not fit the matrix, or a binary ``y`` is not 0/1 with
        both classes.
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y, dtype=np.float64)
    _check_trait(matrix, y, None)
    predicted = model.predict(matrix, covariates)
    if not model.binary:
        total = float(np.sum((y - y.mean()) ** 2))
        return {"r2": 1 - float(np.sum((y - predicted) ** 2)) / total}
    if not np.all((y == 0) | (y == 1)) or y.min() == y.max():
        raise InputError("Evaluating a binary model needs 0/1 outcomes with both classes.")
    clipped = np.clip(predicted, 1e-12, 1 - 1e-12)
    slope, _ = _logistic_line(logit(clipped), y)
    return {
        "auc": float(roc_auc_score(y, predicted)),
        "brier": float(np.mean((predicted - y) ** 2)),
        "calibration_slope": slope,
    }

"""Stage 3 of the genotype service, boosted half: XGBoost trait models and the stacked ensemble.

:func:`fit_xgboost` fits gradient-boosted trees (``hist``) on a compact SNP
set plus covariates, the rounds chosen by early stopping; :func:`stack`
combines a linear and a boosted model with non-negative weights fitted on
their out-of-fold predictions (Breiman's stacked regressions [1]_). The
Platt recalibration of a binary model's margin is :func:`logistic_line`.

References
----------
.. [1] Breiman L. "Stacked regressions." Mach Learn 1996;24(1):49-64.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from scipy.special import expit, logit

from clarity.errors import InputError
from clarity.genotype._features import Features, Fitted, Part
from clarity.genotype._prs import PenalisedPart, split_rows
from clarity.genotype._xgb import train_booster

__all__ = ["BoostedPart", "StackedPart", "fit_xgboost", "logistic_fit", "logistic_line", "stack"]
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


def fit_xgboost(
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
    client: Any = None,
) -> Fitted:
    """Fit XGBoost: rounds chosen by early stopping on a split, then refitted on every row.

    ``screens`` holds the SNPs for all rows and, when they were screened
    here, those screened on each fold's training rows, which the out-of-fold
    refits (for stacking and calibration; ``cv`` None for none) read. With a
    Dask ``client`` every booster trains on the cluster's workers.
    """
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
    probe = train_booster(
        booster_params,
        data[train],
        y[train],
        rounds=int(params["num_boost_round"]),
        valid=(data[valid], y[valid]),
        early_stopping_rounds=int(params["early_stopping_rounds"]),
        client=client,
    )
    # Every later fit (on all rows, on resamples, on folds) runs the rounds early stopping
    # chose on 80 % of the rows, with no early stopping of its own: a resample holds about
    # 63 % distinct rows, so it cannot hold out a validation split of its own.
    rounds = int(probe.best_iteration) + 1

    def refit(columns: Sequence[str], rows: np.ndarray) -> BoostedPart:
        booster = train_booster(
            booster_params, x.take(columns)[rows], y[rows], rounds=rounds, client=client
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


def stack(linear: Fitted, boosted: Fitted, y: np.ndarray, *, binary: bool) -> Fitted:
    """Fit the stacking weights on out-of-fold margins and wrap the parts and replicates.

    The weights are constrained to be non-negative (Breiman [1]): the two
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
            coef, intercept, fit = logistic_fit(z[:, used], y)
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


def logistic_fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, float]:
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


def logistic_line(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return (slope, intercept) of the logistic regression of y on one predictor z."""
    coef, intercept, _ = logistic_fit(z[:, None], y)
    return float(coef[0]), intercept

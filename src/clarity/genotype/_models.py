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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import logit

from clarity.errors import InputError
from clarity.genotype._boosted import _RESOURCES, _XGB_DEFAULTS, fit_xgboost, logistic_line, stack
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._features import (
    Features,
    Fitted,
    called_means,
    covariate_features,
    imputed,
    variant_columns,
)
from clarity.genotype._prs import (
    LINEAR_SCREEN,
    PRS_CLUMP_R2,
    PRS_THRESHOLDS,
    PRS_WINDOW_BP,
    VALIDATION_FRACTION,
    fit_elastic_net,
    fit_prs_ct,
    folds,
)
from clarity.genotype._screen import Association, _check_trait, associate, clump
from clarity.genotype._select import SequentialTreeSelector, SnpSet, _data_digest
from clarity.genotype._trait_model import KINDS, Kind, TraitModel, _canonical

__all__ = ["evaluate", "fit_trait_models"]

_METHOD = "clarity.genotype.trait-models/1"
# Without a SnpSet, XGBoost reads the index SNPs of a loose clumping (r² 0.5) of the
# smallest p-values: trees split on one of several proxies of a locus at random, so the
# top p-values themselves (mostly proxies of a few loci) did far worse on the simulated
# additive trait (held-out R² 0.26 against 0.37-0.40 for clumped SNPs, 2,250 samples).
TREE_SCREEN = 100
_TREE_PRESCREEN = 1_000
_TREE_CLUMP_R2 = 0.5
_BIAS = "bias"


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


# --- fitting --------------------------------------------------------------------------------


def _tree_snps(matrix: DosageMatrix, table: pd.DataFrame) -> list[str]:
    """Return the SNPs XGBoost reads without a SnpSet: clumped top p-values, best first."""
    top = [v for v in Association(table).top(_TREE_PRESCREEN) if np.isfinite(table.at[v, "p"])]
    index = clump(
        matrix, table.loc[top, "p"], p_threshold=1.0, r2=_TREE_CLUMP_R2, window_bp=PRS_WINDOW_BP
    )
    return index[:TREE_SCREEN]


def _like(selector: SequentialTreeSelector) -> SequentialTreeSelector:
    """Return an unfitted selector with the same parameters."""
    return SequentialTreeSelector(
        n_keep=selector.n_keep,
        shrink=selector.shrink,
        rounds=selector.rounds,
        xgb_params=selector.xgb_params,
        objective=selector.objective,
        random_state=selector.random_state,
        prescreen=selector.prescreen,
    )


def _screens(
    matrix: DosageMatrix,
    y: np.ndarray,
    covariates: np.ndarray | None,
    *,
    binary: bool,
    cv: list[tuple[np.ndarray, np.ndarray]],
    needed: set[str],
    snp_set: SnpSet | None,
    reselect: SequentialTreeSelector | None = None,
    client: Any = None,
) -> dict[str, tuple[list[str], list[list[str]] | None]]:
    """Return, per screened kind, its SNPs on all rows and on each fold's training rows.

    One association test on all rows and one per fold serve both kinds; LD
    for clumping is measured on all rows, which uses no outcome. A given SNP
    set serves all rows; with ``reselect`` each fold selects its own.
    """
    test: Literal["linear", "logistic"] = "logistic" if binary else "linear"
    trees = "xgboost" in needed and snp_set is None
    if not ({"elastic_net"} & needed or trees):
        tables = []
    else:
        tables = [associate(matrix, y, covariates=covariates, kind=test)] + [
            associate(
                matrix,
                y[train],
                covariates=None if covariates is None else covariates[train],
                kind=test,
                rows=train,
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
            folded = None
            if reselect is not None:
                folded = [
                    list(
                        _like(reselect)
                        .fit(
                            matrix.subset(samples=train),
                            y[train],
                            covariates=None if covariates is None else covariates[train],
                            trait=snp_set.trait,
                            client=client,
                        )
                        .snp_set_.variants
                    )
                    for train, _ in cv
                ]
            out["xgboost"] = (list(snp_set.variants), folded)
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
    reselect: SequentialTreeSelector | None = None,
    client: Any = None,
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
    reselect
        With ``snp_set``: the selector that chose it (unfitted, or fitted; only
        its parameters are used). Each fold of the out-of-fold refits then
        selects its own SNPs on its training rows, as the linear screens do,
        so the stacking weights and XGBoost's calibration are not fitted on
        predictions whose SNPs were chosen with the rows predicted. Costs one
        selection per fold.
    client
        A ``distributed.Client``: every XGBoost booster trains on the Dask
        cluster's workers (``xgboost.dask``) rather than in this process.
        Like ``nthread``, it is not part of a model's version; the boosters
        match single-process ones within sketching noise (see
        :mod:`clarity.genotype._xgb`).

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
    cov = covariate_features(covariates, matrix.n_samples)
    cov_array = cov.values if cov.names else None
    _check_trait(matrix, y, cov_array)
    zero_one = bool(np.all((y == 0) | (y == 1)) and y.min() != y.max())
    if binary is None:
        binary = zero_one
    elif binary and not zero_one:
        raise InputError("A binary trait must be 0/1 with both classes.")
    if reselect is not None and (
        snp_set is None or not isinstance(reselect, SequentialTreeSelector)
    ):
        raise ValueError(
            "The 'reselect' parameter of fit_trait_models must be a SequentialTreeSelector, "
            f"given with a snp_set. Got {type(reselect).__name__} with snp_set={snp_set!r}."
        )
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
            "screen": TREE_SCREEN
            if snp_set is None
            else ("snp_set, reselected per fold" if reselect is not None else "snp_set"),
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
    oof_boosted = binary or "ensemble" in chosen
    screens = _screens(
        matrix,
        y,
        cov_array,
        binary=binary,
        cv=cv,
        needed=needed,
        snp_set=snp_set,
        reselect=reselect if oof_boosted and "xgboost" in needed else None,
        client=client,
    )
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
        fitted["xgboost"] = fit_xgboost(
            x,
            y,
            screens=screens["xgboost"],
            covariates=cov.names,
            cv=cv if oof_boosted else None,
            binary=binary,
            seed=random_state,
            params=booster,
            resamples=resamples,
            client=client,
        )
    if "ensemble" in chosen:
        fitted["ensemble"] = stack(fitted["elastic_net"], fitted["xgboost"], y, binary=binary)
        snps["ensemble"] = list(dict.fromkeys(snps["elastic_net"] + snps["xgboost"]))

    digest = _data_digest(matrix, y, cov_array)
    models: dict[str, TraitModel] = {}
    for kind in chosen:
        fit = fitted[kind]
        calibration: tuple[float, float] | None = None
        if binary:
            calibration = (1.0, 0.0)
            if fit.oof is not None and kind in ("elastic_net", "xgboost"):
                calibration = logistic_line(fit.oof, y)
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
    slope, _ = logistic_line(logit(clipped), y)
    return {
        "auc": float(roc_auc_score(y, predicted)),
        "brier": float(np.mean((predicted - y) ** 2)),
        "calibration_slope": slope,
    }

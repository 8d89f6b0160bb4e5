"""Train the genotype service's panel: QC, principal components, then per trait select and fit.

:func:`train_panel` runs the whole pipeline of issue 8 on a reference cohort
(a biobank, or the synthetic cohort's reference panel) with phenotypes:

1. quality control (:func:`~clarity.genotype.quality_control`);
2. a random split into training and held-out samples;
3. genotype principal components fitted on the training samples (no outcome
   is used), the held-out ones projected as patients are;
4. per trait, on the training samples: the sequential tree-based SNP
   selection, then every kind of model (the linear score, the elastic net,
   XGBoost on the selected SNPs plus covariates, their ensemble), each fold
   of the ensemble's cross-validation selecting its own SNPs;
5. per trait, on the held-out samples: every kind's metrics, and the served
   kind's scores, which become the reference distribution of percentiles.

The served model is the one evaluated: it is not refitted on the held-out
samples afterwards, so its held-out metrics describe exactly what patients are
scored with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from clarity.errors import InputError
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._models import evaluate, fit_trait_models
from clarity.genotype._panel import PC_PREFIX, TraitPanel
from clarity.genotype._pca import principal_components
from clarity.genotype._qc import quality_control
from clarity.genotype._select import SequentialTreeSelector
from clarity.genotype._trait_model import KINDS

__all__ = ["SELECTOR_DEFAULTS", "train_panel"]

SELECTOR_DEFAULTS: dict[str, Any] = {"n_keep": 50, "prescreen": 2_000, "shrink": 0.5}
"""The selector's settings in a panel: a compact set, from the 2,000 smallest p-values."""
_TRAIT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PCA_VARIANTS = 5_000  # evenly spaced variants the components are computed on
_MIN_HELD_OUT = 20


def _binary_coding(values: pd.Series) -> pd.Series:
    """Return 0/1 for PLINK's 1 = control, 2 = case coding; other values unchanged."""
    called = values.dropna()
    if len(called) and set(np.unique(called)) <= {1.0, 2.0} and called.nunique() == 2:
        return values - 1.0
    return values


def _traits(phenotypes: pd.DataFrame, traits: Sequence[str] | None) -> list[str]:
    names = [str(c) for c in phenotypes.columns] if traits is None else [str(t) for t in traits]
    absent = [t for t in names if t not in phenotypes.columns]
    if absent:
        raise InputError(
            f"The phenotypes have no column {absent}; they have {list(phenotypes.columns)}."
        )
    bad = [t for t in names if not _TRAIT.match(t)]
    if bad or not names:
        raise InputError(
            "Trait names must be lower-case letters, digits and '_', starting with a letter "
            f"(e.g. 'depression_liability'); rename the columns {bad or names}."
        )
    return names


def train_panel(
    matrix: DosageMatrix,
    phenotypes: pd.DataFrame,
    *,
    traits: Sequence[str] | None = None,
    kind: str = "ensemble",
    covariates: pd.DataFrame | None = None,
    n_pcs: int = 4,
    test_fraction: float = 0.2,
    selector: Mapping[str, Any] | None = None,
    n_bootstrap: int = 30,
    qc: Mapping[str, Any] | None = None,
    xgb_params: Mapping[str, Any] | None = None,
    random_state: int = 0,
    genome_build: str = "grch38",
    client: Any = None,
    progress: Callable[[str], None] | None = None,
) -> TraitPanel:
    """Train per-trait genetic risk models on a reference cohort and package them.

    Parameters
    ----------
    matrix
        Genotypes of the reference cohort.
    phenotypes
        One column per trait, indexed by sample id (as
        :func:`~clarity.genotype.read_phenotypes` returns); NaN where a
        sample has no value. A column of only 1 and 2 is PLINK's
        control/case coding and is read as 0/1. Samples of the matrix
        without a row are used for the components only.
    traits
        The columns to model; None for all.
    kind
        The kind served: ``"ensemble"`` (default), ``"xgboost"``,
        ``"elastic_net"`` or ``"prs_ct"``. Every kind is fitted and
        evaluated either way.
    covariates
        Numeric covariates besides the components (e.g. ``age``, ``sex``
        as 0/1), indexed by sample id; the service supplies ``age`` and
        ``sex`` from the patient's record. None for none.
    n_pcs
        Principal components used as covariates (0 for none).
    test_fraction
        Share of the samples held out for the metrics and the reference
        distribution, in (0, 1).
    selector
        :class:`~clarity.genotype.SequentialTreeSelector` parameters over
        :data:`SELECTOR_DEFAULTS`.
    n_bootstrap
        Bootstrap replicates per model (intervals).
    qc
        :func:`~clarity.genotype.quality_control` thresholds over its
        defaults.
    xgb_params
        XGBoost parameters of the trait models (see
        :func:`~clarity.genotype.fit_trait_models`).
    random_state
        Seed of the split, the selector and the models.
    genome_build
        Build of the positions, recorded in the panel.
    client
        A ``distributed.Client`` to train every booster on (see
        :func:`~clarity.genotype.fit_trait_models`).
    progress
        Called with a line per stage.

    Returns
    -------
    TraitPanel
        The served model per trait, with SNP sets, metrics and reference scores.

    Raises
    ------
    ValueError
        If ``kind``, ``n_pcs`` or ``test_fraction`` is not allowed.
    InputError
        If a trait is absent or badly named, the phenotypes share no sample
        with the matrix, or a trait has too few held-out samples (or one
        class only).
    """
    if kind not in KINDS:
        raise ValueError(
            "Invalid value for the 'kind' parameter. Allowed values are "
            f"{', '.join(repr(k) for k in KINDS)}, but got {kind!r} instead."
        )
    if isinstance(n_pcs, bool) or not isinstance(n_pcs, int) or n_pcs < 0:
        raise ValueError(
            f"The 'n_pcs' parameter of train_panel must be an int in the range [0, inf). "
            f"Got {n_pcs!r} instead."
        )
    if not 0 < test_fraction < 1:
        raise ValueError(
            "The 'test_fraction' parameter of train_panel must be a float in the range (0, 1). "
            f"Got {test_fraction!r} instead."
        )
    say = progress or (lambda _: None)
    names = _traits(phenotypes, traits)
    index = pd.Index([str(i) for i in phenotypes.index])
    if not index.isin(matrix.samples).any():
        raise InputError("The phenotypes name none of the genotyped samples.")
    kept, report = quality_control(matrix, **dict(qc or {}))
    say(
        f"quality control: {report.samples_out:,} of {report.samples_in:,} samples and "
        f"{report.variants_out:,} of {report.variants_in:,} variants kept"
    )
    rng = np.random.default_rng([random_state, 1])
    held = np.zeros(kept.n_samples, dtype=bool)
    held[rng.permutation(kept.n_samples)[: round(test_fraction * kept.n_samples)]] = True
    pc_frame = pd.DataFrame(index=range(kept.n_samples))
    pca = None
    if n_pcs:
        step = -(-kept.n_variants // _PCA_VARIANTS)
        ids = list(kept.variants["id"].astype(str))[::step]
        # Fitted on the training people only and projected for the held-out ones, as patients
        # will be: a sample's in-sample components are larger than its projection (shrinkage
        # when variants outnumber people), so the held-out metrics and percentiles must see
        # the projections.
        _, pca = principal_components(
            kept.subset(samples=np.flatnonzero(~held)),
            n_pcs,
            variants=ids,
            random_state=random_state,
        )
        pcs = pca.transform(kept)
        pc_frame = pd.DataFrame(pcs, columns=[f"{PC_PREFIX}{i + 1}" for i in range(n_pcs)])
        say(f"principal components: {n_pcs} from {len(ids):,} variants")
    extra_names: tuple[str, ...] = ()
    design = pc_frame
    if covariates is not None:
        extra = covariates.copy()
        extra.index = pd.Index([str(i) for i in extra.index])
        lacking = [s for s in kept.samples if s not in extra.index]
        if lacking:
            raise InputError(f"The covariates lack {len(lacking)} samples, e.g. {lacking[0]!r}.")
        extra_names = tuple(str(c) for c in extra.columns)
        design = pd.concat([pc_frame, extra.loc[list(kept.samples)].reset_index(drop=True)], axis=1)
    table = phenotypes.copy()
    table.index = index
    table = table.reindex(list(kept.samples))
    chosen = {**SELECTOR_DEFAULTS, **dict(selector or {})}

    models, snp_sets, reference, metrics = {}, {}, {}, {}
    subsets: dict[bytes, tuple[DosageMatrix, DosageMatrix]] = {}
    n_train: dict[str, int] = {}
    n_test: dict[str, int] = {}
    for trait in names:
        y_all = _binary_coding(table[trait].astype(np.float64)).to_numpy()
        have = ~np.isnan(y_all)
        train_rows = np.flatnonzero(have & ~held)
        test_rows = np.flatnonzero(have & held)
        y_test = y_all[test_rows]
        binary = bool(np.isin(y_all[have], (0.0, 1.0)).all())
        if len(test_rows) < _MIN_HELD_OUT or (binary and len(np.unique(y_test)) < 2):
            raise InputError(
                f"The trait {trait!r} has {len(test_rows)} held-out samples"
                + (" of one class" if binary else "")
                + f"; at least {_MIN_HELD_OUT} (of both classes for a 0/1 trait) are needed."
            )
        # Traits with the same missing phenotypes share one in-memory copy of their rows.
        key = train_rows.tobytes()
        if key not in subsets:
            subsets.clear()
            subsets[key] = (kept.subset(samples=train_rows), kept.subset(samples=test_rows))
        train, test = subsets[key]
        cov_train = design.iloc[train_rows].reset_index(drop=True)
        cov_test = design.iloc[test_rows].reset_index(drop=True)
        has_cov = bool(len(design.columns))
        trait_selector = SequentialTreeSelector(random_state=random_state, **chosen)
        selected = trait_selector.fit(
            train,
            y_all[train_rows],
            covariates=cov_train.to_numpy() if has_cov else None,
            trait=trait,
            client=client,
        )
        snp_set = selected.snp_set_
        fitted = fit_trait_models(
            train,
            y_all[train_rows],
            covariates=cov_train if has_cov else None,
            snp_set=snp_set,
            reselect=trait_selector,
            n_bootstrap=n_bootstrap,
            random_state=random_state,
            xgb_params=xgb_params,
            trait=trait,
            client=client,
        )
        metrics[trait] = {
            k: evaluate(m, test, y_test, cov_test if has_cov else None) for k, m in fitted.items()
        }
        served = fitted[kind]
        models[trait] = served
        snp_sets[trait] = snp_set
        reference[trait] = served.predict(test, cov_test if has_cov else None)
        n_train[trait], n_test[trait] = len(train_rows), len(test_rows)
        shown = ", ".join(
            f"{k} {v.get('auc', v.get('r2', float('nan'))):.3f}" for k, v in metrics[trait].items()
        )
        say(
            f"{trait}: {len(snp_set.variants)} SNPs selected; held-out "
            f"{'AUC' if served.binary else 'R²'}: {shown}"
        )
    used = list(dict.fromkeys(v for m in models.values() for v in m.snp_ids))
    if pca is not None:
        used = list(dict.fromkeys([*used, *pca.variants]))
    by_id = kept.variants.set_index(kept.variants["id"].astype(str))
    variants = by_id.loc[used].reset_index(drop=True)
    settings = {
        "kind": kind,
        "n_pcs": n_pcs,
        "test_fraction": test_fraction,
        "selector": chosen,
        "n_bootstrap": n_bootstrap,
        "xgb_params": {k: v for k, v in dict(xgb_params or {}).items() if k != "nthread"},
        "random_state": random_state,
        "quality_control": asdict(report),
        "n_train": n_train,
        "n_test": n_test,
    }
    return TraitPanel(
        models=models,
        snp_sets=snp_sets,
        pca=pca,
        reference_scores=reference,
        metrics=metrics,
        variants=variants,
        covariates=extra_names,
        genome_build=genome_build,
        settings=settings,
    )

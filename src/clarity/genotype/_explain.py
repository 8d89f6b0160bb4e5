"""Explanations of genetic trait predictions: each patient's top contributing SNPs.

Contributions are additive on the model's margin (the predicted value, or the
log-odds before calibration for a binary trait): for every sample, the SNP
contributions, the covariate contributions and a bias add up to
:meth:`TraitModel.decision_function <clarity.genotype.TraitModel.decision_function>`.

- ``xgboost``: XGBoost's ``pred_contribs``, the exact TreeSHAP values of
  Lundberg et al. [1]_, on the raw margin. Platt calibration only rescales
  the margin (a positive slope), so it changes no patient's ranking of SNPs.
- ``prs_ct`` and ``elastic_net``: exactly ``beta * (dosage - mean)``, with
  ``beta`` on the dosage scale and ``mean`` the training mean, so a patient
  with the cohort's average genotype has no contributions; for ``prs_ct``
  ``beta`` is the SNP's weight times the score's coefficient.
- ``ensemble``: each part's contributions times its stacking weight.

References
----------
.. [1] Lundberg SM, et al. "From local explanations to global understanding
   with explainable AI for trees." Nat Mach Intell 2020;2:56-67.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._trait_model import TraitModel

__all__ = ["contributions", "top_contributions"]


def contributions(
    model: TraitModel, matrix: DosageMatrix, covariates: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Return every feature's contribution to each sample's margin.

    Parameters
    ----------
    model
        A fitted model.
    matrix
        Dosages of the samples (see :meth:`TraitModel.predict
        <clarity.genotype.TraitModel.predict>`).
    covariates
        Covariates of the samples, or None when the model has none.

    Returns
    -------
    pandas.DataFrame
        Indexed by sample id, one column per SNP of the model, then per
        covariate, then ``bias``; each row sums to the sample's margin.

    Raises
    ------
    InputError
        If the matrix lacks a SNP or the covariates do not fit.
    """
    values = model._explain(matrix, covariates)
    columns = [*model.snp_ids, *model.covariates, "bias"]
    return pd.DataFrame(values, index=pd.Index(matrix.samples, name="sample"), columns=columns)


def top_contributions(
    model: TraitModel,
    matrix: DosageMatrix,
    covariates: pd.DataFrame | None = None,
    *,
    k: int = 5,
) -> list[list[tuple[str, float]]]:
    """Return each sample's SNPs with the largest absolute contributions.

    Covariates and the bias are left out: the list says which variants moved
    this patient's prediction, and in which direction.

    Parameters
    ----------
    model
        A fitted model.
    matrix
        Dosages of the samples (see :meth:`TraitModel.predict
        <clarity.genotype.TraitModel.predict>`).
    covariates
        Covariates of the samples, or None when the model has none.
    k
        SNPs per sample (all of the model's when it has fewer).

    Returns
    -------
    list of list of (str, float)
        Per sample, in the matrix's order: ``(variant id, contribution)``
        pairs, largest ``|contribution|`` first (ties in the model's SNP
        order), signed on the model's margin scale.

    Raises
    ------
    ValueError
        If ``k`` is not a positive int.
    InputError
        If the matrix lacks a SNP or the covariates do not fit.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(
            f"The 'k' parameter of top_contributions must be an int in the range [1, inf). "
            f"Got {k!r} instead."
        )
    snps = model._explain(matrix, covariates)[:, : len(model.snp_ids)]
    order = np.argsort(-np.abs(snps), axis=1, kind="stable")[:, :k]
    return [
        [(model.snp_ids[j], float(row[j])) for j in columns]
        for row, columns in zip(snps, order, strict=True)
    ]

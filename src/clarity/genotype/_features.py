"""Features the trait models read: SNP dosages by id, mean-imputed, then numeric covariates.

The fill value of a no-call is the training cohort's mean dosage, so one
patient's missing call is never filled from that patient alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd

from clarity.errors import InputError
from clarity.genotype._dosage import MISSING, DosageMatrix

__all__ = [
    "Features",
    "Fitted",
    "Part",
    "called_means",
    "covariate_features",
    "decision",
    "imputed",
    "variant_columns",
]
_CHUNK = 2_000  # variant columns converted to floats at a time


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


@dataclass
class Fitted:
    """What fitting one kind produced: its predictor, bootstrap replicates and details."""

    part: Part
    bootstrap: list[Part]
    details: dict[str, Any] = field(default_factory=dict)
    oof: np.ndarray | None = None  # out-of-fold margins, when stacking or calibrating


# --- inputs ---------------------------------------------------------------------------------


def covariate_features(
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

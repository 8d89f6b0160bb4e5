"""Per-minute standardisation of actigraphy weeks, kept with the model.

The paper standardises each minute of the week across participants (a
scikit-learn ``StandardScaler`` over the 10,080 columns). Fitting it on the
data being scored would need a cohort; we fit it once on the training weeks
and store the means and SDs with the model, so one patient can be scored alone.
Non-worn minutes take no part in the fit and are set to 0 (the minute's mean)
after scaling; the model masks them anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

__all__ = ["MinuteScaler"]

Transform = Literal["none", "log1p"]


@dataclass
class MinuteScaler:
    """Means and standard deviations of every minute of the week.

    Parameters
    ----------
    mean, scale
        ``(10080,)`` arrays.
    transform
        Applied to counts before scaling: ``"none"`` (the paper) or
        ``"log1p"`` (tames the long tail of wrist counts).
    """

    mean: np.ndarray
    scale: np.ndarray
    transform: Transform = "none"

    @classmethod
    def fit(
        cls,
        counts: np.ndarray,
        wear: np.ndarray,
        *,
        transform: Transform = "none",
        min_scale: float = 1e-3,
    ) -> MinuteScaler:
        """Fit on training weeks, worn minutes only.

        Parameters
        ----------
        counts, wear
            ``(weeks, 10080)`` counts and wear.
        transform
            See the class.
        min_scale
            Absolute floor of a minute's SD. The floor is also at least 1 % of
            the SD over all worn minutes: with few training weeks, a minute
            where everyone was still would otherwise turn any movement in it
            into thousands of SDs and dominate the model.

        Returns
        -------
        MinuteScaler
            The fitted scaler.
        """
        counts, wear = _check(counts, wear)
        if counts.shape[0] == 0:
            raise ValueError("cannot fit a scaler on no weeks")
        values = _apply(counts, transform)
        worn = wear.sum(axis=0)
        total = np.where(wear, values, 0.0).sum(axis=0)
        # Minutes no one wore get the mean over all worn minutes.
        overall = float(values[wear].mean()) if wear.any() else 0.0
        mean = np.where(worn > 0, total / np.maximum(worn, 1), overall)
        squares = np.where(wear, (values - mean) ** 2, 0.0).sum(axis=0)
        overall_sd = float(values[wear].std()) if wear.any() else 1.0
        scale = np.where(worn > 1, np.sqrt(squares / np.maximum(worn, 1)), overall_sd)
        return cls(
            mean=mean.astype(np.float32),
            scale=np.maximum(scale, max(min_scale, 0.01 * overall_sd)).astype(np.float32),
            transform=transform,
        )

    def transform_weeks(self, counts: np.ndarray, wear: np.ndarray) -> np.ndarray:
        """Standardise weeks; non-worn minutes become 0.

        Parameters
        ----------
        counts, wear
            ``(weeks, 10080)``.

        Returns
        -------
        numpy.ndarray
            ``float32`` standardised minutes.
        """
        counts, wear = _check(counts, wear)
        scaled = (_apply(counts, self.transform) - self.mean) / self.scale
        return np.where(wear, scaled, 0.0).astype(np.float32)

    def save(self, path: Path) -> None:
        """Write to an ``.npz`` file.

        Parameters
        ----------
        path
            The file to write (``numpy.savez`` adds ``.npz`` when missing);
            :meth:`load` reads it back.
        """
        np.savez(path, mean=self.mean, scale=self.scale, transform=np.array(self.transform))

    @classmethod
    def load(cls, path: Path) -> MinuteScaler:
        """Read from :meth:`save`'s file."""
        with np.load(path) as data:
            transform = str(data["transform"])
            if transform not in ("none", "log1p"):
                raise ValueError(f"{path}: unknown transform {transform!r}")
            return cls(mean=data["mean"], scale=data["scale"], transform=transform)  # type: ignore[arg-type]


def _apply(counts: np.ndarray, transform: Transform) -> np.ndarray:
    if transform == "log1p":
        logged: np.ndarray = np.log1p(counts)
        return logged
    if transform != "none":
        raise ValueError(f"transform must be 'none' or 'log1p'; got {transform!r}")
    return counts


def _check(counts: np.ndarray, wear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(counts, dtype=np.float64)
    wear = np.asarray(wear, dtype=bool)
    if counts.ndim != 2 or counts.shape != wear.shape:
        raise ValueError(
            f"counts and wear must both be (weeks, minutes); got {counts.shape} and {wear.shape}"
        )
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("counts must be finite and non-negative")
    return counts, wear

"""Weeks of actigraphy with their patients and labels, as arrays for evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clarity.contracts import MINUTES_PER_WEEK

__all__ = ["WeekSet"]


@dataclass(frozen=True)
class WeekSet:
    """Weeks as arrays, one row each.

    Parameters
    ----------
    counts
        ``(n, 10080)`` activity counts.
    wear
        ``(n, 10080)`` wear.
    groups
        ``(n,)`` patient (subject) of each week.
    labels
        ``(n,)`` 0/1, or NaN for unlabelled weeks.
    """

    counts: np.ndarray
    wear: np.ndarray
    groups: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = self.counts.shape[0]
        if self.counts.shape != (n, MINUTES_PER_WEEK) or self.wear.shape != self.counts.shape:
            raise ValueError(
                f"counts and wear must be (n, {MINUTES_PER_WEEK}); "
                f"got {self.counts.shape} and {self.wear.shape}"
            )
        if self.groups.shape != (n,) or self.labels.shape != (n,):
            raise ValueError("groups and labels need one entry per week")
        known = self.labels[~np.isnan(self.labels)]
        if not np.isin(known, (0.0, 1.0)).all():
            raise ValueError("labels must be 0, 1 or NaN")

    @classmethod
    def build(
        cls,
        counts: Sequence[np.ndarray] | np.ndarray,
        wear: Sequence[np.ndarray] | np.ndarray,
        groups: Sequence[str],
        labels: Sequence[float] | None = None,
    ) -> WeekSet:
        """Stack per-week arrays into a set."""
        n = len(groups)
        return cls(
            counts=np.asarray(counts, dtype=np.float32).reshape(n, MINUTES_PER_WEEK),
            wear=np.asarray(wear, dtype=bool).reshape(n, MINUTES_PER_WEEK),
            groups=np.asarray(groups, dtype=str),
            labels=np.full(n, np.nan) if labels is None else np.asarray(labels, dtype=np.float64),
        )

    def __len__(self) -> int:
        return int(self.counts.shape[0])

    @property
    def wear_fraction(self) -> np.ndarray:
        """Share of worn minutes per week."""
        fraction: np.ndarray = self.wear.mean(axis=1)
        return fraction

    def take(self, rows: np.ndarray) -> WeekSet:
        """Select the weeks at some row indices (or a boolean mask).

        Parameters
        ----------
        rows
            Integer row indices, in the order wanted, or a ``(n,)`` boolean mask.

        Returns
        -------
        WeekSet
            The selected weeks with their groups and labels.
        """
        return WeekSet(self.counts[rows], self.wear[rows], self.groups[rows], self.labels[rows])

    def of_groups(self, groups: Sequence[str] | np.ndarray) -> WeekSet:
        """Select the weeks of some patients.

        Parameters
        ----------
        groups
            The patients (values of ``groups``) whose weeks to keep.

        Returns
        -------
        WeekSet
            Their weeks, in the order they have here.
        """
        return self.take(np.isin(self.groups, np.asarray(groups)))

    def labelled(self) -> WeekSet:
        """Select the weeks that have a label.

        Returns
        -------
        WeekSet
            The weeks whose label is not NaN, in the order they have here.
        """
        return self.take(~np.isnan(self.labels))

    def worn(self, min_fraction: float) -> WeekSet:
        """Select the weeks worn at least ``min_fraction`` of the time.

        Parameters
        ----------
        min_fraction
            The least share of worn minutes, in ``[0, 1]``, a week must have.

        Returns
        -------
        WeekSet
            The weeks whose :attr:`wear_fraction` is at least ``min_fraction``,
            in the order they have here.
        """
        return self.take(self.wear_fraction >= min_fraction)

    @staticmethod
    def concat(sets: Sequence[WeekSet]) -> WeekSet:
        """Join sets, in order."""
        return WeekSet(
            np.concatenate([s.counts for s in sets]),
            np.concatenate([s.wear for s in sets]),
            np.concatenate([s.groups for s in sets]),
            np.concatenate([s.labels for s in sets]),
        )

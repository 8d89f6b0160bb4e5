"""Attention maps: which minutes of a week the model looked at.

The paper's method, as its explainability notebook computes it: the last
block's attention ``(heads, queries, keys)`` is summed over the queries (the
attention each patch *receives*), averaged over heads, normalised, and spread
back over the patch's minutes. Only the patches the model pools count as
queries: the others still compute attention rows, but those rows never reach
the prediction, so they must not shape its explanation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["attention_profile"]


def attention_profile(
    weights: np.ndarray,
    wear: np.ndarray,
    patch_size: int,
    queries: np.ndarray | None = None,
) -> np.ndarray:
    """Turn last-layer attention into one value per minute.

    Parameters
    ----------
    weights
        ``(batch, heads, patches, patches)`` attention of the last block.
    wear
        ``(batch, minutes)`` wear; non-worn minutes get 0.
    patch_size
        Minutes per patch.
    queries
        ``(batch, patches)``, the patches the model attends from and pools;
        all of them when not given.

    Returns
    -------
    numpy.ndarray
        ``(batch, minutes)``, each row summing to 1 over the worn minutes.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4 or weights.shape[2] != weights.shape[3]:
        raise ValueError(f"attention must be (batch, heads, patches, patches); got {weights.shape}")
    if queries is not None:
        weights = weights * np.asarray(queries, dtype=bool)[:, None, :, None]
    received = weights.sum(axis=2).mean(axis=1)  # (batch, patches)
    minutes = np.repeat(received, patch_size, axis=1) * np.asarray(wear, dtype=bool)
    total = minutes.sum(axis=1, keepdims=True)
    profile: np.ndarray = np.divide(minutes, total, out=np.zeros_like(minutes), where=total > 0)
    return profile

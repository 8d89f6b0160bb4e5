"""Where XGBoost trains: in this process, or on the workers of a Dask cluster.

Every booster of the genotype service (the selector's rounds, the trait
models, their bootstrap replicates and out-of-fold refits) is trained by
:func:`train_booster`. Given a ``distributed.Client`` it trains through
``xgboost.dask`` [1]_: the rows are split into one partition per worker, each
worker builds histograms of its own rows, and the workers allreduce them, so
a cohort too large for one machine's memory trains on several. The result is
a plain ``xgboost.Booster``, which predicts and saves as a local one does.

Distributed training is not bit-identical to single-process training: the
quantile sketch is merged across partitions and each worker draws its own
row subsamples. On continuous covariates the histogram cut points can move;
dosages (three values) are cut the same way. The tests check that the two
give the same held-out accuracy within a tolerance. The tracker that connects
the workers writes one "Task [xgboost.dask-N] got rank N" line per worker and
booster to standard error, from native code that Python's logging never sees.

References
----------
.. [1] XGBoost developers. "Distributed XGBoost with Dask."
   https://xgboost.readthedocs.io/en/stable/tutorials/dask.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["train_booster"]


def _n_workers(client: Any) -> int:
    workers = client.scheduler_info().get("workers", {})
    return max(1, len(workers))


def _dask_matrix(
    client: Any, x: np.ndarray, y: np.ndarray, parts: int, names: list[str] | None
) -> Any:
    import dask.array as da
    import xgboost.dask

    rows = max(1, -(-len(y) // parts))
    return xgboost.dask.DaskDMatrix(
        client,
        da.from_array(np.ascontiguousarray(x), chunks=(rows, x.shape[1])),  # type: ignore[no-untyped-call]
        da.from_array(np.asarray(y), chunks=rows),  # type: ignore[no-untyped-call]
        feature_names=names,
    )


def train_booster(
    params: Mapping[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    rounds: int,
    valid: tuple[np.ndarray, np.ndarray] | None = None,
    early_stopping_rounds: int | None = None,
    feature_names: list[str] | None = None,
    client: Any = None,
) -> Any:
    """Train one booster, locally or on a Dask cluster.

    Parameters
    ----------
    params
        XGBoost booster parameters (objective, metric, seed, tree settings).
    x, y
        Training features and labels.
    rounds
        Boosting rounds (at most, with early stopping).
    valid
        Validation features and labels that early stopping watches; None
        for none.
    early_stopping_rounds
        Rounds without improvement on ``valid`` before stopping; None trains
        every round.
    feature_names
        Names of the columns of ``x`` (XGBoost's ``f0``, ``f1``, ... when
        None).
    client
        A ``distributed.Client``: train on its workers. None trains here.

    Returns
    -------
    xgboost.Booster
        The booster; with early stopping, ``best_iteration`` and
        ``best_score`` are set.
    """
    import xgboost

    if client is None:
        train = xgboost.DMatrix(x, label=y, feature_names=feature_names)
        evals = []
        if valid is not None:
            evals = [(xgboost.DMatrix(valid[0], label=valid[1], feature_names=feature_names), "v")]
        return xgboost.train(
            dict(params),
            train,
            num_boost_round=rounds,
            evals=evals,
            early_stopping_rounds=early_stopping_rounds if valid is not None else None,
            verbose_eval=False,
        )
    import xgboost.dask

    parts = _n_workers(client)
    train = _dask_matrix(client, x, y, parts, feature_names)
    dask_evals = []
    if valid is not None:
        dask_evals = [(_dask_matrix(client, valid[0], valid[1], parts, feature_names), "v")]
    output = xgboost.dask.train(
        client,
        dict(params),
        train,
        num_boost_round=rounds,
        evals=dask_evals,
        early_stopping_rounds=early_stopping_rounds if valid is not None else None,
        verbose_eval=False,
    )
    return output["booster"]

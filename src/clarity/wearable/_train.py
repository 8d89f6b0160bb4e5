"""Train the served wearable model: scaler, pretraining, one fine-tuned PAT per head.

A share of patients is held out before anything is fitted, and the model's
metrics (stored in the registry with it) are measured on their weeks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from clarity.wearable._bundle import WearableModel
from clarity.wearable._labels import TrainingWeeks
from clarity.wearable._model import PATConfig, PATEncoder
from clarity.wearable._scaler import MinuteScaler, Transform
from clarity.wearable._training import (
    FinetuneSettings,
    PretrainSettings,
    finetune,
    predict_logits,
    pretrain,
    split_groups,
)

__all__ = ["TrainSettings", "train_wearable_model"]

Report = Callable[[str], None]


@dataclass(frozen=True)
class TrainSettings:
    """How the served model is trained.

    Parameters
    ----------
    config
        PAT shape (PAT-S by default).
    pretraining, finetuning
        Budgets (see :class:`PretrainSettings`, :class:`FinetuneSettings`).
    min_wear_fraction
        Weeks worn less are not trained on, and windows worn less are not scored.
    transform
        Count transform before standardising.
    held_out_fraction
        Share of patients kept out of all fitting, to measure the model.
    min_labelled_weeks
        A head with fewer labelled training weeks (or one class only) is skipped.
    seed
        Seed of the split.
    """

    config: PATConfig = field(default_factory=lambda: PATConfig.size("S"))
    pretraining: PretrainSettings = field(default_factory=PretrainSettings)
    finetuning: FinetuneSettings = field(default_factory=FinetuneSettings)
    min_wear_fraction: float = 0.7
    transform: Transform = "none"
    held_out_fraction: float = 0.2
    min_labelled_weeks: int = 10
    seed: int = 0


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if np.unique(y).size == 2 else float("nan")


def train_wearable_model(
    data: TrainingWeeks,
    settings: TrainSettings = TrainSettings(),
    *,
    heads: Sequence[str] | None = None,
    encoder: PATEncoder | None = None,
    report: Report | None = None,
) -> tuple[WearableModel, dict[str, float]]:
    """Train a :class:`WearableModel` from labelled weeks.

    Parameters
    ----------
    data
        Weeks and labels (e.g. :func:`training_weeks_from_bus`).
    settings
        Budgets and rules.
    heads
        Heads to train; every head with labels by default.
    encoder
        A pretrained encoder to start from (e.g. the official PAT weights);
        pretraining on ``data`` is skipped when given.
    report
        Called with a line of progress.

    Returns
    -------
    tuple
        The model and its metrics (held-out AUC and week counts per head).

    Raises
    ------
    ValueError
        If no head has enough labelled weeks of both classes.
    """
    say = report or (lambda _: None)
    weeks = data.weeks
    keep = weeks.wear_fraction >= settings.min_wear_fraction
    train_rows, test_rows = split_groups(
        weeks.groups[keep], settings.held_out_fraction, settings.seed
    )
    kept = np.flatnonzero(keep)
    train_rows, test_rows = kept[train_rows], kept[test_rows]
    train = weeks.take(train_rows)
    scaler = MinuteScaler.fit(train.counts, train.wear, transform=settings.transform)
    x_train = scaler.transform_weeks(train.counts, train.wear)
    metrics: dict[str, float] = {
        "weeks": float(len(weeks)),
        "train_weeks": float(train_rows.size),
        "held_out_weeks": float(test_rows.size),
    }
    history: dict[str, object] = {}
    if encoder is None:
        say(f"pretraining PAT on {len(train)} weeks (masked autoencoder, 90% of patches hidden)")
        encoder, pre = pretrain(
            settings.config, x_train, train.wear, train.groups, settings.pretraining
        )
        metrics["pretrain_loss"] = float(min(pre.validation))
        history["pretraining"] = pre.to_dict()
    trained = {}
    for head in heads or list(data.labels):
        labels = data.labels[head]
        y_train = labels[train_rows]
        labelled = ~np.isnan(y_train)
        if labelled.sum() < settings.min_labelled_weeks or np.unique(y_train[labelled]).size < 2:
            say(f"head {head}: too few labelled weeks of both classes ({int(labelled.sum())})")
            continue
        say(f"fine-tuning head {head} on {int(labelled.sum())} labelled weeks")
        classifier, fit = finetune(
            settings.config,
            x_train[labelled],
            train.wear[labelled],
            y_train[labelled],
            train.groups[labelled],
            settings.finetuning,
            encoder=encoder,
        )
        trained[head] = classifier
        history[head] = fit.to_dict()
        metrics[f"{head}.train_weeks"] = float(labelled.sum())
        y_test = labels[test_rows]
        tested = ~np.isnan(y_test)
        metrics[f"{head}.held_out_weeks"] = float(tested.sum())
        if tested.any():
            rows = test_rows[tested]
            x_test = scaler.transform_weeks(weeks.counts[rows], weeks.wear[rows])
            logits = predict_logits(
                classifier, [torch.from_numpy(x_test), torch.from_numpy(weeks.wear[rows])]
            )
            metrics[f"{head}.held_out_auc"] = _auc(y_test[tested], logits)
            metrics[f"{head}.held_out_positive_rate"] = float(y_test[tested].mean())
    if not trained:
        raise ValueError(
            "no head has enough labelled weeks of both classes to train "
            f"(need {settings.min_labelled_weeks})"
        )
    bundle = WearableModel(
        config=settings.config,
        scaler=scaler,
        heads=trained,
        min_wear_fraction=settings.min_wear_fraction,
        training={
            "settings": {
                "pretraining": asdict(settings.pretraining),
                "finetuning": asdict(settings.finetuning),
                "transform": settings.transform,
                "held_out_fraction": settings.held_out_fraction,
                "seed": settings.seed,
            },
            "history": history,
            "metrics": metrics,
        },
    )
    return bundle, {k: v for k, v in metrics.items() if np.isfinite(v)}

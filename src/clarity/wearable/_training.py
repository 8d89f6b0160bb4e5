"""Training loops: masked-autoencoder pretraining and supervised fine-tuning.

The official notebooks train for up to 10,000 epochs with early stopping
(patience 250) on TPUs. On a CPU we keep their optimiser (Adam), losses,
class weighting and early stopping on validation AUC, with budgets in epochs
that a laptop can afford and learning rates raised to match (the settings
are recorded with every model).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import Tensor, nn

from clarity.wearable._model import (
    PATClassifier,
    PATConfig,
    PATEncoder,
    PATMaskedAutoencoder,
    attended_patches,
)

__all__ = [
    "FinetuneSettings",
    "PretrainSettings",
    "ProbeHead",
    "TrainingHistory",
    "finetune",
    "fit_binary",
    "pooled_embeddings",
    "predict_logits",
    "pretrain",
    "split_groups",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PretrainSettings:
    """Masked-autoencoder pretraining.

    Parameters
    ----------
    epochs
        Passes over the weeks (at most; early stopping may end sooner).
    batch_size
        Weeks per step (the paper: 128).
    learning_rate
        Adam's step (the paper: 1e-3 for S and M, 1e-4 for L).
    mask_ratio
        Share of patches hidden from the encoder (the paper: 0.9).
    validation_fraction
        Share of groups (patients) held out to choose the best epoch.
    patience
        Epochs without a better validation loss before stopping.
    seed
        Seed of the initial weights, the masks and the order of the weeks.
    """

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    mask_ratio: float = 0.9
    validation_fraction: float = 0.1
    patience: int = 5
    seed: int = 0


@dataclass(frozen=True)
class FinetuneSettings:
    """Supervised training of a head (and, unless frozen, the encoder).

    Parameters
    ----------
    epochs
        Passes over the labelled weeks (at most).
    batch_size
        Weeks per step (the paper: 64).
    learning_rate
        Adam's step for the head and, when not frozen, the encoder.
    frozen
        Linear probing: keep the pretrained encoder fixed and train the head
        on its pooled embedding (computed once).
    validation_fraction
        Share of groups held out for early stopping on AUC.
    patience
        Epochs without a better validation AUC before stopping.
    weight_decay
        Adam's L2 penalty.
    seed
        Seed of the head's weights, dropout and the order of the weeks.
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-4
    frozen: bool = False
    validation_fraction: float = 0.2
    patience: int = 6
    weight_decay: float = 0.0
    seed: int = 0


@dataclass
class TrainingHistory:
    """What a training run did, epoch by epoch.

    Parameters
    ----------
    train_loss
        Mean training loss of each epoch run.
    validation
        Validation score of each epoch run: the masked-reconstruction error
        when pretraining (the training loss when nothing is held out), the
        AUC when fine-tuning (NaN when nothing is held out).
    best_epoch
        The 0-based epoch whose weights were kept.
    stopped_early
        Whether training stopped before its epoch budget because the
        validation score had not improved for ``patience`` epochs.
    """

    train_loss: list[float] = field(default_factory=list)
    validation: list[float] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False

    def to_dict(self) -> dict[str, object]:
        """For JSON.

        Returns
        -------
        dict
            Field name to its value (lists of floats, an int and a bool).
        """
        return asdict(self)


def split_groups(
    groups: Sequence[str] | np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into training and validation by group, so no patient is in both.

    Parameters
    ----------
    groups
        The group (patient) of each row.
    fraction
        Share of groups to hold out (at least one, unless there is only one group).
    seed
        Seed of the draw.

    Returns
    -------
    tuple of numpy.ndarray
        Row indices for training and for validation (empty when ``fraction`` is 0).
    """
    groups = np.asarray(groups)
    unique = np.unique(groups)
    rows = np.arange(groups.size)
    if fraction <= 0 or unique.size < 2:
        return rows, rows[:0]
    rng = np.random.default_rng(seed)
    held = rng.choice(unique, size=max(1, round(fraction * unique.size)), replace=False)
    validation = np.isin(groups, held)
    return rows[~validation], rows[validation]


def _batches(n: int, size: int, generator: torch.Generator | None) -> list[Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(torch.split(order, size))


def pretrain(
    config: PATConfig,
    x: np.ndarray,
    wear: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    settings: PretrainSettings = PretrainSettings(),
    *,
    progress: Progress | None = None,
) -> tuple[PATEncoder, TrainingHistory]:
    """Pretrain an encoder as a masked autoencoder on unlabelled weeks.

    Parameters
    ----------
    config
        Model shape.
    x
        ``(weeks, 10080)`` standardised minutes.
    wear
        ``(weeks, 10080)`` wear.
    groups
        Patient of each week (validation holds out whole patients).
    settings
        Budget and optimiser.
    progress
        Called with ``(epoch, epochs)`` after each epoch.

    Returns
    -------
    tuple
        The encoder with the weights of the best validation epoch, and the history.
    """
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    model = PATMaskedAutoencoder(config, mask_ratio=settings.mask_ratio)
    train, validation = split_groups(groups, settings.validation_fraction, settings.seed)
    xt, wt = torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(wear)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    history = TrainingHistory()
    best, best_state, waited = math.inf, copy.deepcopy(model.encoder.state_dict()), 0
    for epoch in range(settings.epochs):
        model.train()
        losses = []
        for batch in _batches(train.size, settings.batch_size, generator):
            rows = torch.from_numpy(train)[batch]
            _, loss = model(xt[rows], wt[rows], generator=generator)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        history.train_loss.append(float(np.mean(losses)))
        model.eval()
        score = history.train_loss[-1]
        if validation.size:
            fixed = torch.Generator().manual_seed(settings.seed + 1)  # same masks every epoch
            with torch.inference_mode():
                errors = [
                    float(model(xt[rows], wt[rows], generator=fixed)[1]) * rows.numel()
                    for rows in torch.split(torch.from_numpy(validation), settings.batch_size)
                ]
            score = sum(errors) / validation.size
        history.validation.append(score)
        if progress is not None:
            progress(epoch + 1, settings.epochs)
        if score < best:
            best, best_state, waited, history.best_epoch = (
                score,
                copy.deepcopy(model.encoder.state_dict()),
                0,
                epoch,
            )
        else:
            waited += 1
            if waited >= settings.patience:
                history.stopped_early = True
                break
    model.encoder.load_state_dict(best_state)
    return model.encoder, history


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    if np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def fit_binary(
    model: nn.Module,
    inputs: Sequence[Tensor],
    y: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    settings: FinetuneSettings,
    *,
    parameters: Sequence[nn.Parameter] | None = None,
    progress: Progress | None = None,
) -> TrainingHistory:
    """Train any model whose ``model(*inputs)`` gives logits, with the official recipe.

    Binary cross-entropy with each class weighted by the other's share (the
    notebooks' class weights), Adam, early stopping on validation AUC with
    the best weights restored.

    Parameters
    ----------
    model
        The model; trained in place.
    inputs
        Tensors whose first dimension is the week.
    y
        ``(weeks,)`` labels 0/1.
    groups
        Patient of each week; validation holds out whole patients.
    settings
        Budget and optimiser.
    parameters
        What to train; all of the model's parameters by default.
    progress
        Called with ``(epoch, epochs)``.

    Returns
    -------
    TrainingHistory
        Loss and validation AUC per epoch.
    """
    labels = np.asarray(y, dtype=np.float32)
    if labels.ndim != 1 or labels.size != inputs[0].shape[0]:
        raise ValueError(f"y must have one label per week; got {labels.shape}")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    if np.unique(labels).size < 2:
        raise ValueError("both classes are needed to train a classifier")
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    train, validation = split_groups(groups, settings.validation_fraction, settings.seed)
    if validation.size and np.unique(labels[validation]).size < 2:
        validation = validation[:0]  # AUC needs both classes; fall back to the epoch budget
    positive = float(labels[train].mean())
    weights = torch.tensor([positive, 1.0 - positive])  # class 0 gets the positives' share
    target = torch.from_numpy(labels)
    optimizer = torch.optim.Adam(
        list(parameters) if parameters is not None else list(model.parameters()),
        lr=settings.learning_rate,
        weight_decay=settings.weight_decay,
    )
    history = TrainingHistory()
    best, best_state, waited = -math.inf, copy.deepcopy(model.state_dict()), 0
    for epoch in range(settings.epochs):
        model.train()
        losses = []
        for batch in _batches(train.size, settings.batch_size, generator):
            rows = torch.from_numpy(train)[batch]
            logits = model(*(t[rows] for t in inputs))
            loss = F.binary_cross_entropy_with_logits(
                logits, target[rows], weight=weights[target[rows].long()] * 2.0
            )
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            losses.append(float(loss.detach()))
        history.train_loss.append(float(np.mean(losses)))
        if progress is not None:
            progress(epoch + 1, settings.epochs)
        if not validation.size:
            history.validation.append(float("nan"))
            best_state, history.best_epoch = copy.deepcopy(model.state_dict()), epoch
            continue
        score = _auc(labels[validation], predict_logits(model, inputs, validation))
        history.validation.append(score)
        if score > best:
            best, best_state, waited, history.best_epoch = (
                score,
                copy.deepcopy(model.state_dict()),
                0,
                epoch,
            )
        else:
            waited += 1
            if waited >= settings.patience:
                history.stopped_early = True
                break
    model.load_state_dict(best_state)
    model.eval()
    return history


def predict_logits(
    model: nn.Module, inputs: Sequence[Tensor], rows: np.ndarray | None = None, batch: int = 64
) -> np.ndarray:
    """Return the logits of a model for some rows of its inputs, in evaluation mode.

    The model is left in evaluation mode.

    Parameters
    ----------
    model
        The model; it is called as ``model(*inputs)`` on a batch of rows and
        returns one logit per row.
    inputs
        The model's positional inputs, one row per week along the first axis.
    rows
        Indices of the rows to score; None scores every row.
    batch
        Rows per forward pass.

    Returns
    -------
    numpy.ndarray
        float32 logits, one per row asked for, in that order.
    """
    model.eval()
    index = torch.arange(inputs[0].shape[0]) if rows is None else torch.from_numpy(rows)
    out = []
    with torch.inference_mode():
        for chunk in torch.split(index, batch):
            out.append(model(*(t[chunk] for t in inputs)).float().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


class ProbeHead(nn.Module):
    """A classifier's head alone, on pooled embeddings (linear probing).

    Parameters
    ----------
    classifier
        The classifier whose dropout, ``dense_128`` and ``output`` to run.
    """

    def __init__(self, classifier: PATClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, pooled: Tensor) -> Tensor:
        """Return the head's logits for pooled embeddings.

        Parameters
        ----------
        pooled
            ``(batch, embed_dim)`` pooled encoder tokens, as from
            :func:`pooled_embeddings`.

        Returns
        -------
        Tensor
            ``(batch,)`` logits.
        """
        c = self.classifier
        logits: Tensor = c.output(F.relu(c.dense_128(c.dropout(pooled)))).squeeze(-1)
        return logits


def pooled_embeddings(
    encoder: PATEncoder, x: np.ndarray, wear: np.ndarray, batch: int = 64
) -> np.ndarray:
    """Average token of the worn patches of each week, from a fixed encoder.

    Parameters
    ----------
    encoder
        The encoder; it is put in evaluation mode and run without gradients.
    x
        ``(weeks, 10080)`` standardised minutes.
    wear
        ``(weeks, 10080)`` boolean wear; patches worn less than half the time
        are left out of attention and of the average.
    batch
        Weeks per forward pass.

    Returns
    -------
    numpy.ndarray
        ``(weeks, embed_dim)`` float32 pooled embeddings.
    """
    helper = PATClassifier(encoder.config)
    helper.encoder = encoder
    helper.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, x.shape[0], batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[start : start + batch], np.float32))
            wb = torch.from_numpy(wear[start : start + batch])
            mask = attended_patches(wb, encoder.config.patch_size)
            tokens, _ = encoder(xb, mask)
            out.append(helper.pool(tokens, mask).numpy())
    return np.concatenate(out) if out else np.zeros((0, encoder.config.embed_dim), np.float32)


def finetune(
    config: PATConfig,
    x: np.ndarray,
    wear: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    settings: FinetuneSettings = FinetuneSettings(),
    *,
    encoder: PATEncoder | None = None,
    progress: Progress | None = None,
) -> tuple[PATClassifier, TrainingHistory]:
    """Fine-tune a classifier: from a pretrained encoder, or from scratch when none is given.

    Parameters
    ----------
    config
        Model shape.
    x, wear
        ``(weeks, 10080)`` standardised minutes and wear.
    y
        ``(weeks,)`` labels 0/1.
    groups
        Patient of each week.
    settings
        Budget, optimiser, full or frozen.
    encoder
        Pretrained encoder; copied, never changed.
    progress
        Called with ``(epoch, epochs)``.

    Returns
    -------
    tuple
        The classifier (in evaluation mode) and the history.
    """
    torch.manual_seed(settings.seed)
    model = PATClassifier(config)
    if encoder is not None:
        model.encoder.load_state_dict(encoder.state_dict())
    if settings.frozen:
        if encoder is None:
            raise ValueError("a frozen (linear-probe) fine-tune needs a pretrained encoder")
        pooled = torch.from_numpy(pooled_embeddings(model.encoder, x, wear))
        head = ProbeHead(model)
        head_params = [
            *model.dense_128.parameters(),
            *model.output.parameters(),
        ]
        history = fit_binary(
            head, [pooled], y, groups, settings, parameters=head_params, progress=progress
        )
        model.eval()
        return model, history
    inputs = [torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(wear)]
    history = fit_binary(model, inputs, y, groups, settings, progress=progress)
    return model, history

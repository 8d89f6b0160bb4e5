"""The two evaluations of the wearable model.

1. **Label efficiency** (synthetic cohort, known truth): held-out patients'
   weeks are classified after training on 50, 100 or 500 labelled patients;
   PAT pretrained on the unlabelled weeks of the training pool (fine-tuned in
   full, or frozen as a linear probe) against PAT without pretraining and the
   CNN and Bi-LSTM baselines, on the same splits.
2. **Leave one subject out** (Depresjon, real data): each subject is
   classified by models that never saw any of its data, not even in a fitted
   statistic: the scalers, the pretrained encoders (pretrained in K folds of
   subjects, plus unlabelled extra weeks) and the classifiers all exclude it.
   A subject's probability is the mean over its weeks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score
from torch import nn

from clarity.wearable._model import PATClassifier, PATConfig, PATEncoder
from clarity.wearable._scaler import MinuteScaler, Transform
from clarity.wearable._training import (
    FinetuneSettings,
    PretrainSettings,
    ProbeHead,
    finetune,
    fit_binary,
    pooled_embeddings,
    predict_logits,
    pretrain,
)
from clarity.wearable._weekset import WeekSet
from clarity.wearable.evaluation._baselines import BiLSTMBaseline, CNNBaseline

__all__ = [
    "ARMS",
    "ArmResult",
    "EvaluationSettings",
    "LabelEfficiency",
    "LosoResult",
    "SubjectMetrics",
    "evaluate_label_efficiency",
    "evaluate_loso",
]

ARMS = ("PAT (FT)", "PAT (LP)", "PAT (no pretraining)", "CNN-1D", "Bi-LSTM")
"""Every model compared: PAT fine-tuned in full or as a linear probe after
pretraining, PAT trained from scratch, and the two baselines."""

Report = Callable[[str], None]


@dataclass(frozen=True)
class EvaluationSettings:
    """Models and budgets of an evaluation.

    Parameters
    ----------
    config
        PAT shape (PAT-S by default).
    pretraining
        Masked-autoencoder budget.
    finetuning
        Full fine-tuning (PAT with and without pretraining).
    probing
        Linear probing (frozen encoder); trains only the head, so it affords more epochs.
    baselines
        CNN and Bi-LSTM training.
    transform
        Count transform before standardising.
    min_wear_fraction
        Weeks worn less are neither trained on nor scored.
    arms
        Which models to run.
    seed
        Seed of the splits and the models.
    """

    config: PATConfig = field(default_factory=lambda: PATConfig.size("S"))
    pretraining: PretrainSettings = field(default_factory=PretrainSettings)
    finetuning: FinetuneSettings = field(default_factory=FinetuneSettings)
    probing: FinetuneSettings = field(
        default_factory=lambda: FinetuneSettings(
            frozen=True, learning_rate=1e-3, epochs=200, patience=20
        )
    )
    baselines: FinetuneSettings = field(
        default_factory=lambda: FinetuneSettings(learning_rate=1e-3)
    )
    transform: Transform = "none"
    min_wear_fraction: float = 0.7
    arms: tuple[str, ...] = ARMS
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.arms) - set(ARMS)
        if unknown:
            raise ValueError(f"unknown arms {sorted(unknown)}; choose from {list(ARMS)}")


@dataclass(frozen=True)
class ArmResult:
    """One model at one number of labelled patients."""

    arm: str
    labelled_patients: int
    labelled_weeks: int
    auc: float
    test_weeks: int
    seconds: float


@dataclass
class LabelEfficiency:
    """Result of :func:`evaluate_label_efficiency`."""

    results: list[ArmResult]
    test_patients: int
    pretraining_weeks: int
    pretraining_loss: list[float]
    positive_rate: float

    def auc(self, arm: str, labelled: int) -> float:
        """AUC of an arm at a number of labelled patients."""
        for r in self.results:
            if r.arm == arm and r.labelled_patients == labelled:
                return r.auc
        raise KeyError((arm, labelled))


@dataclass(frozen=True)
class SubjectMetrics:
    """Subject-level classification quality of one arm."""

    arm: str
    auc: float
    f1: float
    mcc: float
    accuracy: float
    week_auc: float
    subjects: int


@dataclass
class LosoResult:
    """Result of :func:`evaluate_loso`: metrics per arm and each subject's probability."""

    metrics: list[SubjectMetrics]
    probabilities: dict[str, dict[str, float]]
    labels: dict[str, int]

    def of(self, arm: str) -> SubjectMetrics:
        """Metrics of one arm."""
        return next(m for m in self.metrics if m.arm == arm)


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    return float(roc_auc_score(y, score)) if np.unique(y).size == 2 else float("nan")


def _tensors(x: np.ndarray, wear: np.ndarray) -> list[torch.Tensor]:
    return [torch.from_numpy(np.ascontiguousarray(x, np.float32)), torch.from_numpy(wear)]


class _Arms:
    """Train and apply every arm on one split."""

    def __init__(self, settings: EvaluationSettings, encoder: PATEncoder | None) -> None:
        self.settings = settings
        self.encoder = encoder

    def fit_predict(
        self,
        arm: str,
        train: WeekSet,
        x_train: np.ndarray,
        test_x: np.ndarray,
        test_wear: np.ndarray,
        *,
        pooled: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Train one arm on ``train`` (standardised ``x_train``); return test logits."""
        s = self.settings
        y, groups = train.labels, train.groups
        if arm in ("PAT (FT)", "PAT (LP)") and self.encoder is None:
            raise ValueError(f"{arm} needs a pretrained encoder")
        if arm == "PAT (LP)" and pooled is not None:
            classifier = PATClassifier(s.config)
            head = ProbeHead(classifier)
            fit_binary(
                head,
                [torch.from_numpy(pooled[0])],
                y,
                groups,
                s.probing,
                parameters=[*classifier.dense_128.parameters(), *classifier.output.parameters()],
            )
            return predict_logits(head, [torch.from_numpy(pooled[1])])
        model: nn.Module
        if arm in ("PAT (FT)", "PAT (LP)", "PAT (no pretraining)"):
            settings = s.probing if arm == "PAT (LP)" else s.finetuning
            encoder = None if arm == "PAT (no pretraining)" else self.encoder
            model, _ = finetune(s.config, x_train, train.wear, y, groups, settings, encoder=encoder)
        else:
            torch.manual_seed(s.seed)
            model = CNNBaseline() if arm == "CNN-1D" else BiLSTMBaseline()
            fit_binary(model, _tensors(x_train, train.wear), y, groups, s.baselines)
        return predict_logits(model, _tensors(test_x, test_wear))


def evaluate_label_efficiency(
    weeks: WeekSet,
    *,
    sizes: Sequence[int] = (50, 100, 500),
    test_fraction: float = 0.25,
    settings: EvaluationSettings = EvaluationSettings(),
    report: Report | None = None,
) -> LabelEfficiency:
    """Compare the arms at several numbers of labelled patients.

    Parameters
    ----------
    weeks
        Every week, labelled (the truth); patients are the groups.
    sizes
        Numbers of labelled patients to train with (nested subsets of the
        training pool; capped at the pool's size).
    test_fraction
        Share of patients held out for testing.
    settings
        Models and budgets.
    report
        Called with a line of progress.

    Returns
    -------
    LabelEfficiency
        AUC on the held-out patients' weeks per arm and size.
    """
    say = report or (lambda _: None)
    rng = np.random.default_rng(settings.seed)
    weeks = weeks.worn(settings.min_wear_fraction)
    patients = np.unique(weeks.groups)
    rng.shuffle(patients)
    n_test = max(2, round(test_fraction * patients.size))
    test_patients, pool = patients[:n_test], patients[n_test:]
    test, train_pool = weeks.of_groups(test_patients), weeks.of_groups(pool)
    scaler = MinuteScaler.fit(train_pool.counts, train_pool.wear, transform=settings.transform)
    x_pool = scaler.transform_weeks(train_pool.counts, train_pool.wear)
    x_test = scaler.transform_weeks(test.counts, test.wear)
    encoder, loss = None, []
    if {"PAT (FT)", "PAT (LP)"} & set(settings.arms):
        say(f"pretraining on {len(train_pool)} unlabelled weeks of {pool.size} patients")
        encoder, history = pretrain(
            settings.config, x_pool, train_pool.wear, train_pool.groups, settings.pretraining
        )
        loss = history.validation
    arms = _Arms(settings, encoder)
    results = []
    for size in sizes:
        chosen = pool[: min(size, pool.size)]
        rows = np.isin(train_pool.groups, chosen)
        train = train_pool.take(rows)
        pooled = None
        if encoder is not None:
            pooled = (
                pooled_embeddings(encoder, x_pool[rows], train.wear),
                pooled_embeddings(encoder, x_test, test.wear),
            )
        one_class = np.unique(train.labels).size < 2
        for arm in settings.arms:
            started = time.perf_counter()
            if one_class:  # too few patients to hold both classes: nothing to learn
                auc = float("nan")
            else:
                logits = arms.fit_predict(
                    arm, train, x_pool[rows], x_test, test.wear, pooled=pooled
                )
                auc = _auc(test.labels, logits)
            results.append(
                ArmResult(
                    arm=arm,
                    labelled_patients=int(chosen.size),
                    labelled_weeks=len(train),
                    auc=auc,
                    test_weeks=len(test),
                    seconds=time.perf_counter() - started,
                )
            )
            say(f"{arm:<22} {chosen.size:>4} patients  AUC {auc:.3f}")
    return LabelEfficiency(
        results=results,
        test_patients=int(n_test),
        pretraining_weeks=len(train_pool),
        pretraining_loss=loss,
        positive_rate=float(np.nanmean(weeks.labels)),
    )


def evaluate_loso(
    subjects: WeekSet,
    *,
    extra: WeekSet | None = None,
    pretrain_folds: int = 5,
    settings: EvaluationSettings = EvaluationSettings(),
    report: Report | None = None,
) -> LosoResult:
    """Leave-one-subject-out classification with subject-level metrics.

    Parameters
    ----------
    subjects
        Labelled weeks; the groups are the subjects, each with one label.
    extra
        Unlabelled weeks from elsewhere (e.g. the synthetic cohort) added to
        every pretraining, standardised on their own (another device).
    pretrain_folds
        Subjects are split in this many folds; the encoder that scores a
        subject is pretrained without its fold.
    settings
        Models and budgets; training runs its full epochs (validation
        fractions are ignored: no early stopping).
    report
        Called with a line of progress.

    Returns
    -------
    LosoResult
        Per-arm AUC, F1, MCC and accuracy over subjects.
    """
    say = report or (lambda _: None)
    # Fixed budgets, chosen before looking: with about fifty subjects a validation
    # split for early stopping is a handful of subjects, too noisy to pick an epoch
    # (the baselines stopped at chance when it was tried).
    settings = replace(
        settings,
        finetuning=replace(settings.finetuning, validation_fraction=0.0),
        probing=replace(settings.probing, validation_fraction=0.0),
        baselines=replace(settings.baselines, validation_fraction=0.0),
    )
    data = subjects.worn(settings.min_wear_fraction)
    names = np.unique(data.groups)
    label_of = {str(g): int(data.labels[data.groups == g][0]) for g in names}
    rng = np.random.default_rng(settings.seed)
    # Stratified folds: deal each class's shuffled subjects round-robin.
    fold_of: dict[str, int] = {}
    for label in (0, 1):
        members = [g for g in names if label_of[str(g)] == label]
        rng.shuffle(members)
        for i, g in enumerate(members):
            fold_of[str(g)] = i % pretrain_folds
    extra_x = extra_wear = None
    if extra is not None and len(extra):
        extra_scaler = MinuteScaler.fit(extra.counts, extra.wear, transform=settings.transform)
        extra_x, extra_wear = extra_scaler.transform_weeks(extra.counts, extra.wear), extra.wear
    needs_encoder = bool({"PAT (FT)", "PAT (LP)"} & set(settings.arms))
    probabilities: dict[str, dict[str, float]] = {arm: {} for arm in settings.arms}
    week_scores: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {a: [] for a in settings.arms}
    for fold in range(pretrain_folds):
        held = [g for g in names if fold_of[str(g)] == fold]
        if not held:
            continue
        outside = data.take(~np.isin(data.groups, held))
        fold_scaler = MinuteScaler.fit(outside.counts, outside.wear, transform=settings.transform)
        x_all = fold_scaler.transform_weeks(data.counts, data.wear)
        encoder = None
        pooled_all = None
        if needs_encoder:
            x_pre = x_all[~np.isin(data.groups, held)]
            w_pre, g_pre = outside.wear, outside.groups
            if extra_x is not None and extra_wear is not None and extra is not None:
                x_pre = np.concatenate([x_pre, extra_x])
                w_pre = np.concatenate([w_pre, extra_wear])
                g_pre = np.concatenate([g_pre, np.char.add("extra:", extra.groups)])
            say(f"fold {fold + 1}/{pretrain_folds}: pretraining on {len(x_pre)} weeks")
            encoder, _ = pretrain(settings.config, x_pre, w_pre, g_pre, settings.pretraining)
            pooled_all = pooled_embeddings(encoder, x_all, data.wear)
        arms = _Arms(settings, encoder)
        for subject in held:
            test_rows = data.groups == subject
            train_rows = ~test_rows
            train = data.take(train_rows)
            # The baselines and PAT from scratch get a scaler without the subject too.
            own = MinuteScaler.fit(train.counts, train.wear, transform=settings.transform)
            x_own_train = own.transform_weeks(train.counts, train.wear)
            x_own_test = own.transform_weeks(data.counts[test_rows], data.wear[test_rows])
            for arm in settings.arms:
                pretrained = arm in ("PAT (FT)", "PAT (LP)")
                pooled = None
                if pooled_all is not None and arm == "PAT (LP)":
                    pooled = (pooled_all[train_rows], pooled_all[test_rows])
                logits = arms.fit_predict(
                    arm,
                    train,
                    x_all[train_rows] if pretrained else x_own_train,
                    x_all[test_rows] if pretrained else x_own_test,
                    data.wear[test_rows],
                    pooled=pooled,
                )
                probability = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
                probabilities[arm][str(subject)] = float(probability.mean())
                week_scores[arm].append((data.labels[test_rows], probability))
            say(
                f"subject {subject} (label {label_of[str(subject)]}): "
                + ", ".join(f"{a} {probabilities[a][str(subject)]:.2f}" for a in settings.arms)
            )
    metrics = []
    for arm in settings.arms:
        order = sorted(probabilities[arm])
        y = np.array([label_of[g] for g in order])
        p = np.array([probabilities[arm][g] for g in order])
        predicted = (p >= 0.5).astype(int)
        weekly_y = np.concatenate([w[0] for w in week_scores[arm]])
        weekly_p = np.concatenate([w[1] for w in week_scores[arm]])
        metrics.append(
            SubjectMetrics(
                arm=arm,
                auc=_auc(y, p),
                f1=float(f1_score(y, predicted, zero_division=0.0)),
                mcc=float(matthews_corrcoef(y, predicted)),
                accuracy=float(accuracy_score(y, predicted)),
                week_auc=_auc(weekly_y, weekly_p),
                subjects=int(y.size),
            )
        )
    return LosoResult(metrics=metrics, probabilities=probabilities, labels=label_of)

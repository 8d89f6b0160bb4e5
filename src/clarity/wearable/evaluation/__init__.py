"""Evaluation of the wearable model: label efficiency on the synthetic cohort, LOSO on Depresjon.

The baselines (1-D CNN, Bi-LSTM) live here only: they are compared, never served.
"""

from clarity.wearable._weekset import WeekSet
from clarity.wearable.evaluation._baselines import BiLSTMBaseline, CNNBaseline
from clarity.wearable.evaluation._protocols import (
    ARMS,
    ArmResult,
    EvaluationSettings,
    LabelEfficiency,
    LosoResult,
    SubjectMetrics,
    evaluate_label_efficiency,
    evaluate_loso,
)

__all__ = [
    "ARMS",
    "ArmResult",
    "BiLSTMBaseline",
    "CNNBaseline",
    "EvaluationSettings",
    "LabelEfficiency",
    "LosoResult",
    "SubjectMetrics",
    "WeekSet",
    "evaluate_label_efficiency",
    "evaluate_loso",
]

"""Wearable service: PAT risk scores and attention maps from minute-level actigraphy.

PAT, the Pretrained Actigraphy Transformer (Ruan et al. 2024), in PyTorch:
masked-autoencoder pretraining, fine-tuned heads, the official Keras weights,
attention maps, ONNX serving, and the bus consumer that publishes
``wearable.daily_risk`` and ``wearable.attention``.
"""

from clarity.wearable._bundle import Scores, WearableModel, WearableModelError, export_onnx
from clarity.wearable._explain import attention_profile
from clarity.wearable._keras import (
    WeightMismatchError,
    infer_config,
    keras_to_torch,
    load_keras_weights,
    read_keras_h5,
)
from clarity.wearable._labels import (
    HEADS,
    TrainingWeeks,
    labelled_weeks,
    training_weeks_from_bus,
)
from clarity.wearable._model import (
    PAT_SIZES,
    PATClassifier,
    PATConfig,
    PATEncoder,
    PATMaskedAutoencoder,
    TransformerBlock,
    attended_patches,
    patch_wear,
    positional_embeddings,
)
from clarity.wearable._scaler import MinuteScaler
from clarity.wearable._service import (
    MODEL_NAME,
    ExplainError,
    ServiceReport,
    WearableService,
    request_explanation,
)
from clarity.wearable._train import TrainSettings, train_wearable_model
from clarity.wearable._training import (
    FinetuneSettings,
    PretrainSettings,
    ProbeHead,
    TrainingHistory,
    finetune,
    fit_binary,
    pooled_embeddings,
    predict_logits,
    pretrain,
    split_groups,
)
from clarity.wearable._weekset import WeekSet
from clarity.wearable._windows import Week, Window, daily_windows, window_ending

__all__ = [
    "HEADS",
    "MODEL_NAME",
    "PAT_SIZES",
    "ExplainError",
    "FinetuneSettings",
    "MinuteScaler",
    "PATClassifier",
    "PATConfig",
    "PATEncoder",
    "PATMaskedAutoencoder",
    "PretrainSettings",
    "ProbeHead",
    "Scores",
    "ServiceReport",
    "TrainSettings",
    "TrainingHistory",
    "TrainingWeeks",
    "TransformerBlock",
    "WearableModel",
    "WearableModelError",
    "WearableService",
    "Week",
    "WeekSet",
    "WeightMismatchError",
    "Window",
    "attended_patches",
    "attention_profile",
    "daily_windows",
    "export_onnx",
    "finetune",
    "fit_binary",
    "infer_config",
    "keras_to_torch",
    "labelled_weeks",
    "load_keras_weights",
    "patch_wear",
    "pooled_embeddings",
    "positional_embeddings",
    "predict_logits",
    "pretrain",
    "read_keras_h5",
    "request_explanation",
    "split_groups",
    "train_wearable_model",
    "training_weeks_from_bus",
    "window_ending",
]

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
from clarity.wearable._service import ExplainError, ServiceReport, WearableService
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
from clarity.wearable._windows import Week, Window, daily_windows, window_ending

__all__ = [
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
    "TrainingHistory",
    "TransformerBlock",
    "WearableModel",
    "WearableModelError",
    "WearableService",
    "Week",
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
    "load_keras_weights",
    "patch_wear",
    "pooled_embeddings",
    "positional_embeddings",
    "predict_logits",
    "pretrain",
    "read_keras_h5",
    "split_groups",
    "window_ending",
]

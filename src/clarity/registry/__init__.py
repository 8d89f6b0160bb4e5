"""The model registry: every model version with its parameters, metrics and data lineage."""

from clarity.registry._fingerprint import fingerprint_data
from clarity.registry._mlflow import Evaluation, LoadedModel, ModelRegistry, ModelVersion

__all__ = ["Evaluation", "LoadedModel", "ModelRegistry", "ModelVersion", "fingerprint_data"]

"""The model registry: every model version with its parameters, metrics and data lineage."""

from clarity.registry._fingerprint import fingerprint_data
from clarity.registry._mlflow import LoadedModel, ModelRegistry, ModelVersion

__all__ = ["LoadedModel", "ModelRegistry", "ModelVersion", "fingerprint_data"]

"""The feature and twin store: latest value and history per patient and feature.

Consumers write it (:func:`materialize`); the API, the dashboard and the twin
read it. :class:`SqliteFeatureStore` is the embedded default.
"""

from clarity.store._base import FeatureStore, FeatureValue, JsonValue, TimelineRecord
from clarity.store._factory import open_store
from clarity.store._projection import MaterializeReport, materialize, record_features
from clarity.store._sqlite import SqliteFeatureStore

__all__ = [
    "FeatureStore",
    "FeatureValue",
    "JsonValue",
    "MaterializeReport",
    "SqliteFeatureStore",
    "TimelineRecord",
    "materialize",
    "open_store",
    "record_features",
]

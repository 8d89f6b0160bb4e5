"""Open the feature store that the settings describe."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from clarity._utils import import_object
from clarity.config import Settings
from clarity.errors import ConfigurationError
from clarity.store._base import FeatureStore
from clarity.store._sqlite import SqliteFeatureStore

__all__ = ["open_store"]


def open_store(settings: Settings | None = None) -> FeatureStore:
    """Open the feature store configured in ``settings``.

    Parameters
    ----------
    settings
        Settings to use; :meth:`Settings.load` when omitted.

    Returns
    -------
    FeatureStore
        The configured store.

    Raises
    ------
    ConfigurationError
        If the backend is unknown or does not implement the store interface.
    """
    settings = settings or Settings.load()
    backend = settings.store.backend
    options = settings.store.options
    factory: Callable[..., object]
    if backend == "sqlite":
        factory = partial(SqliteFeatureStore, settings.store_path)
    elif ":" in backend:
        factory = import_object(backend)
    else:
        raise ConfigurationError(
            "Invalid value for the 'store.backend' setting. Allowed values are 'sqlite' "
            f"and 'package.module:Class', but got {backend!r} instead."
        )
    try:
        store = factory(**options)
    except TypeError as error:
        raise ConfigurationError(
            f"The store backend {backend!r} does not take the options {sorted(options)}: {error}"
        ) from error
    if not isinstance(store, FeatureStore):
        raise ConfigurationError(f"The store backend {backend!r} does not implement FeatureStore.")
    return store

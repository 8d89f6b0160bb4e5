"""Open the bus that the settings describe."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from clarity._utils import import_object
from clarity.bus._bus import Bus
from clarity.bus._memory import MemoryTransport
from clarity.bus._sqlite import SqliteTransport
from clarity.bus._transport import Transport
from clarity.config import Settings
from clarity.errors import ConfigurationError

__all__ = ["open_bus"]


def open_bus(settings: Settings | None = None) -> Bus:
    """Open the feature bus configured in ``settings``.

    Parameters
    ----------
    settings
        Settings to use; :meth:`Settings.load` when omitted.

    Returns
    -------
    Bus
        A bus over the configured transport.

    Raises
    ------
    ConfigurationError
        If the backend is unknown or its class is not a transport.
    """
    settings = settings or Settings.load()
    backend = settings.bus.backend
    options = settings.bus.options
    factory: Callable[..., object]
    if backend == "sqlite":
        factory = partial(SqliteTransport, settings.bus_path, synchronous=settings.bus.synchronous)
    elif backend == "memory":
        factory = MemoryTransport
    elif ":" in backend:
        factory = import_object(backend)
    else:
        raise ConfigurationError(
            "Invalid value for the 'bus.backend' setting. Allowed values are 'sqlite', "
            f"'memory' and 'package.module:Class', but got {backend!r} instead."
        )
    try:
        transport = factory(**options)
    except TypeError as error:
        raise ConfigurationError(
            f"The bus backend {backend!r} does not take the options {sorted(options)}: {error}"
        ) from error
    if not isinstance(transport, Transport):
        raise ConfigurationError(f"The bus backend {backend!r} does not implement Transport.")
    return Bus(transport=transport)

"""Open the bus that the settings describe."""

from __future__ import annotations

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
    transport: object
    if backend == "sqlite":
        transport = SqliteTransport(settings.bus_path, synchronous=settings.bus.synchronous)
    elif backend == "memory":
        transport = MemoryTransport()
    elif ":" in backend:
        transport = import_object(backend)(**settings.bus.options)
    else:
        raise ConfigurationError(
            "Invalid value for the 'bus.backend' setting. Allowed values are 'sqlite', "
            f"'memory' and 'package.module:Class', but got {backend!r} instead."
        )
    if not isinstance(transport, Transport):
        raise ConfigurationError(f"The bus backend {backend!r} does not implement Transport.")
    return Bus(transport=transport)

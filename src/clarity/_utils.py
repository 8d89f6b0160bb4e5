"""Small helpers shared by every layer (no domain logic here)."""

from __future__ import annotations

import importlib
from typing import Any

from clarity.errors import ConfigurationError

__all__ = ["import_object"]


def import_object(path: str) -> Any:
    """Import an object from a ``"package.module:Name"`` path, lazily.

    Parameters
    ----------
    path
        Module path and attribute name separated by a colon.

    Returns
    -------
    object
        The attribute.

    Raises
    ------
    ConfigurationError
        If the path is malformed, the module cannot be imported, or the
        attribute does not exist.

    Examples
    --------
    >>> import_object("clarity.errors:ClarityError").__name__
    'ClarityError'
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(
            f"A backend path must look like 'package.module:ClassName'. Got {path!r} instead."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"Cannot import module {module_name!r} for {path!r}: {error}"
        ) from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigurationError(
            f"Module {module_name!r} has no attribute {attribute!r}."
        ) from None

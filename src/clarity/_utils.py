"""Small helpers shared by every layer (no domain logic here)."""

from __future__ import annotations

import hashlib
import importlib
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from clarity.errors import ConfigurationError, InputError

__all__ = [
    "enable_wal",
    "from_micros",
    "import_object",
    "read_or_create_key",
    "referenced_file",
    "sha256_file",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Return an aware datetime as exact integer microseconds since the Unix epoch.

    Parameters
    ----------
    value
        A timezone-aware datetime.

    Returns
    -------
    int
        Microseconds since 1970-01-01T00:00:00Z (no float rounding).

    Examples
    --------
    >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))
    1000000
    """
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """Return the UTC datetime of integer microseconds since the Unix epoch.

    Parameters
    ----------
    value
        Microseconds since 1970-01-01T00:00:00Z.

    Returns
    -------
    datetime
        The instant, with ``tzinfo=UTC``.

    Examples
    --------
    >>> from_micros(to_micros(datetime(2024, 5, 1, tzinfo=UTC))).isoformat()
    '2024-05-01T00:00:00+00:00'
    """
    return _EPOCH + value * _MICROSECOND


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


def enable_wal(conn: sqlite3.Connection, *, timeout_s: float = 30.0) -> None:
    """Switch a SQLite connection to write-ahead logging, waiting out other openers.

    Changing the journal mode needs an exclusive lock, and SQLite answers
    ``database is locked`` at once (without its busy handler) when two processes
    open a new file together; retrying for ``timeout_s`` makes concurrent opens
    safe.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


def sha256_file(path: Path | str) -> str:
    """Return the SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class FileDigests:
    """SHA-256 of files, each computed once while the file's size and mtime stay the same.

    A service checks every call-set reference against its file; a cohort file
    referenced by a thousand patients is hashed once, and again only if it
    changes.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[Path, int, int], str] = {}

    def __call__(self, path: Path) -> str:
        """Return the file's SHA-256 (see :func:`sha256_file`)."""
        stat = path.stat()
        key = (path.resolve(), stat.st_size, stat.st_mtime_ns)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = sha256_file(path)
        return found


def read_or_create_key(path: Path | str) -> bytes:
    """Return a secret key from a file, creating it (32 random bytes, mode 0600) if missing."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def referenced_file(uri: str, sha256: str, *, digest: Callable[[Path], str] = sha256_file) -> Path:
    """Return the local file a bus record references, refusing one that changed since.

    Large inputs (genotype call sets) stay in their files; the bus carries the
    location and the SHA-256 of what ingest checked. A service reads only that
    file: a changed file is not the file the record promised.

    Parameters
    ----------
    uri
        A plain path or a ``file://`` URI.
    sha256
        The digest the record carries.
    digest
        Computes a file's SHA-256 (a service passes a cached one).

    Returns
    -------
    pathlib.Path
        The file.

    Raises
    ------
    InputError
        If the URI is not local, or the file is missing or no longer has
        the digest.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a drive letter)
        path = Path(uri)
    else:
        raise InputError(f"{uri}: only local files are read, not {parsed.scheme}:// URIs")
    if not path.is_file() or digest(path) != sha256:
        raise InputError(f"{uri}: missing or changed since it was referenced")
    return path

"""Fingerprints of training data, so a model version names exactly what it learnt from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["fingerprint_data"]

_CHUNK = 1 << 20


def _feed(digest: Any, part: Any) -> None:
    if isinstance(part, bytes | bytearray | memoryview):
        digest.update(b"b")
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    elif isinstance(part, str):
        _feed(digest, part.encode())
    elif isinstance(part, Path):
        if part.is_dir():
            files = sorted(p for p in part.rglob("*") if p.is_file())
            digest.update(b"d")
            for file in files:
                _feed(digest, file.relative_to(part).as_posix())
                _feed(digest, file)
        else:
            digest.update(b"f")
            with part.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
    elif isinstance(part, np.ndarray):
        digest.update(b"a")
        _feed(digest, f"{part.dtype.str}{part.shape}")
        digest.update(np.ascontiguousarray(part).tobytes())
    elif isinstance(part, Mapping):
        _feed(digest, json.dumps(part, sort_keys=True, default=str))
    elif isinstance(part, Sequence):
        digest.update(b"s")
        for item in part:
            _feed(digest, item)
    else:
        raise TypeError(
            "fingerprint_data takes bytes, str, Path, numpy arrays, mappings and sequences of "
            f"them. Got {type(part).__name__} instead."
        )


def fingerprint_data(*parts: Any) -> str:
    """Fingerprint training data: arrays, files, directories, text and mappings.

    The fingerprint depends on content, dtypes and shapes, and the order of the
    parts; not on file timestamps or paths given.

    Parameters
    ----------
    *parts
        The data, e.g. ``(X, y)`` arrays or the Parquet files of a training set.

    Returns
    -------
    str
        ``"sha256:"`` followed by 64 hexadecimal characters.

    Examples
    --------
    >>> import numpy as np
    >>> fingerprint_data(np.arange(3)) == fingerprint_data(np.arange(3))
    True
    >>> fingerprint_data(np.arange(3)) == fingerprint_data(np.arange(3.0))
    False
    """
    digest = hashlib.sha256()
    for part in parts:
        _feed(digest, part)
    return f"sha256:{digest.hexdigest()}"

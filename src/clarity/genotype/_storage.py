"""What the genotype readers share: chromosome names, variant ids, and the int8 result's storage.

See :mod:`clarity.genotype._readers` for the variant-major layout and the id
conventions these helpers implement.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from clarity.errors import InputError
from clarity.genotype._dosage import VARIANT_COLUMNS

__all__ = []
_CHROMOSOME_CODES = {"23": "X", "24": "Y", "25": "X", "XY": "X", "26": "M", "MT": "M"}


def _check_chunk(value: int, owner: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(
            f"The 'chunk_variants' parameter of {owner} must be an int in the range "
            f"[1, inf). Got {value!r} instead."
        )


def _chromosome(name: str) -> str:
    if name.startswith("chr"):
        return name
    return "chr" + _CHROMOSOME_CODES.get(name.upper(), name)


def _select_samples(names: Sequence[str], samples: Sequence[str] | None, where: str) -> list[int]:
    """Return the positions of the requested samples in the file, in the requested order."""
    if samples is None:
        return list(range(len(names)))
    if isinstance(samples, str):
        raise ValueError(
            "The 'samples' parameter must be a sequence of sample ids, not a single str. "
            f"Got {samples!r} instead."
        )
    wanted = list(samples)
    if not wanted:
        raise ValueError("The 'samples' parameter names no sample; pass None to read them all.")
    if len(set(wanted)) != len(wanted):
        repeated = next(s for s in wanted if wanted.count(s) > 1)
        raise ValueError(f"The 'samples' parameter names {repeated!r} more than once.")
    index = {name: i for i, name in enumerate(names)}
    absent = [s for s in wanted if s not in index]
    if absent:
        shown = ", ".join(map(repr, absent[:5]))
        more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
        raise InputError(f"{where}: no sample named {shown}{more}")
    return [index[s] for s in wanted]


def _unique_ids(
    table: pd.DataFrame, records: np.ndarray, where: str, error: type[InputError]
) -> int:
    """Make ``table['id']`` unique in place; return how many ids were replaced."""
    ids = table["id"]
    repeated = ids.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return 0
    generated = (
        table["chrom"] + ":" + table["pos"].astype(str) + ":" + table["ref"] + ":" + table["alt"]
    )
    table["id"] = ids.where(~repeated, generated)
    still = table["id"].duplicated(keep=False).to_numpy()
    if still.any():
        first = table["id"].to_numpy()[still][0]
        rows = np.flatnonzero(table["id"].to_numpy() == first)
        listed = " and ".join(str(int(records[r])) for r in rows[:2])
        raise error(
            f"{where}: variant {first} appears {len(rows)} times (records {listed}); "
            "a genotype file must list each variant once"
        )
    return int(repeated.sum())


def _variant_table(
    chrom: list[str], pos: list[int], ids: list[str], ref: list[str], alt: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "chrom": pd.Series(chrom, dtype=object),
            "pos": pd.Series(pos, dtype=np.int64),
            "id": pd.Series(ids, dtype=object),
            "ref": pd.Series(ref, dtype=object),
            "alt": pd.Series(alt, dtype=object),
        },
        columns=list(VARIANT_COLUMNS),
    )


def _empty(n_samples: int, n_variants: int) -> np.ndarray:
    return np.empty((n_samples, n_variants), dtype=np.int8, order="F")


def _allocate(n_samples: int, n_variants: int, out: Path | None) -> np.ndarray:
    """Return a writable int8 array in variant-major order, at ``out`` when given."""
    if out is None or n_samples * n_variants == 0:
        if out is not None:
            out.write_bytes(b"")  # numpy cannot map an empty file; leave an empty one
        return _empty(n_samples, n_variants)
    return np.memmap(out, dtype=np.int8, mode="w+", shape=(n_samples, n_variants), order="F")


def _finish(array: np.ndarray, out: Path | None) -> np.ndarray:
    """Return the filled array; a memmap is flushed and reopened read-only."""
    if isinstance(array, np.memmap) and out is not None:
        shape = array.shape
        array.flush()
        del array
        return np.memmap(out, dtype=np.int8, mode="r", shape=shape, order="F")
    return array


class _Spool:
    """Variant-major chunks appended to ``out`` or to a temporary file, then mapped or loaded."""

    def __init__(self, n_samples: int, out: Path | None) -> None:
        self.n_samples = n_samples
        self.columns = 0
        self._out = out
        self._handle: IO[bytes] = out.open("wb") if out is not None else tempfile.TemporaryFile()

    def write(self, rows: np.ndarray) -> None:
        """Append variants given as rows (variants x samples, C order)."""
        self._handle.write(rows.tobytes())
        self.columns += rows.shape[0]

    def finish(self) -> np.ndarray:
        n, m = self.n_samples, self.columns
        if self._out is not None:
            self._handle.close()
            if n * m == 0:
                return _empty(n, m)
            return np.memmap(self._out, dtype=np.int8, mode="r", shape=(n, m), order="F")
        try:
            self._handle.flush()
            self._handle.seek(0)
            data = np.fromfile(self._handle, dtype=np.int8, count=n * m)
        finally:
            self._handle.close()
        # (variants x samples) in C order is (samples x variants) in Fortran order.
        return data.reshape(m, n).T

    def abort(self) -> None:
        self._handle.close()
        if self._out is not None:
            self._out.unlink(missing_ok=True)


def _wanted_positions(
    positions: Collection[tuple[str, int]] | None,
) -> set[tuple[str, int]] | None:
    """Return the ``positions`` a reader keeps, checked, with chromosomes named as it names them."""
    if positions is None:
        return None
    if isinstance(positions, str):
        raise ValueError(
            "The 'positions' parameter must be a collection of (chrom, pos) pairs or None. "
            f"Got the str {positions!r} instead."
        )
    wanted: set[tuple[str, int]] = set()
    for item in positions:
        try:
            chrom, pos = item
            wanted.add((_chromosome(str(chrom)), int(pos)))
        except (TypeError, ValueError) as error:
            raise ValueError(
                "The 'positions' parameter must hold (chrom, pos) pairs such as ('chr1', 12345). "
                f"Got {item!r} instead."
            ) from error
    return wanted

"""PLINK 1 binary filesets (``.bed``/``.bim``/``.fam``) into dosages, read with bed-reader.

The layout and naming conventions are those of :mod:`clarity.genotype._readers`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from clarity.errors import InputError
from clarity.genotype._dosage import DosageMatrix
from clarity.genotype._storage import (
    _allocate,
    _check_chunk,
    _chromosome,
    _finish,
    _select_samples,
    _unique_ids,
    _variant_table,
    _wanted_positions,
)

__all__ = ["read_plink"]
_PLINK_MAGIC = bytes([0x6C, 0x1B, 0x01])


def read_plink(
    bed_path: Path | str,
    *,
    samples: Sequence[str] | None = None,
    out: Path | str | None = None,
    chunk_variants: int = 10_000,
    positions: Collection[tuple[str, int]] | None = None,
) -> DosageMatrix:
    """Read a PLINK 1 binary fileset (``.bed`` with ``.bim`` and ``.fam``) into dosages.

    The dosage counts allele 1 of the ``.bim`` (its fifth column), which is
    reported as ``alt``; allele 2 (sixth column) is ``ref``. That is how PLINK 2
    and ``clarity.synth`` write ALT and REF. PLINK 1.9 puts the minor allele in
    column five, whatever the reference genome says, so its ``alt`` is the
    minor allele of the cohort it was made from.

    Parameters
    ----------
    bed_path
        The ``.bed`` file; ``.bim`` and ``.fam`` of the same name lie beside it.
    samples
        Individual ids (``.fam`` column two) to read, in the order wanted; all
        when None.
    out
        Where to write the dosages as a raw int8 memory-mapped file
        (variant-major, see the module docs); in memory when None.
    chunk_variants
        Variant columns read from the ``.bed`` at a time.
    positions
        ``(chrom, pos)`` pairs to read (``chrom`` as the result names it,
        e.g. ``"chr1"``); only those columns of the ``.bed`` are decoded.
        None reads every variant.

    Returns
    -------
    DosageMatrix
        0/1/2 copies of allele 1; :data:`~clarity.genotype.MISSING` where not called.

    Raises
    ------
    InputError
        When a file of the set is missing, the ``.bed`` is not a variant-major
        PLINK 1 file or does not match ``.bim``/``.fam``, individual ids repeat,
        a requested sample is absent, or one variant appears twice.
    """
    from bed_reader import open_bed

    _check_chunk(chunk_variants, "read_plink")
    bed = Path(bed_path)
    if not bed.is_file():
        raise InputError(f"{bed}: no such file")
    absent = [p.name for p in (bed.with_suffix(".bim"), bed.with_suffix(".fam")) if not p.is_file()]
    if absent:
        raise InputError(
            f"{bed.name}: {' and '.join(absent)} not found beside it; a PLINK .bed is read "
            "with its .bim (variants) and .fam (individuals)"
        )
    with bed.open("rb") as handle:
        magic = handle.read(3)
    if magic != _PLINK_MAGIC:
        raise InputError(
            f"{bed.name}: not a variant-major PLINK 1 .bed (magic bytes {magic.hex() or 'none'}, "
            f"expected {_PLINK_MAGIC.hex()})"
        )
    try:
        reader = open_bed(bed, count_A1=True)
    except Exception as error:  # bed-reader reports malformed files with bare errors
        raise InputError(f"{bed.name}: cannot be read as PLINK: {error}") from error
    with reader:
        try:
            iids = [str(i) for i in reader.iid]
            sids = [str(s) for s in reader.sid]
            chrom = [_chromosome(str(c)) for c in reader.chromosome]
            pos = [int(p) for p in reader.bp_position]
            a1 = [str(a) for a in reader.allele_1]
            a2 = [str(a) for a in reader.allele_2]
        except Exception as error:
            raise InputError(f"{bed.name}: its .bim or .fam cannot be read: {error}") from error
        counts = pd.Series(iids, dtype=object).value_counts()
        if len(counts) and counts.iloc[0] > 1:
            raise InputError(
                f"{bed.with_suffix('.fam').name}: individual id {counts.index[0]!r} appears "
                f"{int(counts.iloc[0])} times; sample ids must be unique"
            )
        rows = _select_samples(iids, samples, bed.name)
        ids = [
            s if s not in ("", ".") else f"{c}:{p}:{r}:{a}"
            for s, c, p, r, a in zip(sids, chrom, pos, a2, a1, strict=True)
        ]
        table = _variant_table(chrom, pos, ids, a2, a1)
        m = len(table)
        expected = 3 + m * -(-len(iids) // 4)
        size = bed.stat().st_size
        if size != expected:
            raise InputError(
                f"{bed.name}: has {size} bytes; {m} variants x {len(iids)} individuals need "
                f"{expected} (truncated, or the .bim/.fam of another fileset)"
            )
        index: slice | np.ndarray = slice(None) if samples is None else np.asarray(rows, np.intp)
        wanted = _wanted_positions(positions)
        columns = np.arange(m)
        if wanted is not None:
            keep = [(c, p) in wanted for c, p in zip(table["chrom"], table["pos"], strict=True)]
            columns = np.flatnonzero(keep)
            table = table.iloc[columns].reset_index(drop=True)
        # Ids are checked among the variants read only, as the VCF reader does: a repeat
        # elsewhere in the file does not refuse the variants asked for.
        _unique_ids(table, columns + 1, bed.name, InputError)
        target = None if out is None else Path(out)
        dosages = _allocate(len(rows), len(columns), target)
        try:
            for start in range(0, len(columns), chunk_variants):
                stop = min(start + chunk_variants, len(columns))
                part: slice | np.ndarray = (
                    slice(start, stop) if wanted is None else columns[start:stop]
                )
                dosages[:, start:stop] = reader.read(
                    index=np.s_[index, part], dtype="int8", order="F"
                )
            result = _finish(dosages, target)
        except BaseException as error:
            del dosages
            if target is not None:
                target.unlink(missing_ok=True)
            if isinstance(error, Exception):
                raise InputError(f"{bed.name}: cannot be read as PLINK: {error}") from error
            raise
    return DosageMatrix(dosages=result, samples=tuple(iids[i] for i in rows), variants=table)

"""Genotype files into a :class:`~clarity.genotype.DosageMatrix`, streamed in variant chunks.

VCF/BCF is read with cyvcf2 record by record; PLINK 1 ``.bed`` with bed-reader,
a block of variant columns at a time. Neither reader holds more than one chunk
of variants beyond the result, and the result is int8 (one byte per call),
never a float matrix.

Layout of the result. Dosages are stored variant-major (Fortran order): one
variant's calls for every sample are contiguous. A stage that reads a block of
variant columns then reads one contiguous run of the file, and a VCF reader
that does not know the number of variants in advance can grow the file by
appending each chunk, with no first pass to count records. With ``out`` the
array is a read-only ``numpy.memmap`` of that raw file (no header: the shape is
``(len(samples), len(variants))``, dtype int8, order ``"F"``). Without ``out``
the VCF chunks are spooled to an anonymous temporary file and loaded once at
the end, so the peak memory is the result plus one chunk, not twice the result
(as collecting chunks and concatenating them would be).

Conventions shared by both readers:

- ``chrom`` is written with a ``chr`` prefix (``1`` → ``chr1``; PLINK's numeric
  codes ``23``/``24``/``25``/``26`` → ``chrX``/``chrY``/``chrX``/``chrM``, as
  PLINK's ``XY`` is the pseudo-autosomal part of X in X's coordinates), so that
  a VCF and a PLINK file of the same cohort give the same variant table.
- A missing id (``.``) becomes ``chrom:pos:ref:alt``. An id that occurs more
  than once (common after splitting multi-allelic sites, which share an rsID)
  is replaced by ``chrom:pos:ref:alt`` at every occurrence, so no record is
  favoured by its order; if that still leaves two columns with one id, the
  same variant is in the file twice, and the file is rejected (which copy's
  calls to trust cannot be decided here).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from clarity.errors import ClarityWarning, CorruptVCF, InputError
from clarity.genotype._dosage import MISSING, VARIANT_COLUMNS, DosageMatrix

__all__ = [
    "ReadReport",
    "read_genotypes",
    "read_phenotypes",
    "read_plink",
    "read_vcf",
    "read_vcf_with_report",
]

_VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")
_PLINK_MAGIC = bytes([0x6C, 0x1B, 0x01])
_CHROMOSOME_CODES = {"23": "X", "24": "Y", "25": "X", "XY": "X", "26": "M", "MT": "M"}
_MISSING_VALUES = {"", "NA", "NAN", "N/A", "."}


@dataclass(frozen=True)
class ReadReport:
    """What a VCF reader did with each record.

    Parameters
    ----------
    records
        Data records (lines) read.
    kept
        Records that became columns of the matrix.
    skipped_multiallelic
        Records with more than one ALT allele, skipped because only biallelic
        records were asked for.
    skipped_other
        Records with no ALT allele (``.``) or no GT field: nothing to count.
    variants
        Columns of the matrix: ``kept`` plus one more per extra ALT allele of a
        multi-allelic record that was split.
    renamed_ids
        Columns whose id occurred more than once and was replaced by
        ``chrom:pos:ref:alt``.
    """

    records: int
    kept: int
    skipped_multiallelic: int
    skipped_other: int
    variants: int
    renamed_ids: int


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


def read_vcf(
    path: Path | str,
    *,
    samples: Sequence[str] | None = None,
    out: Path | str | None = None,
    chunk_variants: int = 10_000,
    biallelic_only: bool = True,
) -> DosageMatrix:
    """Read a VCF or BCF into alt-allele dosages, streaming its records.

    Records skipped (see :class:`ReadReport`) are reported in a
    :class:`~clarity.errors.ClarityWarning`; :func:`read_vcf_with_report`
    returns the counts instead.

    Parameters
    ----------
    path
        A VCF (plain or bgzipped) or BCF with a GT field.
    samples
        Sample ids to read, in the order wanted; all, in file order, when None.
    out
        Where to write the dosages as a raw int8 memory-mapped file (see the
        module docs for its layout); in memory when None.
    chunk_variants
        Variants decoded before they are written out; the buffer holds
        ``len(samples) * chunk_variants`` bytes.
    biallelic_only
        Skip records with more than one ALT allele (counted). When False, such
        a record is split into one column per ALT allele, each counting copies
        of that allele (as ``bcftools norm -m-`` would).

    Returns
    -------
    DosageMatrix
        0/1/2 copies of ALT per sample and variant; a no-call or half call
        (``0/.``) is :data:`~clarity.genotype.MISSING`. Phased and unphased
        genotypes count alike.

    Raises
    ------
    InputError
        When the file is missing, a requested sample is absent, or a genotype
        is not diploid (haploid chrX/chrY/chrM calls, polyploid calls).
    CorruptVCF
        When the file is not VCF/BCF, or a record cannot be parsed (the message
        names the record and the last good one), or one variant appears twice.
    """
    matrix, report = read_vcf_with_report(
        path,
        samples=samples,
        out=out,
        chunk_variants=chunk_variants,
        biallelic_only=biallelic_only,
    )
    skipped = report.skipped_multiallelic + report.skipped_other
    if skipped:
        warnings.warn(
            f"{Path(path).name}: skipped {skipped} of {report.records} records "
            f"({report.skipped_multiallelic} multi-allelic, {report.skipped_other} with no ALT "
            "allele or no GT)",
            ClarityWarning,
            stacklevel=2,
        )
    return matrix


def read_vcf_with_report(
    path: Path | str,
    *,
    samples: Sequence[str] | None = None,
    out: Path | str | None = None,
    chunk_variants: int = 10_000,
    biallelic_only: bool = True,
) -> tuple[DosageMatrix, ReadReport]:
    """Read a VCF or BCF into alt-allele dosages and count what was skipped.

    Parameters
    ----------
    path
        A VCF (plain or bgzipped) or BCF with a GT field.
    samples
        Sample ids to read, in the order wanted; all, in file order, when None.
    out
        Where to write the dosages as a raw int8 memory-mapped file; in memory when None.
    chunk_variants
        Variants decoded before they are written out.
    biallelic_only
        Skip records with more than one ALT allele; when False, split them.

    Returns
    -------
    matrix : DosageMatrix
        As :func:`read_vcf` returns it.
    report : ReadReport
        Records read, kept and skipped, and ids replaced.

    Raises
    ------
    InputError
        When the file is missing, a requested sample is absent, or a genotype
        is not diploid.
    CorruptVCF
        When the file is not VCF/BCF, a record cannot be parsed, or one variant
        appears twice.
    """
    from cyvcf2 import VCF

    _check_chunk(chunk_variants, "read_vcf")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    name = path.name
    try:
        reader = VCF(str(path), threads=1)  # lazy=True crashes cyvcf2 0.35 on .FORMAT
    except Exception as error:  # cyvcf2 raises OSError, or a bare Exception on bad headers
        raise CorruptVCF(f"{name}: cannot be opened as VCF/BCF: {error}") from error
    spool: _Spool | None = None
    try:
        names = list(reader.samples)
        if not names:
            raise CorruptVCF(f"{name}: the file has no sample columns")
        positions = _select_samples(names, samples, name)
        chosen = [names[i] for i in positions]
        order: np.ndarray | None = None
        if samples is not None:
            # htslib decodes only the chosen samples, but keeps them in file order.
            reader.set_samples(chosen)
            in_file = {s: i for i, s in enumerate(reader.samples)}
            order = np.array([in_file[s] for s in chosen], dtype=np.intp)
            if np.array_equal(order, np.arange(len(order))):
                order = None
        n = len(chosen)
        spool = _Spool(n, None if out is None else Path(out))
        buffer = np.empty((chunk_variants, n), dtype=np.int8)
        filled = 0
        chrom: list[str] = []
        pos: list[int] = []
        ids: list[str] = []
        ref: list[str] = []
        alt: list[str] = []
        record_of: list[int] = []
        records = kept = multiallelic = other = 0
        last = "the header"
        iterator = iter(reader)
        while True:
            try:
                variant = next(iterator)
            except StopIteration:
                break
            except Exception as error:  # htslib parse errors arrive as bare Exception
                raise CorruptVCF(
                    f"{name}: record {records + 1} (after {last}) cannot be parsed: {error}"
                ) from error
            records += 1
            contig, position = _chromosome(variant.CHROM), int(variant.POS)
            last = f"{contig}:{position}"
            alts: list[str] = list(variant.ALT)
            if not alts or "GT" not in variant.FORMAT:
                other += 1
                continue
            if len(alts) > 1 and biallelic_only:
                multiallelic += 1
                continue
            alleles = _diploid_alleles(variant, chosen, f"{name}: record {records} ({last})")
            if order is not None:
                alleles = alleles[order]
            missing = (alleles < 0).any(axis=1)
            if (alleles > len(alts)).any():
                raise CorruptVCF(
                    f"{name}: record {records} ({last}): a genotype refers to allele "
                    f"{int(alleles.max())}, but the record has {len(alts)} ALT allele(s)"
                )
            kept += 1
            given = variant.ID
            for number, allele in enumerate(alts, start=1):
                if filled == chunk_variants:
                    spool.write(buffer)
                    filled = 0
                row = buffer[filled]
                row[:] = (alleles == number).sum(axis=1)
                row[missing] = MISSING
                filled += 1
                chrom.append(contig)
                pos.append(position)
                ref.append(variant.REF)
                alt.append(allele)
                ids.append(given or f"{contig}:{position}:{variant.REF}:{allele}")
                record_of.append(records)
        spool.write(buffer[:filled])
        table = _variant_table(chrom, pos, ids, ref, alt)
        renamed = _unique_ids(table, np.asarray(record_of), name, CorruptVCF)
        dosages = spool.finish()
    except BaseException:
        if spool is not None:
            spool.abort()
        raise
    finally:
        reader.close()
    report = ReadReport(
        records=records,
        kept=kept,
        skipped_multiallelic=multiallelic,
        skipped_other=other,
        variants=len(table),
        renamed_ids=renamed,
    )
    return DosageMatrix(dosages=dosages, samples=tuple(chosen), variants=table), report


def _diploid_alleles(variant: Any, samples: Sequence[str], where: str) -> np.ndarray:
    """Return allele indices (samples x 2; negative when not called), or raise if not diploid."""
    try:
        array = variant.genotype.array()
    except Exception as error:  # cyvcf2: "couldn't get genotypes for variant"
        raise CorruptVCF(f"{where}: the GT field cannot be read: {error}") from error
    alleles: np.ndarray = array[:, :-1]  # the last column is the phase flag
    ploidy = alleles.shape[1]
    # htslib pads a sample with fewer alleles than the record's widest call with -2.
    if ploidy == 1:
        bad = 0
    elif ploidy == 2:
        short = np.flatnonzero(alleles[:, 1] == -2)
        bad = int(short[0]) if len(short) else -1
    else:
        wide = np.flatnonzero(alleles[:, 2] != -2)
        bad = int(wide[0]) if len(wide) else -1
        if bad < 0:
            alleles = alleles[:, :2]
    if bad >= 0:
        count = int((alleles[bad] != -2).sum())
        raise InputError(
            f"{where}: sample {samples[bad]!r} has {count} allele(s) in its genotype; only "
            "diploid calls can be read as 0/1/2 dosages (exclude haploid chrX/chrY/chrM "
            "records or polyploid calls first)"
        )
    return alleles


def read_plink(
    bed_path: Path | str,
    *,
    samples: Sequence[str] | None = None,
    out: Path | str | None = None,
    chunk_variants: int = 10_000,
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
        _unique_ids(table, np.arange(1, len(table) + 1), bed.name, InputError)
        m = len(table)
        expected = 3 + m * -(-len(iids) // 4)
        size = bed.stat().st_size
        if size != expected:
            raise InputError(
                f"{bed.name}: has {size} bytes; {m} variants x {len(iids)} individuals need "
                f"{expected} (truncated, or the .bim/.fam of another fileset)"
            )
        index: slice | np.ndarray = slice(None) if samples is None else np.asarray(rows, np.intp)
        target = None if out is None else Path(out)
        dosages = _allocate(len(rows), m, target)
        try:
            for start in range(0, m, chunk_variants):
                stop = min(start + chunk_variants, m)
                dosages[:, start:stop] = reader.read(
                    index=np.s_[index, start:stop], dtype="int8", order="F"
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


def read_genotypes(path: Path | str, **kwargs: Any) -> DosageMatrix:
    """Read a genotype file with the reader its suffix names.

    Parameters
    ----------
    path
        A ``.vcf``, ``.vcf.gz``, ``.vcf.bgz`` or ``.bcf`` (read by
        :func:`read_vcf`), or a PLINK ``.bed`` (read by :func:`read_plink`).
    **kwargs
        Passed on to the reader.

    Returns
    -------
    DosageMatrix
        What the reader returns.

    Raises
    ------
    InputError
        When the suffix is none of those, or the reader rejects the file.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_VCF_SUFFIXES):
        return read_vcf(path, **kwargs)
    if name.endswith(".bed"):
        return read_plink(path, **kwargs)
    raise InputError(
        f"{path.name}: invalid genotype file suffix. Allowed suffixes are "
        f"{', '.join(repr(s) for s in (*_VCF_SUFFIXES, '.bed'))}."
    )


def read_phenotypes(path: Path | str) -> pd.DataFrame:
    """Read a PLINK-style phenotype or covariate file, indexed by individual id.

    Columns are family id, individual id, then one or more values. A header is
    recognised when the first line starts with ``FID IID`` (or plink2's
    ``#FID IID``); a file with ``IID`` or ``#IID`` first has no family column.
    Without a header the values are named ``PHENO1``, ``PHENO2``, ... (as
    plink2 names them). Fields are separated by commas when the first line has
    one, else by whitespace. The family id is dropped: samples are identified
    by individual id throughout, as in :class:`~clarity.genotype.DosageMatrix`.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    pandas.DataFrame
        Float columns, one per value, indexed by ``IID`` (str); ``-9``, ``NA``,
        ``NaN``, ``.`` and empty fields are NaN (PLINK's missing codes).

    Raises
    ------
    InputError
        When the file is missing or empty, has fewer than three columns (two
        with an ``IID``-first header), repeats an individual id, or holds a
        value that is not a number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        first = next((line for line in handle if line.strip()), None)
    if first is None:
        raise InputError(f"{path.name}: the file is empty")
    comma = "," in first
    fields = [f.strip() for f in first.split(",")] if comma else first.split()
    head = [f.lstrip("#").upper() for f in fields[:2]]
    has_fid = not (head and head[0] == "IID")
    header = head == ["FID", "IID"] or not has_fid
    try:
        table = pd.read_csv(
            path,
            sep="," if comma else r"\s+",
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError) as error:
        raise InputError(f"{path.name}: cannot be read as a phenotype table: {error}") from error
    skip = 2 if has_fid else 1
    if table.shape[1] <= skip:
        raise InputError(
            f"{path.name}: needs {'FID, IID' if has_fid else 'IID'} and at least one value "
            f"column; got {table.shape[1]} column(s)"
        )
    if header:
        names = [str(c).strip() for c in table.columns[skip:]]
    else:
        names = [f"PHENO{i}" for i in range(1, table.shape[1] - skip + 1)]
    iid = table.iloc[:, skip - 1].astype(str).str.strip()
    repeated = iid[iid.duplicated()]
    if len(repeated):
        raise InputError(f"{path.name}: individual id {repeated.iloc[0]!r} appears more than once")
    values: dict[str, np.ndarray] = {}
    first_row = 2 if header else 1
    for number, column in enumerate(names):
        text = table.iloc[:, skip + number].str.strip()
        absent = text.str.upper().isin(_MISSING_VALUES)
        parsed = pd.to_numeric(text.where(~absent), errors="coerce")
        bad = parsed.isna() & ~absent
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(
                f"{path.name}: column {column!r} holds {text.iloc[row]!r} for "
                f"{iid.iloc[row]!r} (data row {row + first_row}); values must be numbers, "
                "with -9 or NA for missing"
            )
        array = parsed.to_numpy(dtype=np.float64)
        array[array == -9] = np.nan
        values[column] = array
    return pd.DataFrame(values, index=pd.Index(iid.to_numpy(), name="IID", dtype=object))

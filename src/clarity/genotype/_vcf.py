"""VCF and BCF files into dosages, streamed record by record with cyvcf2.

The layout and naming conventions are those of :mod:`clarity.genotype._readers`.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from clarity.errors import ClarityWarning, CorruptVCF, InputError
from clarity.genotype._dosage import MISSING, DosageMatrix
from clarity.genotype._storage import (
    _check_chunk,
    _chromosome,
    _select_samples,
    _Spool,
    _unique_ids,
    _variant_table,
    _wanted_positions,
)

__all__ = ["ReadReport", "read_vcf", "read_vcf_with_report"]


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
    not_wanted
        Records at positions that ``positions`` did not ask for (not read).
    """

    records: int
    kept: int
    skipped_multiallelic: int
    skipped_other: int
    variants: int
    renamed_ids: int
    not_wanted: int = 0


def read_vcf(
    path: Path | str,
    *,
    samples: Sequence[str] | None = None,
    out: Path | str | None = None,
    chunk_variants: int = 10_000,
    biallelic_only: bool = True,
    positions: Collection[tuple[str, int]] | None = None,
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
    positions
        ``(chrom, pos)`` pairs to read (``chrom`` as the result names it,
        e.g. ``"chr1"``); records elsewhere are passed over without decoding
        their genotypes. None reads every record.

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
        positions=positions,
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
    positions: Collection[tuple[str, int]] | None = None,
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
    positions
        ``(chrom, pos)`` pairs to read (``chrom`` as the result names it,
        e.g. ``"chr1"``); records elsewhere are passed over without decoding
        their genotypes. None reads every record.

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
    wanted = _wanted_positions(positions)
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
        sample_rows = _select_samples(names, samples, name)
        chosen = [names[i] for i in sample_rows]
        order: np.ndarray | None = None
        if samples is not None:
            # htslib decodes only the chosen samples, but keeps them in file order.
            reader.set_samples(chosen)
            in_file = {s: i for i, s in enumerate(reader.samples)}
            order = np.array([in_file[s] for s in chosen], dtype=np.intp)
            if np.array_equal(order, np.arange(len(order))):
                order = None
        n = len(chosen)
        # htslib decodes in file order, which the genotype arrays (and their errors) follow.
        decoded = names if samples is None else list(reader.samples)
        spool = _Spool(n, None if out is None else Path(out))
        buffer = np.empty((chunk_variants, n), dtype=np.int8)
        filled = 0
        chrom: list[str] = []
        pos: list[int] = []
        ids: list[str] = []
        ref: list[str] = []
        alt: list[str] = []
        record_of: list[int] = []
        records = kept = multiallelic = other = not_wanted = 0
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
            if wanted is not None and (contig, position) not in wanted:
                not_wanted += 1
                continue
            alts: list[str] = list(variant.ALT)
            if not alts or "GT" not in variant.FORMAT:
                other += 1
                continue
            if len(alts) > 1 and biallelic_only:
                multiallelic += 1
                continue
            alleles = _diploid_alleles(variant, decoded, f"{name}: record {records} ({last})")
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
        not_wanted=not_wanted,
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

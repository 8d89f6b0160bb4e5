"""Writers of the cohort's files, in the layouts real sources export.

- actigraphy: the Depresjon/Actiwatch export (``timestamp,date,activity``, local
  time, one row per minute; minutes the device did not record are absent),
  gzip-compressed;
- RR intervals and ECG: Polar-style exports with ISO 8601 timestamps;
- mood: one app export for the whole cohort;
- PGx: a lab panel report, one row per gene call;
- VCF: bgzipped with a tabix index; PLINK: ``.bed/.bim/.fam``.

Every writer is deterministic: the same input gives the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

__all__ = [
    "write_actigraphy",
    "write_csv",
    "write_ecg",
    "write_json",
    "write_parquet",
    "write_plink",
    "write_rr",
    "write_vcf",
]


def write_json(path: Path, data: Any) -> None:
    """Write JSON compactly and deterministically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8"
    )


def write_actigraphy(
    path: Path, first_midnight_utc: datetime, counts: np.ndarray, recorded: np.ndarray, zone: str
) -> None:
    """Write minute counts in the Depresjon export layout, gzip-compressed.

    Parameters
    ----------
    path
        Target ``.csv.gz``.
    first_midnight_utc
        The UTC instant of local midnight on the first day.
    counts
        One count per minute.
    recorded
        False where the device stored nothing: those rows are left out.
    zone
        IANA zone the device clock showed.
    """
    start = np.datetime64(first_midnight_utc.replace(tzinfo=None), "m")
    utc = start + np.arange(counts.size).astype("timedelta64[m]")
    keep = recorded.astype(bool)
    import pandas as pd

    local = (
        pd.DatetimeIndex(utc[keep]).tz_localize("UTC").tz_convert(ZoneInfo(zone)).tz_localize(None)
    )
    dates = local.normalize()
    unique, inverse = np.unique(dates.values, return_inverse=True)
    labels = [f"{d.day}/{d.month}/{d.year}" for d in pd.DatetimeIndex(unique)]
    table = pa.table(
        {
            "timestamp": pa.array(local.values.astype("datetime64[s]"), type=pa.timestamp("s")),
            "date": pa.DictionaryArray.from_arrays(
                pa.array(inverse.astype(np.int32)), pa.array(labels)
            ),
            "activity": pa.array(counts[keep].astype(np.int32)),
        }
    )
    buffer = io.BytesIO()
    buffer.write(b"timestamp,date,activity\n")
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=1, mtime=0))


def write_rr(path: Path, recordings: Iterable[tuple[datetime, np.ndarray]]) -> None:
    """Write RR intervals, one row per beat, timestamped at the beat.

    Parameters
    ----------
    path
        Target ``.csv``.
    recordings
        ``(start, rr_ms)`` pairs; starts are timezone-aware.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="ascii", newline="") as out:
        out.write("timestamp,rr_ms\n")
        for start, rr in recordings:
            elapsed = np.concatenate([[0.0], np.cumsum(rr[:-1])])
            for offset, value in zip(elapsed, rr, strict=True):
                moment = start + np.timedelta64(int(offset * 1000), "us").astype(object)
                out.write(f"{moment.isoformat(timespec='milliseconds')},{value:.1f}\n")


def write_ecg(path: Path, start: datetime, microvolts: np.ndarray, rate: int) -> None:
    """Write an ECG recording, one row per sample, in microvolts (Polar H10 style).

    Parameters
    ----------
    path
        Target ``.csv``.
    start
        Time of the first sample (timezone-aware).
    microvolts
        Samples.
    rate
        Samples per second.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    step = 1_000_000 / rate
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(f"# sampling_rate_hz={rate}\ntimestamp,ecg_uv\n")
        for k, value in enumerate(microvolts):
            moment = start + np.timedelta64(round(k * step), "us").astype(object)
            out.write(f"{moment.isoformat(timespec='microseconds')},{int(value)}\n")


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a plain CSV with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_vcf(path: Path, header: Sequence[str], rows: Iterable[str]) -> None:
    """Write a bgzipped VCF and its tabix index.

    Parameters
    ----------
    path
        Target ``.vcf.gz``.
    header
        Meta-information lines and the column header line.
    rows
        Data lines, sorted by contig and position.
    """
    import pysam

    path.parent.mkdir(parents=True, exist_ok=True)
    plain = path.with_suffix("")
    with plain.open("w", encoding="ascii") as out:
        out.write("\n".join(header) + "\n")
        for row in rows:
            out.write(row + "\n")
    pysam.tabix_index(str(plain), preset="vcf", force=True)


def write_plink(
    prefix: Path,
    samples: Sequence[str],
    chrom: np.ndarray,
    pos: np.ndarray,
    ids: np.ndarray,
    ref: np.ndarray,
    alt: np.ndarray,
    dosages: np.ndarray,
) -> None:
    """Write PLINK 1 binary files (``.bed/.bim/.fam``) counting the alternative allele.

    Parameters
    ----------
    prefix
        Path without extension.
    samples
        Individual ids (family id = individual id).
    chrom, pos, ids, ref, alt
        Variant descriptions.
    dosages
        Samples x variants alternative-allele counts.
    """
    from bed_reader import to_bed

    prefix.parent.mkdir(parents=True, exist_ok=True)
    to_bed(
        str(prefix.with_suffix(".bed")),
        dosages.astype(np.int8),
        properties={
            "fid": list(samples),
            "iid": list(samples),
            "sid": list(ids),
            "chromosome": [c.removeprefix("chr") for c in chrom],
            "bp_position": pos.astype(np.int32),
            "allele_1": list(alt),
            "allele_2": list(ref),
        },
        count_A1=True,
    )


def write_parquet(path: Path, columns: dict[str, Any]) -> None:
    """Write a table of columns to Parquet, deterministically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, compression="zstd")

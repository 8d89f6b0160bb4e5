"""Find the files, tell their formats, and stream each through its reader onto the bus."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from clarity.bus import Bus
from clarity.errors import ClarityError, FieldError, InputError
from clarity.ingest._core import (
    FileReport,
    IngestReport,
    Item,
    Pseudonymizer,
    ReadContext,
    Rejected,
    Sink,
)
from clarity.ingest._csv import open_text
from clarity.ingest.actigraphy import read_actigraphy
from clarity.ingest.fhir import read_fhir
from clarity.ingest.mood import read_mood
from clarity.ingest.pgx import read_pgx_panel
from clarity.ingest.physiology import read_ecg, read_rr
from clarity.ingest.plink import read_plink
from clarity.ingest.vcf import read_vcf

__all__ = ["FORMATS", "IngestTarget", "detect_format", "ingest_paths", "plan"]

FORMATS: dict[str, Callable[[ReadContext], Iterator[Item]]] = {
    "fhir": read_fhir,
    "vcf": read_vcf,
    "plink": read_plink,
    "pgx_panel": read_pgx_panel,
    "actigraphy": read_actigraphy,
    "rr": read_rr,
    "ecg": read_ecg,
    "mood": read_mood,
}
"""Every readable format and its reader."""

# Files a cohort carries that are not patient data: not ingested.
_NOT_PATIENT_DATA = {"reference_vcf", "reference_plink", "phenotypes"}


@dataclass(frozen=True)
class IngestTarget:
    """One file to ingest, with what is known about it.

    Parameters
    ----------
    path
        The file.
    format
        One of :data:`FORMATS`.
    source
        How records name the file in ``source``.
    patient
        Source patient id of a single-patient file.
    timezone
        IANA zone of local timestamps.
    zones
        IANA zone by source patient id, for multi-patient files.
    """

    path: Path
    format: str
    source: str
    patient: str | None = None
    timezone: str | None = None
    zones: Mapping[str, str] = field(default_factory=dict)


def detect_format(path: Path) -> str:
    """Tell a file's format from its name and first lines.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        One of :data:`FORMATS`.

    Raises
    ------
    InputError
        If the format cannot be told.
    """
    name = path.name.lower()
    if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")):
        return "vcf"
    if name.endswith(".bed"):
        return "plink"
    if name.endswith(".json"):
        return "fhir"
    if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        try:
            with open_text(path) as handle:
                head = [handle.readline() for _ in range(12)]
        except (OSError, UnicodeDecodeError, EOFError) as error:
            raise InputError(f"{path}: cannot read the first lines ({error})") from error
        header = next((h.lower() for h in head if h.strip() and not h.startswith("#")), "")
        delimiter = max((",", ";", "\t"), key=header.count)
        columns = {c.strip().strip('"') for c in header.split(delimiter)}
        if "ActiGraph" in head[0] or columns & {"activity", "axis1", "counts"}:
            return "actigraphy"
        if {"gene", "diplotype"} <= columns:
            return "pgx_panel"
        if columns & {"rr_ms", "rr", "rr_s", "rr-interval [ms]"}:
            return "rr"
        if any(c.startswith("ecg") for c in columns):
            return "ecg"
        if "mood" in columns:
            return "mood"
    raise InputError(
        f"Cannot tell the format of {path}: expected FHIR JSON, VCF/BCF, PLINK .bed, or a CSV "
        "export of actigraphy, RR intervals, ECG, mood reports or a PGx panel."
    )


def _from_manifest(directory: Path) -> list[IngestTarget]:
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    zones = {
        f["patient"]: f["timezone"]
        for f in manifest["files"]
        if f.get("patient") and f.get("timezone")
    }
    zones |= manifest.get("timezones", {})
    targets = []
    for entry in manifest["files"]:
        if entry["format"] in _NOT_PATIENT_DATA or entry["format"] not in FORMATS:
            continue
        targets.append(
            IngestTarget(
                path=directory / entry["path"],
                format="pgx_panel" if entry["format"] == "pgx_panel" else entry["format"],
                source=entry["path"],
                patient=entry.get("patient"),
                timezone=entry.get("timezone"),
                zones=zones,
            )
        )
    return targets


def plan(
    paths: Iterable[Path], *, patient: str | None = None, timezone: str | None = None
) -> list[IngestTarget]:
    """List the files to ingest under the given paths, with their formats.

    A directory with a ``manifest.json`` (a cohort written by ``clarity synth``)
    is read as its manifest says; other directories are searched recursively.

    Parameters
    ----------
    paths
        Files and directories.
    patient
        Source patient id of single-patient files that do not name one.
    timezone
        Time zone of local timestamps, where the file does not say.

    Returns
    -------
    list of IngestTarget
        The files in a stable order.

    Raises
    ------
    InputError
        If a path does not exist or a file's format cannot be told.
    """
    targets: list[IngestTarget] = []
    for path in paths:
        if not path.exists():
            raise InputError(f"{path} does not exist.")
        if path.is_dir() and (path / "manifest.json").is_file():
            targets += _from_manifest(path)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if file.suffix in (".tbi", ".csi", ".bim", ".fam") or file.name == "manifest.json":
                    continue
                targets.append(
                    IngestTarget(file, detect_format(file), file.relative_to(path).as_posix())
                )
        else:
            targets.append(IngestTarget(path, detect_format(path), path.name))
    single_patient = {"actigraphy", "rr", "ecg"}
    return [
        IngestTarget(
            t.path,
            t.format,
            t.source,
            t.patient or patient or (_stem(t.path) if t.format in single_patient else None),
            t.timezone or timezone,
            t.zones,
        )
        for t in targets
    ]


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def ingest_paths(
    bus: Bus,
    targets: Iterable[IngestTarget],
    pseudonymizer: Pseudonymizer,
    *,
    genome_build: str = "grch38",
    now: datetime | None = None,
    on_file: Callable[[IngestTarget, FileReport], None] | None = None,
    on_item: Callable[[], None] | None = None,
    allowed: Callable[[str, str], bool] | None = None,
) -> IngestReport:
    """Stream every file through its reader onto the bus.

    Parameters
    ----------
    bus
        The feature bus.
    targets
        Files to ingest (see :func:`plan`).
    pseudonymizer
        Maps source patient ids to pseudonyms.
    genome_build
        Build of PLINK files.
    now
        Ingestion time (records observed after it are refused).
    on_file
        Called after each file with its report.
    on_item
        Called after each item read (for progress bars).
    allowed
        Consent check ``(patient_id, topic) -> bool``: records a patient has not
        consented to are refused and not kept.

    Returns
    -------
    IngestReport
        Counts per file: accepted, already ingested, rejected, skipped.
    """
    report = IngestReport()
    moment = now or datetime.now(UTC)
    for target in targets:
        file_report = FileReport(path=target.source, format=target.format)
        context = ReadContext(
            path=target.path,
            source=target.source,
            pseudonym=pseudonymizer,
            patient=target.patient,
            timezone=target.timezone,
            zones=target.zones,
            genome_build=genome_build,
            now=moment,
        )
        sink = Sink(bus, file_report, moment, allowed=allowed)
        try:
            sink.consume(_counted(FORMATS[target.format](context), on_item))
        except ClarityError:
            raise  # the bus itself failed: stop, do not mislabel the file
        except Exception as error:
            # Records read before the damage are kept; the rest of the file is refused.
            sink.flush()
            sink.reject(
                Rejected(
                    location="file",
                    reason=f"cannot be read to the end ({type(error).__name__}: {error}); "
                    "records before the damage were ingested",
                    original=str(target.path.name).encode(),
                    errors=(FieldError("file", str(error), "unreadable"),),
                )
            )
        report.files.append(file_report)
        if on_file:
            on_file(target, file_report)
    return report


def _counted(items: Iterator[Item], on_item: Callable[[], None] | None) -> Iterator[Item]:
    for item in items:
        if on_item:
            on_item()
        yield item

"""Generate a whole synthetic cohort: files in real formats plus Parquet ground truth."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from clarity._version_info import __version__
from clarity.synth import _files
from clarity.synth._fhir import VisitScores, build_bundle
from clarity.synth._genetics import Genotypes, simulate_genotypes, simulate_traits, vcf_lines
from clarity.synth._latent import DRUGS, PatientTraits, Trajectory, draw_traits, simulate
from clarity.synth._notes import Note, draw_identity, write_note
from clarity.synth._pgx import PGX_GENES, PHENOTYPE_NAMES, vcf_alleles
from clarity.synth._signals import simulate_actigraphy, simulate_ecg, simulate_rr

__all__ = ["CohortConfig", "CohortSummary", "generate_cohort"]

_PHQ9_LOADINGS = np.array([1.0, 1.1, 0.9, 1.05, 0.8, 0.9, 0.8, 0.6, 0.0])
_GAD7_LOADINGS = np.array([1.0, 1.05, 1.0, 0.95, 0.7, 0.8, 0.75])
ECG_RATE = 130


class CohortConfig(BaseModel):
    """What to generate.

    Parameters
    ----------
    patients
        Number of patients.
    days
        Days followed per patient, from enrolment.
    seed
        Seed of everything; the same seed gives byte-identical files.
    start
        First possible enrolment day (enrolment falls in the next four weeks).
    ecg_seconds
        Length of the one baseline ECG recording per patient.
    reference_samples
        Extra genotyped people without clinical data, a biobank-like reference
        panel with trait values for training genotype models. At least 200
        people are genotyped in all, so the traits are well defined.
    workers
        Processes used to simulate patients (output does not depend on it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    patients: int = Field(default=100, ge=1, le=100_000)
    days: int = Field(default=180, ge=7, le=3_650)
    seed: int = Field(default=0, ge=0, lt=2**31)
    start: date = date(2024, 1, 1)
    ecg_seconds: int = Field(default=30, ge=5, le=600)
    reference_samples: int = Field(default=500, ge=0, le=1_000_000)
    workers: int = Field(default=2, ge=1, le=64)


@dataclass
class CohortSummary:
    """What was written.

    Parameters
    ----------
    out
        The cohort directory.
    patients
        Number of patients.
    files
        Number of data files listed in the manifest.
    expected
        Records each ingest topic should receive when every file is ingested.
    """

    out: Path
    patients: int
    files: int
    expected: dict[str, int] = field(default_factory=dict)


@dataclass
class _PatientResult:
    index: int
    truth: dict[str, list[dict[str, Any]]]
    mood_rows: list[list[Any]]
    pgx_rows: list[list[Any]]
    haplotypes: dict[str, tuple[str, str]]
    files: list[dict[str, Any]]


def _rng(seed: int, stream: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream, index])


def _items(level: float, loadings: np.ndarray, rng: np.random.Generator) -> list[int]:
    raw = 3 * level * loadings + rng.normal(0, 0.45, loadings.size)
    return [int(v) for v in np.clip(np.round(raw), 0, 3)]


def _local_midnight_utc(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _simulate_patient(args: tuple[CohortConfig, int, float, str]) -> _PatientResult:
    config, index, genetic_z, out_text = args
    out = Path(out_text)
    seed = config.seed
    traits = draw_traits(_rng(seed, 1, index), index, config.start)
    # Genes raise vulnerability: the liability's genetic part shifts it on the logit scale.
    vulnerability = 1 / (
        1
        + math.exp(-(math.log(traits.vulnerability / (1 - traits.vulnerability)) + 0.6 * genetic_z))
    )
    traits = PatientTraits(**{**traits.__dict__, "vulnerability": vulnerability})
    trajectory = simulate(traits, config.days, _rng(seed, 2, index))
    identity = draw_identity(traits, _rng(seed, 3, index))
    obs_rng = _rng(seed, 4, index)
    visits = []
    for day in trajectory.visits:
        phq9 = _items(float(trajectory.depression[day]), _PHQ9_LOADINGS, obs_rng)
        phq9[8] = int(
            min(
                3,
                (2 + int(obs_rng.integers(0, 2)))
                if trajectory.crisis[day]
                else int(trajectory.depression[day] > 0.75),
            )
        )
        gad7 = _items(float(trajectory.anxiety[day]), _GAD7_LOADINGS, obs_rng)
        visits.append(VisitScores(day, int(obs_rng.integers(9 * 60, 16 * 60)), phq9, gad7))
    note_rng = _rng(seed, 5, index)
    notes = [
        write_note(traits, identity, trajectory, v.day, (sum(v.phq9), sum(v.gad7)), note_rng)
        for v in visits
    ]
    bundle = build_bundle(traits, identity, trajectory, visits, notes, _rng(seed, 6, index))
    sid = traits.source_id
    files = []
    fhir_path = out / "fhir" / f"{sid}.json"
    _files.write_json(fhir_path, bundle)
    files.append({"path": f"fhir/{sid}.json", "format": "fhir", "patient": sid})

    truth: dict[str, list[dict[str, Any]]] = {
        k: []
        for k in (
            "daily",
            "treatments",
            "observations",
            "notes",
            "actigraphy_days",
            "wear_gaps",
            "rr",
            "expected",
        )
    }
    signal_rng = _rng(seed, 7, index)
    first_midnight = _local_midnight_utc(trajectory.start, traits.timezone)
    weeks = 0
    if traits.wears_actigraph:
        acti = simulate_actigraphy(trajectory, signal_rng)
        _files.write_actigraphy(
            out / "actigraphy" / f"{sid}.csv.gz",
            first_midnight,
            acti.counts,
            acti.recorded,
            traits.timezone,
        )
        files.append(
            {
                "path": f"actigraphy/{sid}.csv.gz",
                "format": "actigraphy",
                "patient": sid,
                "timezone": traits.timezone,
            }
        )
        per_day = acti.counts.reshape(trajectory.days, 1440)
        for day in range(trajectory.days):
            block = slice(day * 1440, (day + 1) * 1440)
            truth["actigraphy_days"].append(
                {
                    "source_id": sid,
                    "date": trajectory.date_of(day),
                    "recorded_minutes": int(acti.recorded[block].sum()),
                    "worn_minutes": int(acti.worn[block].sum()),
                    "sleep_minutes": int(acti.sleep[block].sum()),
                    "mean_worn_count": float(per_day[day][acti.worn[block]].mean())
                    if acti.worn[block].any()
                    else None,
                }
            )
        for kind, mask in (
            ("not_recorded", ~acti.recorded),
            ("off_wrist", acti.recorded & ~acti.worn),
        ):
            edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
            for begin, end in zip(edges[0::2], edges[1::2], strict=True):
                truth["wear_gaps"].append(
                    {
                        "source_id": sid,
                        "kind": kind,
                        "start_utc": first_midnight + timedelta(minutes=int(begin)),
                        "end_utc": first_midnight + timedelta(minutes=int(end)),
                    }
                )
        recorded_minutes = np.flatnonzero(acti.recorded)
        weeks = len({int(m) // 10_080 for m in recorded_minutes})
    rr_recordings = simulate_rr(trajectory, signal_rng)
    rr_rows = []
    for rec in rr_recordings:
        begin = datetime.combine(
            trajectory.date_of(rec.day), time(), tzinfo=ZoneInfo(traits.timezone)
        ) + timedelta(minutes=rec.start_minute)
        rr_rows.append((begin, rec.rr_ms))
        diffs = np.diff(rec.rr_ms)
        truth["rr"].append(
            {
                "source_id": sid,
                "start": begin.astimezone(UTC),
                "beats": int(rec.rr_ms.size),
                "target_rmssd_ms": rec.target_rmssd_ms,
                "rmssd_ms": float(np.sqrt(np.mean(diffs**2))),
                "mean_hr_bpm": rec.mean_hr_bpm,
                "stress": float(trajectory.stress[rec.day]),
            }
        )
    _files.write_rr(out / "physiology" / f"{sid}.rr.csv", rr_rows)
    files.append({"path": f"physiology/{sid}.rr.csv", "format": "rr", "patient": sid})
    ecg_start = datetime.combine(
        trajectory.date_of(0), time(8, 30), tzinfo=ZoneInfo(traits.timezone)
    )
    hr = 62 + 22 * float(trajectory.stress[0])
    ecg = simulate_ecg(hr, config.ecg_seconds, ECG_RATE, seed=(seed * 100_003 + index) % 2**31)
    _files.write_ecg(out / "physiology" / f"{sid}.ecg.csv", ecg_start, ecg, ECG_RATE)
    files.append({"path": f"physiology/{sid}.ecg.csv", "format": "ecg", "patient": sid})

    for day in range(trajectory.days):
        drug = trajectory.drug_on(day)
        cbt = any(
            c.kind == "psychotherapy"
            and c.start_day <= day
            and (c.stop_day is None or day < c.stop_day)
            for c in trajectory.courses
        )
        truth["daily"].append(
            {
                "source_id": sid,
                "date": trajectory.date_of(day),
                "depression": float(trajectory.depression[day]),
                "anxiety": float(trajectory.anxiety[day]),
                "stress": float(trajectory.stress[day]),
                "activity": float(trajectory.activity[day]),
                "sleep_regularity": float(trajectory.sleep_regularity[day]),
                "episode": bool(trajectory.episode[day]),
                "crisis": bool(trajectory.crisis[day]),
                "side_effects": float(trajectory.side_effects[day]),
                "drug": drug.name if drug else None,
                "exposure": drug.exposure if drug else None,
                "cbt": cbt,
            }
        )
    for course in trajectory.courses:
        gene = DRUGS[course.name].gene if course.kind == "drug" else None
        truth["treatments"].append(
            {
                "source_id": sid,
                "kind": course.kind,
                "name": course.name,
                "rxnorm": course.rxnorm,
                "dose_mg": course.dose_mg,
                "start": trajectory.date_of(course.start_day),
                "stop": trajectory.date_of(course.stop_day)
                if course.stop_day is not None
                else None,
                "stop_reason": course.stop_reason,
                "exposure": course.exposure if course.kind == "drug" else None,
                "gene": gene,
                "phenotype": traits.phenotype(gene) if gene else None,
            }
        )
    for visit in visits:
        for instrument, items in (("phq9", visit.phq9), ("gad7", visit.gad7)):
            truth["observations"].append(
                {
                    "source_id": sid,
                    "date": trajectory.date_of(visit.day),
                    "instrument": instrument,
                    "total": sum(items),
                    "items": items,
                    "latent": float(
                        trajectory.depression[visit.day]
                        if instrument == "phq9"
                        else trajectory.anxiety[visit.day]
                    ),
                }
            )
    for note in notes:
        truth["notes"].append(_note_truth(sid, trajectory, note))

    mood_rng = _rng(seed, 8, index)
    mood_rows = []
    for day in range(trajectory.days):
        d, a = float(trajectory.depression[day]), float(trajectory.anxiety[day])
        if mood_rng.random() > 0.8 - 0.3 * d:
            continue
        r = float(trajectory.sleep_regularity[day])
        comment = (
            str(
                mood_rng.choice(
                    [
                        "Bad day at work",
                        "Slept well",
                        "Argument at home",
                        "Went for a long walk",
                        "Felt flat",
                    ]
                )
            )
            if mood_rng.random() < 0.05
            else ""
        )
        mood_rows.append(
            [
                sid,
                trajectory.date_of(day).isoformat(),
                int(np.clip(round(10 * (1 - d) + mood_rng.normal(0, 1)), 0, 10)),
                int(np.clip(round(10 * a + mood_rng.normal(0, 1)), 0, 10)),
                int(
                    np.clip(
                        round(
                            10 * (1 - d) * min(trajectory.activity[day], 1.2)
                            + mood_rng.normal(0, 1)
                        ),
                        0,
                        10,
                    )
                ),
                round(
                    float(np.clip(7.4 - 1.8 * d * (1.2 - r) + mood_rng.normal(0, 0.6), 2, 13)), 1
                ),
                int(np.clip(round(10 * r + mood_rng.normal(0, 1)), 0, 10)),
                comment,
            ]
        )
    pgx_rows = [
        [
            sid,
            c.gene,
            c.diplotype,
            PHENOTYPE_NAMES[c.phenotype],
            f"{c.activity_score:g}",
            "Clarity Synthetic PGx Lab",
            "Psychiatry PGx panel v2",
            trajectory.date_of(0).isoformat(),
        ]
        for c in traits.pgx
    ]
    counts = {
        "ingest.patient": 1,
        "ingest.condition": 1 + int(traits.anxiety_trait > 0.3),
        "ingest.observation": 2 * len(visits),
        "ingest.medication": sum(1 for c in trajectory.courses if c.kind == "drug"),
        "ingest.note": len(notes),
        "ingest.actigraphy": weeks,
        "ingest.rr_intervals": len(rr_recordings),
        "ingest.ecg": 1,
        "ingest.mood": len(mood_rows),
        "ingest.genotype": 3,
        "ingest.pgx": 1,
    }
    truth["expected"] = [
        {"source_id": sid, "topic": topic, "records": n} for topic, n in counts.items()
    ]
    patient = {
        "source_id": sid,
        "sex": traits.sex,
        "birth_year": traits.birth_year,
        "ancestry": traits.ancestry,
        "timezone": traits.timezone,
        "enrolled_on": traits.enrolled_on,
        "vulnerability": traits.vulnerability,
        "genetic_liability_z": genetic_z,
        "anxiety_trait": traits.anxiety_trait,
        "drug_response": traits.drug_response,
        "cbt_response": traits.cbt_response,
        "crisis_propensity": traits.crisis_propensity,
        "wears_actigraph": traits.wears_actigraph,
        "visits": len(visits),
        "crisis_notes": sum(1 for n in notes if n.crisis),
    }
    for call in traits.pgx:
        patient[f"{call.gene}_diplotype"] = call.diplotype
        patient[f"{call.gene}_activity_score"] = call.activity_score
        patient[f"{call.gene}_phenotype"] = call.phenotype
    truth["patients"] = [patient]
    haplotypes = {c.gene: (c.allele1, c.allele2) for c in traits.pgx}
    return _PatientResult(index, truth, mood_rows, pgx_rows, haplotypes, files)


def _note_truth(sid: str, trajectory: Trajectory, note: Note) -> dict[str, Any]:
    return {
        "source_id": sid,
        "note_id": note.note_id,
        "date": trajectory.date_of(note.day),
        "text": note.text,
        "crisis": note.crisis,
        "crisis_level": note.crisis_level,
        "self_harm": note.self_harm,
        "harm_to_others": note.harm_to_others,
        "crisis_evidence": [list(span) for span in note.crisis_evidence],
        "negated_mention": note.negated_mention,
        "historical_mention": note.historical_mention,
        "phi": [{"start": s, "end": e, "kind": k} for s, e, k in note.phi],
    }


def _pgx_vcf(
    samples: list[str], haplotypes: list[dict[str, tuple[str, str]]]
) -> tuple[list[str], list[str]]:
    from clarity.reference import allele_definitions

    contig_order = {"chr10": 0, "chr19": 1, "chr22": 2}
    rows: list[tuple[int, int, str]] = []
    for gene in PGX_GENES:
        definitions = allele_definitions(gene)
        variants = definitions["variants"]
        per_sample = []
        for pair in (h[gene] for h in haplotypes):
            # Structural alleles (*5, duplications) are invisible to SNV calls: write what
            # the remaining or duplicated copy shows.
            calls = [
                vcf_alleles(gene, a)
                or vcf_alleles(gene, a.split("x")[0])
                or vcf_alleles(gene, "*1")
                for a in pair
            ]
            per_sample.append(calls)
        for variant in variants:
            position = variant["position"]
            alleles = [variant["ref"], *variant["alts"]]
            genotypes = []
            for calls in per_sample:
                first, second = (
                    alleles.index(c[position]) if c and c[position] in alleles else 0 for c in calls
                )
                genotypes.append(f"{min(first, second)}/{max(first, second)}")
            line = "\t".join(
                [
                    variant["chromosome"],
                    str(position),
                    variant.get("rsid") or ".",
                    variant["ref"],
                    ",".join(variant["alts"]) or ".",
                    ".",
                    "PASS",
                    f"GENE={gene}",
                    "GT",
                    *genotypes,
                ]
            )
            rows.append((contig_order[variant["chromosome"]], position, line))
    rows.sort()
    header = [
        "##fileformat=VCFv4.2",
        "##source=clarity.synth (PGx calls from simulated diplotypes)",
        "##reference=GRCh38",
        "##contig=<ID=chr10,length=133797422>",
        "##contig=<ID=chr19,length=58617616>",
        "##contig=<ID=chr22,length=50818468>",
        '##INFO=<ID=GENE,Number=1,Type=String,Description="Pharmacogene">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Unphased genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]
        ),
    ]
    return header, [line for _, _, line in rows]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def generate_cohort(
    config: CohortConfig,
    out: Path,
    *,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> CohortSummary:
    """Write a synthetic cohort and its ground truth to a directory.

    Parameters
    ----------
    config
        What to generate.
    out
        Target directory; it must not exist or be empty unless ``overwrite``.
    overwrite
        Delete an existing directory first.
    progress
        Called with the number of patients finished after each one.

    Returns
    -------
    CohortSummary
        The directory, the number of files, and the records each ingest topic
        should receive when every file is ingested.

    Raises
    ------
    FileExistsError
        If ``out`` holds files and ``overwrite`` is False.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"The output directory {out} is not empty; choose another or pass overwrite=True."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    samples = [f"SYN-{i:05d}" for i in range(config.patients)]
    reference = max(config.reference_samples, 200 - config.patients)
    genotyped = samples + [f"REF-{i:06d}" for i in range(reference)]
    genotypes = simulate_genotypes(genotyped, config.seed)
    traits = simulate_traits(genotypes, config.seed)
    _write_genotypes(out, genotypes, traits, config.patients)
    liability = traits.genetic["depression_liability"]
    jobs = [(config, i, float(liability[i]), str(out)) for i in range(config.patients)]
    results: list[_PatientResult] = []
    if config.workers == 1 or config.patients < 4:
        for job in jobs:
            results.append(_simulate_patient(job))
            if progress:
                progress(len(results))
    else:
        with ProcessPoolExecutor(max_workers=config.workers) as pool:
            for result in pool.map(_simulate_patient, jobs, chunksize=4):
                results.append(result)
                if progress:
                    progress(len(results))
    files = [f for r in results for f in r.files]
    _files.write_csv(
        out / "mood" / "mood.csv",
        [
            "participant_id",
            "date",
            "mood",
            "anxiety",
            "energy",
            "sleep_hours",
            "sleep_quality",
            "comment",
        ],
        [row for r in results for row in r.mood_rows],
    )
    _files.write_csv(
        out / "pgx" / "panel.csv",
        [
            "patient_id",
            "gene",
            "diplotype",
            "phenotype",
            "activity_score",
            "lab",
            "test",
            "reported_date",
        ],
        [row for r in results for row in r.pgx_rows],
    )
    header, rows = _pgx_vcf(samples, [r.haplotypes for r in results])
    _files.write_vcf(out / "pgx" / "pgx.vcf.gz", header, rows)
    files += [
        {"path": "mood/mood.csv", "format": "mood"},
        {"path": "pgx/panel.csv", "format": "pgx_panel"},
        {"path": "pgx/pgx.vcf.gz", "format": "vcf"},
        {"path": "genotypes/cohort.vcf.gz", "format": "vcf"},
        {"path": "genotypes/cohort.bed", "format": "plink"},
        {"path": "genotypes/reference.vcf.gz", "format": "reference_vcf"},
        {"path": "genotypes/reference.bed", "format": "reference_plink"},
        {"path": "genotypes/phenotypes.tsv", "format": "phenotypes"},
    ]
    tables: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        for name, table_rows in result.truth.items():
            tables.setdefault(name, []).extend(table_rows)
    import pyarrow as pa
    import pyarrow.parquet as pq

    (out / "truth").mkdir(exist_ok=True)
    for name, table_rows in sorted(tables.items()):
        pq.write_table(
            pa.Table.from_pylist(table_rows), out / "truth" / f"{name}.parquet", compression="zstd"
        )
    # Index and PLINK side files are listed too (not ingested), so every file has a digest.
    files += [
        {"path": p.relative_to(out).as_posix(), "format": "sidecar"}
        for p in sorted(out.glob("*/*"))
        if p.suffix in (".tbi", ".bim", ".fam")
    ]
    for entry in files:
        entry["sha256"] = _sha256(out / entry["path"])
    expected: dict[str, int] = {}
    for row in tables["expected"]:
        expected[row["topic"]] = expected.get(row["topic"], 0) + row["records"]
    manifest = {
        "generator": "clarity.synth",
        "clarity_version": __version__,
        # Everything that shapes the output; the worker count does not.
        "config": json.loads(config.model_dump_json(exclude={"workers"})),
        "files": files,
        "timezones": {row["source_id"]: row["timezone"] for row in tables["patients"]},
        "expected_records": expected,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return CohortSummary(out=out, patients=config.patients, files=len(files), expected=expected)


def _write_genotypes(out: Path, genotypes: Genotypes, traits: Any, patients: int) -> None:
    ids = genotypes.ids
    dosages = genotypes.dosages()
    # Patients' genotypes are the clinic's files; the reference panel is kept apart,
    # so that ingesting the cohort does not turn biobank samples into patients.
    for name, keep in (("cohort", slice(0, patients)), ("reference", slice(patients, None))):
        part = Genotypes(
            samples=genotypes.samples[keep],
            chrom=genotypes.chrom,
            pos=genotypes.pos,
            ref=genotypes.ref,
            alt=genotypes.alt,
            haplotypes=genotypes.haplotypes[
                :, 2 * (keep.start or 0) : None if keep.stop is None else 2 * keep.stop
            ],
        )
        header, rows = vcf_lines(part)
        _files.write_vcf(out / "genotypes" / f"{name}.vcf.gz", header, rows)
        _files.write_plink(
            out / "genotypes" / name,
            part.samples,
            part.chrom,
            part.pos,
            ids,
            part.ref,
            part.alt,
            dosages[keep],
        )
    names = sorted(traits.values)
    _files.write_csv(
        out / "genotypes" / "phenotypes.tsv",
        ["FID", "IID", *names],
        [
            [s, s, *(f"{traits.values[n][i]:.6f}" for n in names)]
            for i, s in enumerate(genotypes.samples)
        ],
    )
    import pyarrow as pa
    import pyarrow.parquet as pq

    (out / "truth").mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "sample": genotypes.samples,
                **{n: traits.values[n] for n in names},
                **{f"{n}_genetic": traits.genetic[n] for n in names},
            }
        ),
        out / "truth" / "genotype_traits.parquet",
        compression="zstd",
    )
    pq.write_table(
        pa.Table.from_pylist(
            [
                {
                    "trait": t,
                    "variant_id": ids[i],
                    "chrom": genotypes.chrom[i],
                    "pos": int(genotypes.pos[i]),
                    "effect": e,
                    "role": role,
                }
                for t, i, e, role in traits.causal
            ]
        ),
        out / "truth" / "causal_variants.parquet",
        compression="zstd",
    )

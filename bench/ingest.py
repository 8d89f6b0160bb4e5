"""Ingest throughput for FHIR and VCF, against the parsing libraries alone.

- FHIR: resources per second through ``read_fhir`` and onto an embedded bus,
  against ``fhir.resources`` R4B parsing the same bundles (``Bundle.model_validate_json``).
- VCF: variants per second through ``read_vcf`` (streaming check, digest,
  per-sample references on the bus), against iterating the same file with cyvcf2.

Both are measured in the same run on the same files, a cohort generated here.
Run with ``make bench`` (or ``python bench/ingest.py --help``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from clarity.bus import Bus, SqliteTransport
from clarity.ingest import Pseudonymizer, ingest_paths, plan
from clarity.synth import CohortConfig, generate_cohort


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ingest.json"))
    args = parser.parse_args()
    from cyvcf2 import VCF
    from fhir.resources.R4B.bundle import Bundle

    with tempfile.TemporaryDirectory(prefix="clarity-bench-") as tmp:
        root = Path(tmp)
        cohort = generate_cohort(
            CohortConfig(patients=args.patients, days=args.days, seed=3, reference_samples=1000),
            root / "cohort",
        ).out
        bundles = sorted((cohort / "fhir").glob("*.json"))
        resources = sum(len(json.loads(p.read_text())["entry"]) for p in bundles)
        key = Pseudonymizer(b"b" * 32)

        def parse_fhir() -> None:
            for path in bundles:
                Bundle.model_validate_json(path.read_bytes())

        def ingest_fhir() -> None:
            with Bus(transport=SqliteTransport(root / "fhir.sqlite3", synchronous="NORMAL")) as bus:
                report = ingest_paths(bus, plan(bundles), key)
                assert report.ok

        vcf_path = cohort / "genotypes" / "reference.vcf.gz"
        variants = sum(1 for _ in VCF(str(vcf_path)))

        def iterate_vcf() -> None:
            for _ in VCF(str(vcf_path), threads=1):
                pass

        def ingest_vcf() -> None:
            with Bus(transport=SqliteTransport(root / "vcf.sqlite3", synchronous="NORMAL")) as bus:
                report = ingest_paths(bus, plan([vcf_path]), key)
                assert report.ok

        fhir_base, fhir_ours = _timed(parse_fhir), _timed(ingest_fhir)
        vcf_base, vcf_ours = _timed(iterate_vcf), _timed(ingest_vcf)
    rows = [
        (
            "FHIR resources",
            resources,
            resources / fhir_ours,
            resources / fhir_base,
            "fhir.resources R4B parse",
        ),
        ("VCF variants", variants, variants / vcf_ours, variants / vcf_base, "cyvcf2 iteration"),
    ]
    print(
        f"{'what':<16}{'count':>9}{'clarity ingest/s':>18}{'library alone/s':>17}{'ratio':>8}  baseline"
    )
    for name, count, ours, base, label in rows:
        print(f"{name:<16}{count:>9,}{ours:>18,.0f}{base:>17,.0f}{ours / base:>8.2f}  {label}")
    print(
        "\nratio = Clarity's ingest (parse, validate, pseudonymise, publish) / the library's parse alone"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            [
                {"what": n, "count": c, "ingest_per_s": o, "library_per_s": b, "ratio": o / b}
                for n, c, o, b, _ in rows
            ],
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

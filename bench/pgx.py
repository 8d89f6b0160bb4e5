"""PGx throughput: samples per second from a multi-sample VCF to patient reports.

A 1,000-sample VCF (GRCh38, every defined locus of CYP2B6, CYP2C19, CYP2C9 and
CYP2D6; diplotypes drawn from population frequencies by the cohort simulator)
is written here. Clarity's path is: read the genotypes at the loci, match
named alleles (every consistent diplotype, scored), phenotypes, CPIC guidance
for every drug, and the JSON report. The baseline, in the same run on the same
file, is parsing the VCF alone: iterating every record and its genotypes with
cyvcf2.

Run with ``make bench`` (or ``python bench/pgx.py --help``).
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from clarity.pgx import (
    VCF_GENES,
    gene_definition,
    guidance_for,
    match_gene,
    phenotype_from_match,
    read_pgx_vcf,
    report_json,
)
from clarity.synth._cohort import _pgx_vcf
from clarity.synth._files import write_vcf
from clarity.synth._pgx import draw_pgx


def _write(path: Path, samples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups = rng.choice(["european", "east_asian", "sub_saharan_african"], size=samples)
    names = [f"S{i:05d}" for i in range(samples)]
    haplotypes = [{c.gene: (c.allele1, c.allele2) for c in draw_pgx(rng, str(g))} for g in groups]
    header, rows = _pgx_vcf(names, haplotypes)
    write_vcf(path, header, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=Path("bench/results/pgx.json"))
    args = parser.parse_args()
    from cyvcf2 import VCF

    with tempfile.TemporaryDirectory(prefix="clarity-bench-") as tmp:
        path = Path(tmp) / "pgx.vcf.gz"
        _write(path, args.samples, seed=5)

        start = time.perf_counter()
        records = 0
        for variant in VCF(str(path), threads=1):
            variant.genotypes  # noqa: B018 - decoding the genotypes is the parse being timed
            records += 1
        parse = time.perf_counter() - start

        stages = dict.fromkeys(("read", "match", "guidance", "report"), 0.0)
        start = time.perf_counter()
        samples = read_pgx_vcf(path)
        stages["read"] = time.perf_counter() - start
        called = 0
        for sample in samples:
            t0 = time.perf_counter()
            genes = {
                gene: phenotype_from_match(
                    match_gene(gene_definition(gene), sample.calls[gene]),
                    sample.issues_of(gene),
                )
                for gene in VCF_GENES
            }
            t1 = time.perf_counter()
            guidance = guidance_for(genes)
            t2 = time.perf_counter()
            report_json(sample.sample, genes, guidance)
            t3 = time.perf_counter()
            stages["match"] += t1 - t0
            stages["guidance"] += t2 - t1
            stages["report"] += t3 - t2
            called += sum(g.called for g in genes.values())
        total = sum(stages.values())
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    n = len(samples)
    ours, base = n / total, n / parse
    print(
        f"{n:,} samples, {records:,} VCF records, {called:,} of {n * len(VCF_GENES):,} gene calls"
    )
    print(f"{'stage':<10}{'seconds':>9}{'share':>8}")
    for stage, seconds in stages.items():
        print(f"{stage:<10}{seconds:>9.2f}{seconds / total:>8.0%}")
    print(
        f"\nClarity VCF -> reports: {ours:,.1f} samples/s ({total:.2f} s, process peak RSS "
        f"{peak / 2**20:,.0f} MiB)\ncyvcf2 parse alone:     {base:,.1f} samples/s ({parse:.2f} s)"
        f"\nratio (Clarity / parse alone): {ours / base:.3f}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "samples": n,
                "records": records,
                "stages_s": stages,
                "clarity_samples_per_s": ours,
                "parse_samples_per_s": base,
                "ratio": ours / base,
                "peak_rss_mib": peak / 2**20,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

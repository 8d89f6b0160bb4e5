"""Genotype pipeline scaling: wall time and peak memory of read, screen, select and train.

For each cohort size (5,000, 20,000 and 100,000 people by default) a PLINK
``.bed`` of 50,000 SNPs is simulated here, written a block of variants at a time
(never a dense matrix of everyone): haplotypes are mosaics of 500 msprime
founder haplotypes, so nearby SNPs are in LD and allele frequencies follow a
coalescent spectrum; an additive trait has 100 causal SNPs (h² 0.5). Each stage
runs in a fresh process, so its peak resident memory is its own:

- ``read``: the ``.bed`` into an int8 memory-mapped dosage matrix (bed-reader);
- ``freq``: allele frequencies of every SNP from that matrix;
- ``screen``: per-SNP linear regression with two covariates, every SNP;
- ``select``: the sequential tree-based selector (50 SNPs from the 2,000
  smallest p-values);
- ``train``: every trait model on the selected SNPs (C+T score, elastic net,
  XGBoost, ensemble; no bootstrap).

Peak memory is reported twice: the process's peak RSS (which counts the pages
of the memory-mapped matrix it touched; the kernel can drop those) and the peak
of NumPy and Python allocations (tracemalloc; XGBoost's own buffers are not
seen). Baselines in the same run: plink2 (Debian's ``plink2``, when installed)
on the same file for the read (``--make-pgen``), the frequencies (``--freq``)
and the screen (``--glm``), printed as ratios; and, for every stage, its time
at each size relative to the smallest size, which shows how it grows.

Run with ``make bench`` (or ``python bench/genotype.py --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_FOUNDERS = 500  # haplotypes the cohort is a mosaic of
_BLOCK = 50  # SNPs a haplotype copies from one founder before it may switch
_CHUNK = 2_000  # SNPs simulated and written at a time
_CAUSAL = 100
_STAGES = ("read", "freq", "screen", "select", "train")


# --------------------------------------------------------------------- simulation


def _founders(n_snps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return founder haplotypes (founders x SNPs, 0/1) and positions, from msprime."""
    import msprime

    length = 20_000_000
    while True:
        ts = msprime.sim_ancestry(
            samples=_FOUNDERS // 2,
            ploidy=2,
            sequence_length=length,
            recombination_rate=1e-8,
            population_size=10_000,
            random_seed=seed,
        )
        ts = msprime.sim_mutations(
            ts, rate=1.2e-8, random_seed=seed, model=msprime.BinaryMutationModel()
        )
        haplotypes = ts.genotype_matrix().astype(np.int8)  # SNPs x founders
        counts = haplotypes.sum(axis=1)
        keep = np.flatnonzero((counts >= 5) & (counts <= _FOUNDERS - 5))
        positions = ts.tables.sites.position.astype(np.int64)[keep] + 1
        unique = np.concatenate([[True], np.diff(positions) > 0])
        keep, positions = keep[unique], positions[unique]
        if len(keep) >= n_snps:
            chosen = np.sort(np.random.default_rng(seed).choice(len(keep), n_snps, replace=False))
            return np.ascontiguousarray(haplotypes[keep[chosen]].T), positions[chosen]
        length *= 2


def _pack(dosages: np.ndarray) -> bytes:
    """Pack a (samples x SNPs) 0/1/2 block into PLINK's SNP-major 2-bit layout."""
    # PLINK 1 codes, counting allele 1 (A1): 2 copies -> 00, 1 -> 10, 0 -> 11 (bits low first).
    code = np.array([3, 2, 0], dtype=np.uint8)[dosages.T]  # SNPs x samples
    n = code.shape[1]
    padded = np.zeros((code.shape[0], -(-n // 4) * 4), dtype=np.uint8)
    padded[:, :n] = code
    quads = padded.reshape(code.shape[0], -1, 4)
    packed = quads[..., 0] | (quads[..., 1] << 2) | (quads[..., 2] << 4) | (quads[..., 3] << 6)
    return packed.astype(np.uint8).tobytes()


def simulate(prefix: Path, n_samples: int, n_snps: int, seed: int) -> None:
    """Write ``prefix``.bed/.bim/.fam and ``prefix``.pheno (FID IID y c1 c2)."""
    rng = np.random.default_rng(seed)
    founders, positions = _founders(n_snps, seed)
    causal = np.sort(rng.choice(n_snps, _CAUSAL, replace=False))
    effects = rng.normal(0, 1, _CAUSAL)
    genetic = np.zeros(n_samples)
    with prefix.with_suffix(".bed").open("wb") as bed:
        bed.write(bytes([0x6C, 0x1B, 0x01]))
        for start in range(0, n_snps, _CHUNK):
            stop = min(start + _CHUNK, n_snps)
            block = np.zeros((n_samples, stop - start), dtype=np.int8)
            for _ in range(2):  # two haplotypes
                for left in range(start, stop, _BLOCK):
                    right = min(left + _BLOCK, stop)
                    pick = rng.integers(0, _FOUNDERS, n_samples)
                    block[:, left - start : right - start] += founders[pick, left:right]
            inside = (causal >= start) & (causal < stop)
            genetic += block[:, causal[inside] - start] @ effects[inside]
            bed.write(_pack(block))
    with prefix.with_suffix(".bim").open("w") as bim:
        for j, pos in enumerate(positions):
            bim.write(f"1\tsnp{j}\t0\t{pos}\tG\tA\n")
    with prefix.with_suffix(".fam").open("w") as fam:
        for i in range(n_samples):
            fam.write(f"s{i}\ts{i}\t0\t0\t0\t-9\n")
    genetic = (genetic - genetic.mean()) / genetic.std()
    covariates = rng.normal(0, 1, (n_samples, 2))
    y = (
        np.sqrt(0.5) * genetic
        + 0.2 * covariates[:, 0]
        + np.sqrt(0.46) * rng.normal(0, 1, n_samples)
    )
    with prefix.with_suffix(".pheno").open("w") as out:
        out.write("#FID\tIID\ty\tc1\tc2\n")
        for i in range(n_samples):
            out.write(f"s{i}\ts{i}\t{y[i]:.6f}\t{covariates[i, 0]:.6f}\t{covariates[i, 1]:.6f}\n")


# --------------------------------------------------------------------- one stage


def _stage(stage: str, prefix: Path, work: Path) -> dict[str, float]:
    """Run one stage in this process; return its wall time and peak Python allocations."""
    import tracemalloc

    import pandas as pd

    from clarity.genotype import (
        DosageMatrix,
        SequentialTreeSelector,
        SnpSet,
        allele_frequency,
        associate,
        fit_trait_models,
        read_plink,
    )

    table = pd.read_csv(prefix.with_suffix(".pheno"), sep="\t")
    y = table["y"].to_numpy()
    covariates = table[["c1", "c2"]].to_numpy()
    memmap = work / "dosages.i8"
    if stage != "read":
        bim = pd.read_csv(prefix.with_suffix(".bim"), sep="\t", header=None)
        variants = pd.DataFrame(
            {
                "chrom": "chr1",
                "pos": bim[3].astype(np.int64),
                "id": bim[1].astype(str),
                "ref": bim[5].astype(str),
                "alt": bim[4].astype(str),
            }
        )
        dosages = np.memmap(
            memmap, dtype=np.int8, mode="r", shape=(len(y), len(variants)), order="F"
        )
        matrix = DosageMatrix(dosages, tuple(table["IID"].astype(str)), variants)
    tracemalloc.start()
    start = time.perf_counter()
    extra: dict[str, float] = {}
    if stage == "read":
        read_plink(prefix.with_suffix(".bed"), out=memmap)
    elif stage == "freq":
        allele_frequency(matrix.dosages)
    elif stage == "screen":
        associate(matrix, y, covariates=covariates, kind="linear")
    elif stage == "select":
        selector = SequentialTreeSelector(n_keep=50, prescreen=2_000, shrink=0.5)
        selector.fit(matrix, y, covariates=covariates, trait="y")
        selector.snp_set_.save(work / "snp_set.json")
        extra["fits"] = float(len(selector.history_))
    elif stage == "train":
        snp_set = SnpSet.load(work / "snp_set.json")
        models = fit_trait_models(
            matrix,
            y,
            covariates=pd.DataFrame(covariates, columns=["c1", "c2"]),
            snp_set=snp_set,
            n_bootstrap=0,
            trait="y",
        )
        extra["xgboost_rounds"] = float(models["xgboost"].details["n_rounds"])
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "python_peak_mib": peak / 2**20, "peak_rss_mib": rss, **extra}


def _run_stage(stage: str, prefix: Path, work: Path) -> dict[str, float]:
    """Run a stage in a fresh process, so that its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--stage", stage, "--prefix", str(prefix), "--work", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stage {stage} failed:\n{done.stderr[-4000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _plink2(prefix: Path, work: Path) -> dict[str, float] | None:
    """Time plink2 on the same file: --make-pgen, --freq and --glm (two covariates)."""
    binary = shutil.which("plink2")
    if binary is None:
        return None
    threads = ["--threads", str(os.cpu_count() or 1)]
    commands = {
        "read": ["--bfile", str(prefix), "--make-pgen", "--out", str(work / "p2")],
        "freq": ["--bfile", str(prefix), "--freq", "--out", str(work / "p2")],
        "screen": [
            "--bfile",
            str(prefix),
            "--pheno",
            str(prefix.with_suffix(".pheno")),
            "--pheno-name",
            "y",
            "--covar",
            str(prefix.with_suffix(".pheno")),
            "--covar-name",
            "c1,c2",
            "--glm",
            "hide-covar",
            "allow-no-covars",
            "--out",
            str(work / "p2"),
        ],
    }
    out = {}
    for stage, args in commands.items():
        start = time.perf_counter()
        subprocess.run([binary, *args, *threads], capture_output=True, check=True)
        out[stage] = time.perf_counter() - start
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="5000,20000,100000", help="Cohort sizes, comma-separated."
    )
    parser.add_argument("--snps", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/genotype.json"))
    parser.add_argument("--stage", choices=_STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--prefix", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage is not None:  # a child process: one stage, one JSON line
        print(json.dumps(_stage(args.stage, args.prefix, args.work)))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, dict[str, object]] = {}
    timings: dict[int, dict[str, float]] = {}
    print(f"Genotype pipeline, {args.snps:,} SNPs; sizes {', '.join(f'{s:,}' for s in sizes)}")
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="clarity-bench-genotype-") as tmp:
            work = Path(tmp)
            prefix = work / "cohort"
            start = time.perf_counter()
            simulate(prefix, n, args.snps, args.seed)
            simulated = time.perf_counter() - start
            size_mib = prefix.with_suffix(".bed").stat().st_size / 2**20
            stages = {stage: _run_stage(stage, prefix, work) for stage in _STAGES}
            plink = _plink2(prefix, work)
        results[str(n)] = {"simulate_seconds": simulated, "bed_mib": size_mib, "stages": stages}
        timings[n] = {stage: r["seconds"] for stage, r in stages.items()}
        if plink is not None:
            results[str(n)]["plink2_seconds"] = plink
        print(
            f"\n{n:,} people x {args.snps:,} SNPs (.bed {size_mib:,.0f} MiB, simulated in "
            f"{simulated:.0f} s)"
        )
        print(
            f"  {'stage':<8} {'seconds':>9} {'peak RSS MiB':>13} {'NumPy peak MiB':>15}"
            f" {'plink2 s':>9} {'ours/plink2':>12}"
        )
        for stage, r in stages.items():
            theirs = plink.get(stage) if plink else None
            ratio = f"{r['seconds'] / theirs:12.2f}" if theirs else f"{'-':>12}"
            p2 = f"{theirs:9.2f}" if theirs else f"{'-':>9}"
            print(
                f"  {stage:<8} {r['seconds']:9.2f} {r['peak_rss_mib']:13.0f} "
                f"{r['python_peak_mib']:15.0f} {p2} {ratio}"
            )
    if len(sizes) > 1:
        print(f"\nGrowth: each stage's time relative to {sizes[0]:,} people")
        for n in sizes[1:]:
            parts = [f"{s} {timings[n][s] / timings[sizes[0]][s]:.1f}x" for s in _STAGES]
            print(f"  {n:,} people ({n / sizes[0]:.0f}x): " + ", ".join(parts))
    if shutil.which("plink2") is None:
        print("\nplink2 is not installed (Debian package plink2): no reader ratio measured.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nResults: {args.json}")


if __name__ == "__main__":
    main()

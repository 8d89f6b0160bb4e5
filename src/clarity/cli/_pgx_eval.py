"""``clarity eval pgx``: calling accuracy on a synthetic cohort, the response model vs priors.

Three measurements, written as a Markdown report:

1. PharmCAT's golden examples (when the reference folder is given): our
   diplotypes and phenotypes against PharmCAT's ``match`` and ``phenotype`` JSON.
2. A synthetic cohort: the called diplotypes against the generated ones, per
   gene (exact, tied with the truth among the top calls, phase-ambiguous, copy
   number unseen by a VCF), and the phenotypes.
3. The drug-response model against the per-drug population prior, AUC on
   held-out patients over several splits.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from clarity.cli._app import console
from clarity.cli._eval import eval_app

_GENES = ("CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6")


def _golden(pharmcat: Path) -> list[tuple[str, str, str, str, str]]:
    from clarity.pgx import call_vcf, read_outside_calls

    rows = []
    for match_file in sorted((pharmcat / "examples").glob("*.match.json")):
        stem = str(match_file).removesuffix(".match.json")
        outside_file = Path(stem + ".outsideCall.tsv")
        outside = read_outside_calls(outside_file) if outside_file.is_file() else []
        [ours] = call_vcf(stem + ".vcf", outside=outside).values()
        reports = json.loads(Path(stem + ".phenotype.json").read_text())["geneReports"]
        for gene in (*_GENES, "HLA-B"):
            theirs = reports[gene]
            if theirs["callSource"] == "NONE":
                continue
            their_dip = ", ".join(d["label"] for d in theirs["sourceDiplotypes"])
            their_phen = "; ".join(p for d in theirs["sourceDiplotypes"] for p in d["phenotypes"])
            mine = ours.get(gene)
            our_dip = ", ".join(mine.diplotypes) if mine else "-"
            our_phen = mine.phenotype if mine else "-"
            rows.append(
                (
                    Path(stem).name,
                    gene,
                    f"{their_dip} / {their_phen}",
                    f"{our_dip} / {our_phen}",
                    "yes" if (their_dip, their_phen) == (our_dip, our_phen) else "NO",
                )
            )
    return rows


def _synthetic(cohort: Path) -> tuple[dict[str, Counter[str]], dict[str, tuple[int, int]]]:
    import pyarrow.parquet as pq

    from clarity.pgx import call_vcf

    truth = pq.read_table(cohort / "truth" / "patients.parquet").to_pandas().set_index("source_id")
    called = call_vcf(cohort / "pgx" / "pgx.vcf.gz")
    outcome: dict[str, Counter[str]] = {g: Counter() for g in _GENES}
    phenotypes: dict[str, tuple[int, int]] = {}
    names = {"PM": "Poor", "IM": "Intermediate", "NM": "Normal", "RM": "Rapid", "UM": "Ultrarapid"}
    for gene in _GENES:
        agree = total = 0
        for sample, genes in called.items():
            result = genes[gene]
            generated = str(truth.loc[sample, f"{gene}_diplotype"])
            if gene == "CYP2D6" and any("x" in a or a == "*5" for a in generated.split("/")):
                outcome[gene]["copy number (outside call needed)"] += 1
                continue
            if result.diplotypes == (generated,):
                outcome[gene]["exact"] += 1
            elif generated in result.diplotypes:
                outcome[gene]["tied with others"] += 1
            elif generated in {c.diplotype for c in result.candidates}:
                outcome[gene]["phase-ambiguous (truth consistent, not top)"] += 1
            else:
                outcome[gene]["wrong"] += 1
            expected = names[str(truth.loc[sample, f"{gene}_phenotype"])] + " Metabolizer"
            total += 1
            agree += result.phenotype == expected
        phenotypes[gene] = (agree, total)
    return outcome, phenotypes


def _response(cohort: Path, splits: int) -> list[dict[str, float]]:
    from clarity.pgx._response import evaluate, training_frame

    frame = training_frame(cohort)
    return [evaluate(frame, seed=seed) for seed in range(splits)]


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


@eval_app.command("pgx")
def pgx(
    patients: Annotated[int, typer.Option(min=50, help="Synthetic patients.")] = 1000,
    days: Annotated[int, typer.Option(min=56, help="Days followed per patient.")] = 180,
    seed: Annotated[int, typer.Option(help="Cohort seed.")] = 1,
    splits: Annotated[int, typer.Option(min=1, help="Held-out splits for the response model.")] = 5,
    pharmcat: Annotated[
        Path | None, typer.Option(help="PharmCAT reference folder (examples/ inside).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the Markdown report here.")] = None,
) -> None:
    """Measure PGx calling on a synthetic cohort and the response model against priors."""
    from clarity.synth import CohortConfig, generate_cohort

    began = time.perf_counter()
    lines = ["# PGx evaluation", ""]
    command = shlex.join(["clarity", *sys.argv[1:]]) if sys.argv[1:] else "clarity eval pgx"
    lines += [f"Command: `{command}`", ""]
    if pharmcat is not None:
        lines += [
            "## PharmCAT golden examples",
            "",
            "| example | gene | PharmCAT | Clarity | same |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in _golden(pharmcat)]
        lines.append("")
    with tempfile.TemporaryDirectory(prefix="clarity-eval-pgx-") as tmp:
        cohort = generate_cohort(
            CohortConfig(patients=patients, days=days, seed=seed, ecg_seconds=5),
            Path(tmp) / "cohort",
        ).out
        outcome, phenotypes = _synthetic(cohort)
        results = _response(cohort, splits)
    kinds = sorted({k for c in outcome.values() for k in c})
    lines += [
        f"## Synthetic cohort: {patients} patients (seed {seed})",
        "",
        "Called diplotypes against the generated ones (unphased VCF, every defined locus).",
        "",
        "| gene | " + " | ".join(kinds) + " | phenotype agrees |",
        "|---|" + "---:|" * (len(kinds) + 1),
    ]
    for gene in _GENES:
        agree, total = phenotypes[gene]
        cells = " | ".join(str(outcome[gene][k]) for k in kinds)
        lines.append(f"| {gene} | {cells} | {agree}/{total} ({agree / max(total, 1):.1%}) |")
    keys = ("response", "adverse_event")
    lines += [
        "",
        f"## Drug-response model (research-grade) vs population prior, {splits} splits",
        "",
        "| label | model AUC (mean) | prior AUC (mean) | per split (model / prior) |",
        "|---|---:|---:|---|",
    ]
    for key in keys:
        model = [r[f"{key}_auc_model"] for r in results]
        prior = [r[f"{key}_auc_prior"] for r in results]
        per = ", ".join(f"{m:.3f}/{p:.3f}" for m, p in zip(model, prior, strict=True))
        lines.append(f"| {key} | {_mean(model):.3f} | {_mean(prior):.3f} | {per} |")
    lines += ["", f"Wall time: {time.perf_counter() - began:,.0f} s.", ""]
    text = "\n".join(lines)
    console.print(text)
    if out is not None:
        out.write_text(text, encoding="utf-8")

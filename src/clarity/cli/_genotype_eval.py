"""``clarity eval genotype``: per-trait models against the linear score, on simulated and real data.

1. Simulated cohorts (msprime, so nearby variants are in LD), one per
   replicate, with five traits of known architecture
   (:func:`clarity.synth._genetics.simulate_trait`): held-out R² (AUC for the
   0/1 liability) of the C+T score, the elastic net, XGBoost on the
   selector's SNPs plus principal components, and their ensemble; paired
   bootstrap intervals of XGBoost's and the ensemble's difference from the
   better linear model; the SNPs each model uses; the selector's precision
   and recall for the causal variants against p-value and clumped selections
   of the same size; XGBoost on the causal variants themselves (the ceiling
   a perfect selection would reach); bootstrap-interval coverage.
2. The fastlmm wheel's PLINK example (500 people x 10,000 SNPs, a covariate,
   its own train/test split): held-out R² of every model.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import typer

from clarity.cli._app import console, settings_of
from clarity.cli._eval import eval_app
from clarity.cli._genotype import PANEL_MODEL

ARCHITECTURES = ("additive", "liability", "dominance", "epistasis", "pure_epistasis")
_NON_ADDITIVE = ("dominance", "epistasis", "pure_epistasis")
_KINDS = ("prs_ct", "elastic_net", "xgboost", "ensemble")
_N_PCS = 4


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    return 1.0 - float(np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if y.min() == y.max():
        return 0.5
    return float(roc_auc_score(y, p))


def _cohort(samples: int, length: int, seed: int) -> Any:
    from clarity.genotype import VARIANT_COLUMNS, DosageMatrix, quality_control
    from clarity.synth._genetics import simulate_genotypes

    g = simulate_genotypes([f"S{i:06d}" for i in range(samples)], seed, length=length)
    variants = pd.DataFrame(
        {
            "chrom": g.chrom.astype(str),
            "pos": g.pos.astype(np.int64),
            "id": g.ids,
            "ref": g.ref.astype(str),
            "alt": g.alt.astype(str),
        },
        columns=list(VARIANT_COLUMNS),
    )
    raw = DosageMatrix(np.asfortranarray(g.dosages()), tuple(g.samples), variants)
    matrix, _ = quality_control(raw)
    return raw.n_variants, matrix


def _baselines(train: Any, y: np.ndarray, covariates: np.ndarray, size: int) -> dict[str, Any]:
    """Return ``size`` SNPs chosen by p-value, and by clumped p-value (r² 0.5, 250 kb)."""
    from clarity.genotype import Association, associate, clump

    kind: Literal["linear", "logistic"] = (
        "logistic" if set(np.unique(y)) <= {0.0, 1.0} else "linear"
    )
    table = associate(train, y, covariates=covariates, kind=kind)
    top = Association(table).top(size)
    ranked = Association(table).top(min(20 * size, train.n_variants))
    clumped = clump(train, table.loc[ranked, "p"], p_threshold=1.0, r2=0.5, window_bp=250_000)
    return {"top p-values": top, "clumped p-values": clumped[:size]}


def _replicate(
    replicate: int,
    samples: int,
    length: int,
    seed: int,
    bootstrap: int,
    architectures: tuple[str, ...],
    say: Any,
) -> dict[str, Any]:
    from clarity.genotype import (
        SELECTOR_DEFAULTS,
        SequentialTreeSelector,
        SnpSet,
        fit_trait_models,
        ld_proxies,
        principal_components,
        recovery,
        snps_used,
    )
    from clarity.synth._genetics import simulate_trait

    began = time.perf_counter()
    raw_variants, matrix = _cohort(samples, length, seed + replicate)
    ids = matrix.variants["id"].astype(str).tolist()
    order = np.random.default_rng([seed, replicate]).permutation(matrix.n_samples)
    cut = int(0.8 * matrix.n_samples)
    train_rows, test_rows = np.sort(order[:cut]), np.sort(order[cut:])
    train, test = matrix.subset(samples=train_rows), matrix.subset(samples=test_rows)
    # Components of the training people; the held-out ones are projected, as patients are.
    _, pca = principal_components(
        train, _N_PCS, variants=ids[:: -(-len(ids) // 5_000)], random_state=replicate
    )
    cov = pd.DataFrame(pca.transform(matrix), columns=[f"pc{i + 1}" for i in range(_N_PCS)])
    cov_tr, cov_te = (
        cov.iloc[train_rows].reset_index(drop=True),
        cov.iloc[test_rows].reset_index(drop=True),
    )
    say(
        f"replicate {replicate}: {matrix.n_samples:,} people, {matrix.n_variants:,} of "
        f"{raw_variants:,} variants after QC ({time.perf_counter() - began:.0f} s)"
    )
    out: dict[str, Any] = {
        "samples": matrix.n_samples,
        "variants": matrix.n_variants,
        "variants_simulated": raw_variants,
        "traits": {},
    }
    dosages = np.asarray(matrix.dosages)
    for architecture in architectures:
        started = time.perf_counter()
        trait = simulate_trait(dosages, architecture, seed=seed + replicate)
        y = trait.values
        binary = architecture == "liability"
        metric = _auc if binary else _r2
        selector = SequentialTreeSelector(random_state=replicate, **SELECTOR_DEFAULTS)
        snp_set = selector.fit(
            train, y[train_rows], covariates=cov_tr.to_numpy(), trait=architecture
        ).snp_set_
        selected_at = time.perf_counter()
        with_intervals = bootstrap if architecture == "additive" else 0
        models = fit_trait_models(
            train,
            y[train_rows],
            covariates=cov_tr,
            snp_set=snp_set,
            reselect=selector,
            n_bootstrap=with_intervals,
            random_state=replicate,
            trait=architecture,
        )
        fitted_at = time.perf_counter()
        predictions = {k: m.predict(test, cov_te) for k, m in models.items()}
        scores = {k: metric(y[test_rows], p) for k, p in predictions.items()}
        linear = max(("prs_ct", "elastic_net"), key=lambda k: scores[k])
        differences = {
            k: paired(y[test_rows], predictions[k], predictions[linear], metric, replicate, binary)
            for k in ("xgboost", "ensemble")
        }
        causal_ids = [str(matrix.variants["id"].iloc[c]) for c in trait.causal]
        proxies = ld_proxies(train, [ids.index(v) for v in causal_ids])
        selections = {"sequential tree selector": list(snp_set.variants)}
        selections.update(
            _baselines(train, y[train_rows], cov_tr.to_numpy(), len(snp_set.variants))
        )
        found = {name: recovery(chosen, proxies) for name, chosen in selections.items()}
        oracle = SnpSet(
            trait=architecture,
            variants=tuple(causal_ids),
            scores=tuple(1.0 for _ in causal_ids),
            method="simulation truth",
            params={},
            data_digest="",
        )
        ceiling = fit_trait_models(
            train,
            y[train_rows],
            covariates=cov_tr,
            snp_set=oracle,
            kinds=("xgboost",),
            n_bootstrap=0,
            random_state=replicate,
            trait=architecture,
        )["xgboost"]
        record: dict[str, Any] = {
            "metric": "auc" if binary else "r2",
            "scores": scores,
            "best_linear": linear,
            "differences": differences,
            "snps_read": {k: len(m.snp_ids) for k, m in models.items()},
            "snps_used": {k: snps_used(m) for k, m in models.items()},
            "recovery": found,
            "n_causal": len(trait.causal),
            "oracle_xgboost": metric(y[test_rows], ceiling.predict(test, cov_te)),
            "seconds": {
                "select": selected_at - started,
                "fit": fitted_at - selected_at,
                "total": time.perf_counter() - started,
            },
        }
        if with_intervals:
            truth = np.sqrt(trait.h2) * trait.genetic[test_rows]
            coverage = {}
            for kind, model in models.items():
                low, high = model.interval(test, cov_te, level=0.9)
                coverage[kind] = float(np.mean((low <= truth) & (truth <= high)))
            record["interval_coverage"] = coverage
        out["traits"][architecture] = record
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
        say(f"  {architecture}: {shown} ({record['seconds']['total']:.0f} s)")
    return out


def paired(
    y: np.ndarray, first: np.ndarray, second: np.ndarray, metric: Any, seed: int, binary: bool
) -> list[float]:
    """Return [difference, low, high] of a paired bootstrap (see ``paired_difference``)."""
    from clarity.genotype import paired_difference

    found = paired_difference(y, first, second, metric, n_boot=300, seed=seed, stratify=binary)
    return list(found)


def _fastlmm() -> dict[str, Any]:
    from clarity.genotype import (
        fit_trait_models,
        principal_components,
        read_phenotypes,
        read_plink,
        snps_used,
    )

    folder = Path(str(importlib.resources.files("fastlmm") / "feature_selection" / "examples"))
    matrix = read_plink(folder / "toydata.5chrom.bed")
    train = read_phenotypes(folder / "toydataTrain.phe")
    test = read_phenotypes(folder / "toydataTest.phe")
    covariate = read_phenotypes(folder / "toydata.cov").rename(columns={"PHENO1": "cov"})
    pcs, _ = principal_components(matrix, _N_PCS)
    frame = pd.concat(
        [
            covariate.loc[list(matrix.samples)].reset_index(drop=True),
            pd.DataFrame(pcs, columns=[f"pc{i + 1}" for i in range(_N_PCS)]),
        ],
        axis=1,
    )
    where = {s: i for i, s in enumerate(matrix.samples)}
    rows = {
        part: np.array([where[s] for s in t.index])
        for part, t in (("train", train), ("test", test))
    }
    y = {"train": train["PHENO1"].to_numpy(), "test": test["PHENO1"].to_numpy()}
    out: dict[str, Any] = {
        "samples": matrix.n_samples,
        "variants": matrix.n_variants,
        "train": len(rows["train"]),
        "test": len(rows["test"]),
        "results": {},
    }
    for label, columns in (("covariate", ["cov"]), ("covariate + 4 PCs", list(frame.columns))):
        covariates = frame[columns]
        models = fit_trait_models(
            matrix.subset(samples=rows["train"]),
            y["train"],
            covariates=covariates.iloc[rows["train"]].reset_index(drop=True),
            n_bootstrap=0,
            trait="pheno1",
        )
        held = matrix.subset(samples=rows["test"])
        cov_test = covariates.iloc[rows["test"]].reset_index(drop=True)
        out["results"][label] = {
            k: {"r2": _r2(y["test"], m.predict(held, cov_test)), "snps_used": snps_used(m)}
            for k, m in models.items()
        }
    return out


def _version(package: str) -> str:
    """Return an installed package's version (xgboost ships as xgboost-cpu here)."""
    for name in (package, f"{package}-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def _mean_sd(values: list[float]) -> str:
    array = np.asarray(values, dtype=np.float64)
    if len(array) == 1:
        return f"{array[0]:.3f}"
    return f"{array.mean():.3f} ± {array.std(ddof=1):.3f}"


def _verdict(architecture: str, replicates: list[dict[str, Any]], kind: str) -> str:
    """Say how a model did against the better linear one, cohort by cohort and on average."""
    found = [r["traits"][architecture]["differences"][kind] for r in replicates]
    n = len(found)
    mean = float(np.mean([f[0] for f in found]))
    if architecture in _NON_ADDITIVE:
        wins = sum(low > 0 for _, low, _ in found)
        return f"beats it in {wins} of {n} cohorts (mean {mean:+.3f})"
    worse = sum(high < 0 for _, _, high in found)
    if not worse:
        return f"no worse beyond noise in any of {n} cohorts (mean {mean:+.3f})"
    return f"mean {mean:+.3f}; worse beyond noise in {worse} of {n} cohorts"


def report(results: dict[str, Any]) -> str:
    """Return the Markdown report of an evaluation run."""
    settings = results["settings"]
    reps = results["replicates"]
    evaluated = [a for a in ARCHITECTURES if a in reps[0]["traits"]]
    lines = [
        "# Genotype evaluation",
        "",
        f"Command: `{results['command']}`  ",
        f"Run on {results['machine']}; wall time {results['seconds']:,.0f} s; "
        f"xgboost {results['versions']['xgboost']}, scikit-learn "
        f"{results['versions']['scikit-learn']}, msprime {results['versions']['msprime']}.",
        "",
        f"## Simulated cohorts: {settings['samples']:,} people, {len(reps)} replicates",
        "",
        f"msprime ancestry of {settings['samples']:,} people on three {settings['length']:,} bp "
        f"segments (N_e 10,000, recombination 1e-8, mutation 1.2e-8); "
        f"{np.mean([r['variants'] for r in reps]):,.0f} variants after QC "
        "(call rate, MAF 0.01, HWE 1e-6) of "
        f"{np.mean([r['variants_simulated'] for r in reps]):,.0f} simulated (mean). Each "
        "replicate is a new cohort, split 80/20 into training and held-out people; traits have "
        "h² 0.5 and 40 causal variants (20 pairs for the epistatic ones); "
        "the liability is thresholded at 20 % prevalence. Models read four genotype principal "
        "components as covariates (fitted on the training people; the held-out people are "
        "projected, as patients are). XGBoost reads the sequential tree-based selector's 50 SNPs "
        "(from the 2,000 smallest p-values), and each fold of the ensemble's cross-validation "
        "selects its own. Values are mean ± sd over replicates.",
        "",
        "### Held-out accuracy (R²; AUC for the liability)",
        "",
        "| trait | C+T score | elastic net | XGBoost | ensemble | XGBoost on the causal SNPs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for a in evaluated:
        cells = [_mean_sd([r["traits"][a]["scores"][k] for r in reps]) for k in _KINDS]
        oracle = _mean_sd([r["traits"][a]["oracle_xgboost"] for r in reps])
        lines.append(f"| {a} | {' | '.join(cells)} | {oracle} |")
    lines += [
        "",
        "### Against the better linear model, on the same held-out people",
        "",
        "Difference from the better of the C+T score and the elastic net (chosen on these "
        "same held-out people, which makes the comparison harder for XGBoost, not easier), "
        "with the 95 % interval of a paired bootstrap of the held-out people (stratified by "
        "class for the liability; per replicate). The bar: on "
        "additive traits XGBoost must not lose beyond noise (the interval reaches 0); on "
        "dominance and epistasis XGBoost and the ensemble must win (the interval above 0).",
        "",
        "| trait | model | difference per replicate [95 % interval] | verdict |",
        "|---|---|---|---|",
    ]
    for a in evaluated:
        for kind in ("xgboost", "ensemble"):
            per = "; ".join(
                "{:+.3f} [{:+.3f}, {:+.3f}]".format(*r["traits"][a]["differences"][kind])
                for r in reps
            )
            lines.append(f"| {a} | {kind} | {per} | {_verdict(a, reps, kind)} |")
    lines += [
        "",
        "### SNPs each model uses (read / with an effect)",
        "",
        "| trait | C+T score | elastic net | XGBoost | ensemble |",
        "|---|---:|---:|---:|---:|",
    ]
    for a in evaluated:
        cells = []
        for k in _KINDS:
            read = np.mean([r["traits"][a]["snps_read"][k] for r in reps])
            used = np.mean([r["traits"][a]["snps_used"][k] for r in reps])
            cells.append(f"{read:.0f} / {used:.0f}")
        lines.append(f"| {a} | {' | '.join(cells)} |")
    lines += [
        "",
        "### The selector against the truth",
        "",
        "Precision (share of selected SNPs that are causal or an LD proxy, r² > 0.5) and recall "
        "(share of causal variants with a selected proxy), for 50 SNPs chosen three ways.",
        "",
        "| trait | sequential tree selector | top p-values | clumped p-values |",
        "|---|---|---|---|",
    ]
    for a in evaluated:
        cells = []
        for name in ("sequential tree selector", "top p-values", "clumped p-values"):
            p = np.mean([r["traits"][a]["recovery"][name][0] for r in reps])
            q = np.mean([r["traits"][a]["recovery"][name][1] for r in reps])
            cells.append(f"{p:.2f} / {q:.2f}")
        lines.append(f"| {a} | {' | '.join(cells)} |")
    coverage = [r["traits"].get("additive", {}).get("interval_coverage") for r in reps]
    if all(coverage):
        lines += [
            "",
            f"### Bootstrap intervals ({settings['bootstrap']} replicates, additive trait)",
            "",
            "Share of held-out people whose true genetic value lies in the model's 90 % "
            "interval. The intervals cover estimation noise only (tuning and selection held "
            "fixed, model bias not included), so coverage below 90 % is expected.",
            "",
            "| " + " | ".join(_KINDS) + " |",
            "|" + "---:|" * len(_KINDS),
            "| " + " | ".join(_mean_sd([c[k] for c in coverage]) for k in _KINDS) + " |",
        ]
    times = {a: np.mean([r["traits"][a]["seconds"]["total"] for r in reps]) for a in evaluated}
    lines += [
        "",
        "Seconds per trait (selection, every model, the causal-SNP ceiling; mean): "
        + ", ".join(f"{a} {t:.0f}" for a, t in times.items())
        + ".",
    ]
    fast = results.get("fastlmm")
    if fast:
        lines += [
            "",
            "## fastlmm's PLINK example (real file format)",
            "",
            f"`toydata.5chrom.bed` from the fastlmm wheel: {fast['samples']} people by "
            f"{fast['variants']:,} SNPs, trained on its `toydataTrain.phe` ({fast['train']}) and "
            f"scored on `toydataTest.phe` ({fast['test']}), with its `toydata.cov` covariate. "
            "fastlmm ships it to demonstrate association testing and feature selection for "
            "linear mixed models; at 250 training people its phenotype holds little that any "
            "model predicts, so the check is that no model invents signal on a real file.",
            "",
            "| covariates | " + " | ".join(_KINDS) + " |",
            "|---|" + "---:|" * len(_KINDS),
        ]
        for label, by_kind in fast["results"].items():
            cells = [f"{by_kind[k]['r2']:.3f} ({by_kind[k]['snps_used']} SNPs)" for k in _KINDS]
            lines.append(f"| {label} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def _flat(results: dict[str, Any]) -> dict[str, float]:
    """Return the figures as registry metrics: means over replicates per trait and model."""
    reps = results["replicates"]
    out: dict[str, float] = {}
    for trait in reps[0]["traits"]:
        for kind in _KINDS:
            values = [r["traits"][trait]["scores"][kind] for r in reps]
            out[f"{trait}.{kind}.held_out"] = float(np.mean(values))
        for kind in ("xgboost", "ensemble"):
            values = [r["traits"][trait]["differences"][kind][0] for r in reps]
            out[f"{trait}.{kind}.minus_best_linear"] = float(np.mean(values))
        recall = [r["traits"][trait]["recovery"]["sequential tree selector"][1] for r in reps]
        out[f"{trait}.selector.recall"] = float(np.mean(recall))
    for label, by_kind in results.get("fastlmm", {}).get("results", {}).items():
        for kind, values in by_kind.items():
            out[f"fastlmm.{label.replace(' + ', '_').replace(' ', '_')}.{kind}.r2"] = values["r2"]
    return {k: v for k, v in out.items() if np.isfinite(v)}


@eval_app.command("genotype")
def genotype(
    ctx: typer.Context,
    samples: Annotated[int, typer.Option(min=500, help="Simulated people per cohort.")] = 10_000,
    length: Annotated[
        int, typer.Option(min=100_000, help="Base pairs simulated per chromosome (three).")
    ] = 1_000_000,
    replicates: Annotated[int, typer.Option(min=1, help="Simulated cohorts.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the first cohort.")] = 1,
    bootstrap: Annotated[
        int, typer.Option(min=0, help="Bootstrap replicates for the additive trait's intervals.")
    ] = 20,
    trait: Annotated[
        list[str] | None,
        typer.Option(help="An architecture to evaluate (repeatable; default: all five)."),
    ] = None,
    fastlmm: Annotated[bool, typer.Option(help="Evaluate on fastlmm's PLINK example too.")] = True,
    out: Annotated[Path | None, typer.Option(help="Write the Markdown report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write every figure as JSON here.")
    ] = None,
) -> None:
    """Compare XGBoost and the ensemble with linear scores on simulated and real genotypes."""
    import os
    import platform

    began = time.perf_counter()
    chosen = tuple(trait) if trait else ARCHITECTURES
    unknown = [a for a in chosen if a not in ARCHITECTURES]
    if unknown:
        raise typer.BadParameter(
            f"{unknown}: the architectures are {', '.join(ARCHITECTURES)}", param_hint="--trait"
        )

    def say(line: str) -> None:
        console.print(line)

    results: dict[str, Any] = {
        "command": shlex.join(["clarity", *sys.argv[1:]])
        if sys.argv[1:]
        else "clarity eval genotype",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "settings": {
            "samples": samples,
            "length": length,
            "replicates": replicates,
            "seed": seed,
            "bootstrap": bootstrap,
        },
        "versions": {p: _version(p) for p in ("xgboost", "scikit-learn", "msprime")},
        "replicates": [
            _replicate(r, samples, length, seed, bootstrap, chosen, say) for r in range(replicates)
        ],
    }
    if fastlmm:
        results["fastlmm"] = _fastlmm()
        say("fastlmm example: done")
    results["seconds"] = time.perf_counter() - began
    text = report(results)
    console.print(text)
    if out is not None:
        out.write_text(text, encoding="utf-8")
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    from clarity.registry import ModelRegistry

    with tempfile.TemporaryDirectory(prefix="clarity-eval-genotype-") as scratch:
        folder = Path(scratch)
        (folder / "genotype-evaluation.md").write_text(text, encoding="utf-8")
        (folder / "genotype-evaluation.json").write_text(
            json.dumps(results, indent=1, default=float), encoding="utf-8"
        )
        run = ModelRegistry.from_settings(settings_of(ctx)).log_evaluation(
            PANEL_MODEL,
            params={**results["settings"], "traits": ",".join(chosen), "fastlmm": fastlmm},
            metrics=_flat(results),
            report_dir=folder,
        )
    console.print(f"Figures in the registry under {PANEL_MODEL}, run {run.run_id}.")

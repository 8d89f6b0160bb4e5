"""``clarity eval``: evaluate a service's models and keep the figures in the registry."""

from __future__ import annotations

import json
import shlex
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.table import Table

from clarity.cli._app import app, console, settings_of

if TYPE_CHECKING:
    from clarity.wearable.evaluation import EvaluationSettings, LabelEfficiency, LosoResult

eval_app = typer.Typer(help="Evaluate models; figures go to the registry.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

DEFAULT_DEPRESJON = Path("../shared/reference/depresjon")

PUBLISHED = (
    ("CNN (Frogner et al. 2019)", "-", "0.70", "-", "-"),
    ("DNN (Jakobsen et al. 2020)", "-", "-", "0.65", "0.84"),
)
"""Published results on Depresjon (condition vs control), for comparison; their
protocols differ from ours (see docs/wearable.md)."""


def _key(arm: str) -> str:
    return (
        arm.lower()
        .replace(" (", "_")
        .replace(")", "")
        .replace(" ", "_")
        .replace("-", "")
        .replace("pat_no_pretraining", "pat_scratch")
    )


def _settings(quick: bool, pretrain: int, finetune: int, baseline: int, seed: int) -> Any:
    from clarity.wearable import FinetuneSettings, PATConfig, PretrainSettings
    from clarity.wearable.evaluation import EvaluationSettings

    config = PATConfig.size("S")
    if quick:
        config = PATConfig(patch_size=144, layers=1, heads=2, embed_dim=16, ff_dim=32)
    return EvaluationSettings(
        config=config,
        pretraining=PretrainSettings(epochs=pretrain, patience=3, seed=seed),
        finetuning=FinetuneSettings(
            epochs=finetune, learning_rate=1e-4, batch_size=16, patience=5, seed=seed
        ),
        probing=FinetuneSettings(
            frozen=True, epochs=200, learning_rate=1e-3, batch_size=16, patience=20, seed=seed
        ),
        baselines=FinetuneSettings(
            epochs=baseline, learning_rate=1e-3, batch_size=16, patience=8, seed=seed
        ),
        seed=seed,
    )


def _synthetic_table(result: LabelEfficiency) -> tuple[Table, str]:
    sizes = sorted({r.labelled_patients for r in result.results})
    arms = list(dict.fromkeys(r.arm for r in result.results))
    table = Table(title="Synthetic cohort: AUC on held-out patients' weeks")
    table.add_column("model")
    for size in sizes:
        table.add_column(f"{size} labelled", justify="right")
    lines = [
        "| model | " + " | ".join(f"{s} labelled patients" for s in sizes) + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for arm in arms:
        cells = [f"{result.auc(arm, s):.3f}" for s in sizes]
        table.add_row(arm, *cells)
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return table, "\n".join(lines)


def _loso_table(result: LosoResult) -> tuple[Table, str]:
    table = Table(title="Depresjon, leave one subject out: subject-level metrics")
    headers = ("model", "AUC", "F1", "MCC", "accuracy")
    for header in headers:
        table.add_column(header, justify="left" if header == "model" else "right")
    lines = ["| " + " | ".join(headers) + " |", "|---|---:|---:|---:|---:|"]
    for m in result.metrics:
        cells = (f"{m.auc:.3f}", f"{m.f1:.3f}", f"{m.mcc:.3f}", f"{m.accuracy:.3f}")
        table.add_row(m.arm, *cells)
        lines.append(f"| {m.arm} | " + " | ".join(cells) + " |")
    for row in PUBLISHED:
        table.add_row(*row, style="dim")
        lines.append("| " + " | ".join((f"{row[0]}, published", *row[1:])) + " |")
    return table, "\n".join(lines)


@eval_app.command("wearable")
def wearable(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option(help="A tiny PAT, small data and budgets: a smoke run in a minute.")
    ] = False,
    patients: Annotated[
        int | None, typer.Option(min=8, help="Synthetic cohort size [default: 900; quick 24].")
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=14, help="Days per synthetic patient [default: 28].")
    ] = None,
    sizes: Annotated[
        str | None,
        typer.Option(help="Labelled patients, comma-separated [default: 50,100,500; quick 6,12]."),
    ] = None,
    cohort: Annotated[
        Path | None, typer.Option(help="Use this synthetic cohort instead of generating one.")
    ] = None,
    depresjon: Annotated[
        Path, typer.Option(help="Depresjon directory (condition_N / control_N files).")
    ] = DEFAULT_DEPRESJON,
    subjects: Annotated[
        int | None,
        typer.Option(min=2, help="Depresjon subjects to use [default: all 55; quick 12]."),
    ] = None,
    pretrain_epochs: Annotated[
        int | None, typer.Option(min=1, help="[default: 8; quick 2]")
    ] = None,
    finetune_epochs: Annotated[
        int | None, typer.Option(min=1, help="[default: 15; quick 4]")
    ] = None,
    baseline_epochs: Annotated[
        int | None, typer.Option(min=1, help="[default: 25; quick 4]")
    ] = None,
    extra_weeks: Annotated[
        int,
        typer.Option(min=0, help="Synthetic weeks added to each Depresjon pretraining (0: none)."),
    ] = 400,
    arm: Annotated[list[str] | None, typer.Option(help="Models to compare (repeat).")] = None,
    synthetic: Annotated[bool, typer.Option(help="Run the synthetic evaluation.")] = True,
    real: Annotated[bool, typer.Option(help="Run the Depresjon evaluation.")] = True,
    out: Annotated[Path, typer.Option(help="Markdown report to write.")] = Path(
        "docs/wearable-evaluation.md"
    ),
    seed: Annotated[int, typer.Option(help="Seed of the cohort, splits and models.")] = 0,
) -> None:
    """Compare PAT with and without pretraining against the CNN and Bi-LSTM baselines.

    1. Synthetic cohort: AUC for weeks of latent depression above 0.5, with
       50, 100 and 500 labelled patients (held-out patients are tested).
    2. Depresjon: leave-one-subject-out condition vs control, subject-level
       AUC, F1 and MCC, beside the published results.

    The figures go to the model registry (an evaluation run of wearable.pat)
    and to the markdown report.
    """
    from dataclasses import replace

    from clarity.cli._wearable_data import depresjon_weeks, synthetic_weeks
    from clarity.registry import ModelRegistry, fingerprint_data
    from clarity.synth import CohortConfig, generate_cohort
    from clarity.wearable import MODEL_NAME
    from clarity.wearable.evaluation import ARMS, evaluate_label_efficiency, evaluate_loso

    settings = settings_of(ctx)
    patients = patients or (24 if quick else 900)
    days = days or 28
    sizes = sizes or ("6,12" if quick else "50,100,500")
    subjects = subjects or (12 if quick else 0)
    evaluation: EvaluationSettings = _settings(
        quick,
        pretrain_epochs or (2 if quick else 8),
        finetune_epochs or (4 if quick else 15),
        baseline_epochs or (4 if quick else 25),
        seed,
    )
    if arm:
        evaluation = replace(evaluation, arms=tuple(arm))
    started = time.perf_counter()

    def say(line: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:7.0f}s[/] {line}")

    metrics: dict[str, float] = {}
    sections: list[str] = []
    fingerprints: list[str] = []
    extra = None
    with tempfile.TemporaryDirectory() as scratch:
        if synthetic or (real and extra_weeks):
            where = cohort
            if where is None:
                where = Path(scratch) / "cohort"
                say(f"generating a synthetic cohort: {patients} patients x {days} days")
                generate_cohort(CohortConfig(patients=patients, days=days, seed=seed), where)
            weeks = synthetic_weeks(where)
            fingerprints.append(fingerprint_data(weeks.counts, weeks.labels))
            extra = weeks
        if synthetic and extra is not None:
            say(f"synthetic: {len(extra)} weeks of {len(np.unique(extra.groups))} patients")
            result = evaluate_label_efficiency(
                extra,
                sizes=[int(s) for s in sizes.split(",")],
                settings=evaluation,
                report=say,
            )
            for r in result.results:
                metrics[f"synthetic.{_key(r.arm)}.{r.labelled_patients}.auc"] = r.auc
            table, markdown = _synthetic_table(result)
            console.print(table)
            sections.append(
                "## Synthetic cohort: label efficiency\n\n"
                f"{patients} patients x {days} days; weeks labelled positive when the latent "
                f"depression averages above 0.5 (positive rate {result.positive_rate:.0%}). "
                f"{result.test_patients} patients held out for testing; PAT pretrained on the "
                f"{result.pretraining_weeks} unlabelled weeks of the training pool.\n\n" + markdown
            )
        if real:
            data = depresjon_weeks(depresjon)
            if subjects:
                chosen = _balanced(np.unique(data.groups), subjects)
                data = data.of_groups(chosen)
            fingerprints.append(fingerprint_data(data.counts, data.labels))
            say(f"Depresjon: {len(data)} weeks of {len(np.unique(data.groups))} subjects")
            if extra is not None:
                # Worn synthetic weeks only, a random subset: pretraining runs once per fold.
                worn = extra.worn(evaluation.min_wear_fraction)
                rows = np.random.default_rng(seed).permutation(len(worn))[:extra_weeks]
                extra = worn.take(np.sort(rows))
            loso = evaluate_loso(data, extra=extra, settings=evaluation, report=say)
            for m in loso.metrics:
                for name in ("auc", "f1", "mcc", "accuracy", "week_auc"):
                    metrics[f"depresjon.{_key(m.arm)}.{name}"] = getattr(m, name)
            table, markdown = _loso_table(loso)
            console.print(table)
            sections.append(
                "## Depresjon: leave one subject out\n\n"
                f"{len(loso.labels)} subjects ({sum(loso.labels.values())} with depression); "
                "a subject's probability is the mean over its weeks worn at least "
                f"{evaluation.min_wear_fraction:.0%}; threshold 0.5. Each fold's encoder is "
                f"pretrained on the other folds' weeks plus {len(extra) if extra else 0} "
                "worn synthetic weeks; every model trains for a fixed number of epochs "
                "(no early stopping).\n\n" + markdown
            )
        report = (
            "# Wearable evaluation (generated)\n\n"
            f"Command: `clarity eval wearable {' '.join(_cli_args(ctx))}`  \n"
            f"Model: PAT patch {evaluation.config.patch_size}, {evaluation.config.layers} "
            f"layer(s), {evaluation.config.heads} heads; arms: {', '.join(evaluation.arms)}  \n"
            f"Run time: {time.perf_counter() - started:.0f} s on this machine.\n\n"
            + "\n\n".join(sections)
            + "\n"
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        (out.with_suffix(".json")).write_text(json.dumps(metrics, indent=2, sort_keys=True))
        folder = Path(scratch) / "report"
        folder.mkdir()
        (folder / out.name).write_text(report)
        evaluation_run = ModelRegistry.from_settings(settings).log_evaluation(
            MODEL_NAME,
            params={
                "quick": quick,
                "patients": patients,
                "days": days,
                "sizes": sizes,
                "subjects": subjects or "all",
                "extra_weeks": extra_weeks,
                "arms": ",".join(evaluation.arms or ARMS),
                "config": json.dumps(asdict(evaluation.config)),
                "seed": seed,
            },
            metrics={k: v for k, v in metrics.items() if np.isfinite(v)},
            report_dir=folder,
            data_fingerprint=fingerprint_data(*fingerprints),
        )
    console.print(f"Report: {out}; figures in the registry, run {evaluation_run.run_id}.")


def _balanced(subjects: np.ndarray, n: int) -> list[str]:
    """Pick the first ``n`` subjects, alternating patients and controls."""
    patients = sorted((s for s in subjects if s.startswith("condition")), key=_number)
    controls = sorted((s for s in subjects if s.startswith("control")), key=_number)
    chosen: list[str] = []
    for pair in zip(patients, controls, strict=False):
        chosen.extend(pair)
    return chosen[:n]


def _number(subject: str) -> int:
    return int(subject.rsplit("_", 1)[1])


def _cli_args(ctx: typer.Context) -> list[str]:
    """List the options given that differ from their defaults, as they are typed."""
    args = []
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name is None or value == param.default or not param.opts:
            continue
        flag = param.opts[0]
        if isinstance(value, bool):
            args.append(flag if value else (param.secondary_opts or [flag])[0])
        elif isinstance(value, list | tuple):
            args.extend(f"{flag} {shlex.quote(str(v))}" for v in value)
        else:
            args.append(f"{flag} {shlex.quote(str(value))}")
    return args

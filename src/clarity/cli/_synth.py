"""``clarity synth``: write a synthetic cohort with ground truth."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from clarity.cli._app import app, console


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Directory to write the cohort to.")],
    patients: Annotated[int, typer.Option(min=1, max=100_000, help="Number of patients.")] = 100,
    days: Annotated[int, typer.Option(min=7, max=3_650, help="Days followed per patient.")] = 180,
    seed: Annotated[
        int, typer.Option(min=0, help="Seed; the same seed gives identical files.")
    ] = 0,
    start: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="First enrolment day.")
    ] = datetime(2024, 1, 1),
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes to use.")] = 2,
    force: Annotated[bool, typer.Option(help="Replace a non-empty output directory.")] = False,
) -> None:
    """Generate a synthetic cohort in real file formats, with Parquet ground truth."""
    from clarity.synth import CohortConfig, generate_cohort

    config = CohortConfig(
        patients=patients,
        days=days,
        seed=seed,
        start=date.fromordinal(start.toordinal()),
        workers=workers,
    )
    if out.exists() and any(out.iterdir()) and not force:
        raise typer.BadParameter(
            f"{out} is not empty; pass --force to replace it", param_hint="--out"
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("Simulating patients", total=patients)
        summary = generate_cohort(
            config,
            out,
            overwrite=force,
            progress=lambda done: progress.update(task, completed=done),
        )
    console.print(f"Wrote {summary.files} files for {summary.patients} patients to {summary.out}.")
    console.print("Records each ingest topic should receive:")
    for topic, count in sorted(summary.expected.items()):
        console.print(f"  {topic:<22} {count:>9,}")

"""``clarity ingest``: read files in their real formats onto the feature bus."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clarity.bus import open_bus
from clarity.cli._app import app, console, err_console, settings_of


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(help="Files or directories (a cohort directory uses its manifest)."),
    ],
    patient: Annotated[
        str | None,
        typer.Option(help="Source patient id of single-patient files (default: file name)."),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA zone of local device timestamps, e.g. Europe/Oslo.")
    ] = None,
    genome_build: Annotated[str, typer.Option(help="Genome build of PLINK files.")] = "grch38",
    show: Annotated[int, typer.Option(min=0, help="Rejection messages to print.")] = 20,
) -> None:
    """Detect each file's format, stream it onto the bus, and report what was accepted and rejected.

    Exits with status 1 when anything was rejected (the rejected items are on
    the dead-letter topic: see `clarity bus dead-letters`).
    """
    from clarity.ingest import Pseudonymizer, ingest_paths, plan

    settings = settings_of(ctx)
    targets = plan(paths, patient=patient, timezone=timezone)
    pseudonymizer = Pseudonymizer.from_file(settings.data_dir / "pseudonym.key")
    with (
        open_bus(settings) as bus,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress,
    ):
        task = progress.add_task("Ingesting files", total=len(targets))
        report = ingest_paths(
            bus,
            targets,
            pseudonymizer,
            genome_build=genome_build,
            on_file=lambda target, _: progress.advance(task),
        )
    table = Table(title="Ingest")
    for column in ("format", "files", "accepted", "already on bus", "rejected", "skipped"):
        table.add_column(column, justify="left" if column == "format" else "right")
    by_format: dict[str, list[int]] = {}
    for file in report.files:
        row = by_format.setdefault(file.format, [0, 0, 0, 0, 0])
        for i, value in enumerate((1, file.accepted, file.already, file.rejected, file.skipped)):
            row[i] += value
    for name, row in sorted(by_format.items()):
        table.add_row(name, *(f"{v:,}" for v in row))
    console.print(table)
    topics = Table(title="Records by topic (new or already on the bus)")
    topics.add_column("topic")
    topics.add_column("records", justify="right")
    for topic, count in sorted(report.by_topic().items()):
        topics.add_row(topic, f"{count:,}")
    console.print(topics)
    messages = [m for f in report.files for m in f.messages]
    for message in messages[:show]:
        err_console.print(f"[red]rejected[/] {message}")
    if len(messages) > show:
        err_console.print(f"... and {len(messages) - show} more; see `clarity bus dead-letters`.")
    if not report.ok:
        raise typer.Exit(1)

"""``clarity demo``: the main job, end to end, on a laptop.

At this stage it shows the foundation: example records of every ingest topic
are published to the embedded bus, consumed back through a consumer group, and
materialised into the feature store. Later issues add the synthetic cohort, the
services, the API and the dashboard.
"""

from __future__ import annotations

import shutil
from collections import Counter
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clarity.bus import open_bus
from clarity.cli._app import app, console, settings_of
from clarity.registry import ModelRegistry
from clarity.store import FeatureStore, materialize, open_store
from clarity.testing import example_patient_records

_BATCH = 50


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


@app.command()
def demo(
    ctx: typer.Context,
    patients: Annotated[int, typer.Option(min=1, max=10_000, help="Example patients.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the example data.")] = 0,
    reset: Annotated[
        bool, typer.Option(help="Delete the data directory first and start from nothing.")
    ] = False,
) -> None:
    """Run the demo: publish example records, consume them back, and summarise."""
    settings = settings_of(ctx)
    if reset and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    console.print(
        Panel.fit(
            f"Clarity demo: data directory [bold]{settings.data_dir.resolve()}[/]\n"
            f"bus backend [bold]{settings.bus.backend}[/], store backend "
            f"[bold]{settings.store.backend}[/], registry [bold]{settings.tracking_uri}[/]",
            title="Clarity",
        )
    )

    with _progress() as progress:
        task = progress.add_task("Generating example records", total=patients)
        records = []
        for index in range(patients):
            records.extend(example_patient_records(index, seed))
            progress.advance(task)

    published: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    with open_bus(settings) as bus:
        with _progress() as progress:
            task = progress.add_task("Publishing to the bus", total=len(records))
            for start in range(0, len(records), _BATCH):
                batch = records[start : start + _BATCH]
                for result in bus.publish_batch(batch):
                    (duplicates if result.duplicate else published)[result.topic] += 1
                progress.advance(task, len(batch))

        consumed: Counter[str] = Counter()
        with bus.subscribe("ingest.>", group="demo-summary") as consumer:
            lag = consumer.lag()
            with _progress() as progress:
                task = progress.add_task("Consuming as group 'demo-summary'", total=lag)
                for delivery in consumer:
                    consumed[delivery.topic] += 1
                    progress.advance(task)
            consumer.commit()

        store = open_store(settings)
        try:
            report = materialize(bus, store, group="demo-feature-store")
            table = _topic_table(bus.topics(), published, duplicates, consumed)
            patient_table = _patient_table(store, limit=8)
        finally:
            store.close()

    console.print(table)
    console.print(
        f"Feature store: {report.consumed} records read, {report.written} new values written, "
        f"{report.rejected} rejected."
    )
    console.print(patient_table)
    models = ModelRegistry.from_settings(settings).models()
    console.print(f"Model registry: {len(models)} registered model(s) at {settings.tracking_uri}.")
    console.print(
        "\nRun [bold]make demo[/] again: every record is already in the log, so publishing "
        "is a no-op and the consumer group has nothing new to read. "
        "Try [bold].venv/bin/clarity bus topics[/] or "
        "[bold].venv/bin/clarity bus tail ingest.mood[/]."
    )


def _topic_table(
    totals: dict[str, int],
    published: Counter[str],
    duplicates: Counter[str],
    consumed: Counter[str],
) -> Table:
    table = Table(title="Feature bus, by topic")
    table.add_column("topic", no_wrap=True)
    for column in ("new", "already in log", "consumed", "in log"):
        table.add_column(column, justify="right")
    for topic in sorted(totals):
        table.add_row(
            topic,
            str(published[topic]),
            str(duplicates[topic]),
            str(consumed[topic]),
            str(totals[topic]),
        )
    return table


def _patient_table(store: FeatureStore, *, limit: int) -> Table:
    table = Table(title="Latest features in the store (first patients)")
    columns = (
        "phq9.total",
        "gad7.total",
        "mood.mood",
        "mood.sleep_hours",
        "actigraphy.wear_fraction",
    )
    headers = ("PHQ-9", "GAD-7", "mood", "sleep h", "wear")
    table.add_column("patient", no_wrap=True)
    for header in headers:
        table.add_column(header, justify="right")
    for patient in store.patients()[:limit]:
        latest = store.latest(patient, columns)
        table.add_row(patient, *(str(latest[c].value) if c in latest else "-" for c in columns))
    return table

"""``clarity demo``: the main job, end to end, on a laptop.

It generates a synthetic cohort in real file formats, ingests it through the
real readers onto the embedded bus, consumes the records back through a
consumer group, fills the feature store, runs the services (wearable, notes,
PGx, genotype) and serves the API and the dashboard.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from clarity.bus import open_bus
from clarity.cli._app import app, console, settings_of
from clarity.config import Settings
from clarity.registry import ModelRegistry
from clarity.store import FeatureStore, materialize, open_store


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
    patients: Annotated[int, typer.Option(min=1, max=10_000, help="Synthetic patients.")] = 20,
    days: Annotated[int, typer.Option(min=7, max=3_650, help="Days followed per patient.")] = 90,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic cohort.")] = 0,
    reset: Annotated[
        bool, typer.Option(help="Delete the data directory first and start from nothing.")
    ] = False,
    serve: Annotated[
        bool, typer.Option(help="End by serving the API and dashboard until Ctrl-C.")
    ] = True,
    wearable: Annotated[
        bool, typer.Option(help="Train PAT on the cohort's actigraphy and run the service.")
    ] = True,
    pgx: Annotated[
        bool,
        typer.Option(help="Call pharmacogenes, train the response model and publish guidance."),
    ] = True,
    notes: Annotated[
        bool,
        typer.Option(
            help="Find crisis language, redact PHI and draft cited summaries of the notes."
        ),
    ] = True,
    genotype: Annotated[
        bool,
        typer.Option(
            help="Train per-trait genetic risk models on the reference panel and score patients."
        ),
    ] = True,
    pgx_training_patients: Annotated[
        int,
        typer.Option(min=20, max=100_000, help="Synthetic patients to train the response model."),
    ] = 300,
) -> None:
    """Run the demo: generate a cohort, ingest it, summarise, then serve the API and dashboard."""
    from clarity.ingest import Pseudonymizer, ingest_paths, plan
    from clarity.synth import CohortConfig, generate_cohort

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
    config = CohortConfig(patients=patients, days=days, seed=seed)
    cohort = settings.data_dir / "cohort"
    manifest = cohort / "manifest.json"
    wanted = json.loads(config.model_dump_json(exclude={"workers"}))
    if manifest.is_file() and json.loads(manifest.read_text())["config"] == wanted:
        console.print(f"Synthetic cohort already in {cohort} (same settings); reusing it.")
    else:
        with _progress() as progress:
            task = progress.add_task("Generating the synthetic cohort", total=patients)
            generate_cohort(
                config,
                cohort,
                overwrite=True,
                progress=lambda n: progress.update(task, completed=n),
            )

    targets = plan([cohort])
    pseudonymizer = Pseudonymizer.from_file(settings.data_dir / "pseudonym.key")
    with open_bus(settings) as bus:
        with _progress() as progress:
            task = progress.add_task("Ingesting files through the real readers", total=len(targets))
            report = ingest_paths(
                bus, targets, pseudonymizer, on_file=lambda target, _: progress.advance(task)
            )

        consumed: Counter[str] = Counter()
        with bus.subscribe("ingest.>", group="demo-summary") as consumer:
            with _progress() as progress:
                task = progress.add_task("Consuming as group 'demo-summary'", total=consumer.lag())
                for delivery in consumer:
                    consumed[delivery.topic] += 1
                    progress.advance(task)
            consumer.commit()

        store = open_store(settings)
        try:
            stored = materialize(bus, store, group="demo-feature-store")
            topic_table = _topic_table(bus.topics(), report.by_topic(), consumed)
        finally:
            store.close()

    console.print(topic_table)
    console.print(
        f"Ingest: {report.accepted:,} new records, {report.already:,} already on the bus, "
        f"{report.rejected:,} rejected (see `clarity bus dead-letters`)."
    )
    console.print(
        f"Feature store: {stored.consumed:,} records read, {stored.written:,} new values written."
    )
    if wearable:
        _run_wearable(settings)
    if notes:
        from clarity.cli._notes import run_service as run_notes

        done = run_notes(settings)
        console.print(
            f"Notes service: {done.notes:,} notes read, {done.alerts:,} crisis alerts, "
            f"{done.redacted:,} redacted (PHI replaced, dates shifted per patient), "
            f"{done.summaries:,} fact-checked summaries."
        )
    if pgx:
        _run_pgx(settings, cohort, pgx_training_patients)
    if genotype:
        _run_genotype(settings, cohort)
    store = open_store(settings)
    try:
        with open_bus(settings) as bus:
            # The services' outputs join the store, so a second run reads nothing new.
            materialize(bus, store, group="demo-feature-store")
        console.print(_patient_table(store, limit=8))
    finally:
        store.close()
    models = ModelRegistry.from_settings(settings).models()
    console.print(f"Model registry: {len(models)} registered model(s) at {settings.tracking_uri}.")
    console.print(
        f"\nThe cohort's files and ground truth are in {cohort}. Run [bold]make demo[/] again: "
        "every record is already on the bus, so ingest adds nothing. Try "
        "[bold].venv/bin/clarity bus tail ingest.note[/] or "
        "[bold].venv/bin/clarity bus topics[/]."
    )
    logins = _demo_users(settings)
    console.print(Panel.fit("\n".join(logins), title="Demo logins (local demo only)"))
    if serve:
        from clarity.cli._serve import serve_api_and_dashboard

        serve_api_and_dashboard(settings)


def _run_wearable(settings: Settings) -> None:
    """Train (or reuse) PAT, score every week, explain each shown patient's latest weeks."""
    from clarity.cli._wearable import run_service, train_and_register
    from clarity.contracts import WearableDailyRisk
    from clarity.wearable import request_explanation

    console.print(
        "Wearable service: PAT-S pretrained on the cohort's actigraphy (masked autoencoder), "
        "fine-tuned on PHQ-9 >= 10 and poor self-reported sleep"
    )
    try:
        version, metrics = train_and_register(
            settings,
            pretrain_epochs=8,
            finetune_epochs=15,
            reuse=True,
            say=lambda line: console.print(f"  {line}"),
        )
    except ValueError as error:
        console.print(f"  [yellow]skipped[/]: {error}")
        return
    shown = ", ".join(
        f"{k.removesuffix('.held_out_auc')} {v:.2f}"
        for k, v in sorted(metrics.items())
        if k.endswith("held_out_auc")
    )
    console.print(
        f"  {version.name} v{version.version}; held-out AUC: {shown or 'n/a'} "
        "(see `clarity registry show wearable.pat`)"
    )
    scored = run_service(settings)
    explain: dict[str, list[datetime]] = {}
    with open_bus(settings) as bus:
        for delivery in bus.replay("wearable.daily_risk"):
            payload = delivery.record.payload
            # Scored windows; each patient's latest, and the one a week before, are explained.
            if isinstance(payload, WearableDailyRisk) and payload.risks:
                explain.setdefault(delivery.record.patient_id, []).append(payload.window_end)
        store = open_store(settings)
        try:
            shown_patients = store.patients()[:10]
        finally:
            store.close()
        for patient in shown_patients:
            for end in sorted(set(explain.get(patient, [])))[-8::7]:  # the latest two weeks
                request_explanation(bus, patient, end, requested_by="demo")
    explained = run_service(settings)
    console.print(
        f"  {scored.days + explained.days:,} daily risks published "
        f"({scored.unscored + explained.unscored:,} unscored for too little wear); "
        f"{explained.explained:,} attention maps for the clinician's patients."
    )


def _run_pgx(settings: Settings, cohort: Path, training_patients: int) -> None:
    """Train (or reuse) the response model, then publish phenotypes and guidance."""
    from clarity.cli._pgx import RESPONSE_MODEL, run_service, train_and_register

    console.print(
        "PGx service: PharmCAT-style star-allele calls from the cohort's VCF, lab panels, "
        "phenoconversion by current medications, CPIC guidance"
    )
    registry = ModelRegistry.from_settings(settings)
    if RESPONSE_MODEL not in registry.models():
        # The demo cohort is too small to learn from; a larger synthetic training cohort
        # (written once, beside it) keeps the model's held-out figures meaningful.
        from clarity.synth import CohortConfig, generate_cohort

        training = settings.data_dir / "pgx-training-cohort"
        if not (training / "manifest.json").is_file():
            with _progress() as progress:
                task = progress.add_task(
                    "Generating the response model's training cohort", total=300
                )
                generate_cohort(
                    CohortConfig(patients=300, days=112, seed=7, ecg_seconds=5),
                    training,
                    overwrite=True,
                    progress=lambda n: progress.update(task, completed=n),
                )
        try:
            version, metrics = train_and_register(settings, training)
            auc = metrics.get("adverse_event_auc_model", float("nan"))
            prior = metrics.get("adverse_event_auc_prior", float("nan"))
            console.print(
                f"  {RESPONSE_MODEL} v{version.version} (research-grade, synthetic): held-out "
                f"adverse-event AUC {auc:.2f} vs population prior {prior:.2f}"
            )
        except (ValueError, KeyError) as error:
            console.print(f"  [yellow]response model skipped[/]: {error}")
    report = run_service(settings)
    console.print(
        f"  {report.patients:,} patients: {report.phenotypes:,} gene results and "
        f"{report.guidance:,} drug guidance records published; {report.rejected:,} rejected."
    )


def _run_genotype(settings: Settings, cohort: Path) -> None:
    """Train (or reuse) the panel on the cohort's reference panel, then score every patient."""
    from clarity.cli._genotype import metrics_table, run_service, train_and_register
    from clarity.errors import InputError

    console.print(
        "Genotype service: sequential tree-based SNP selection, XGBoost per trait on the "
        "selected SNPs and principal components, against a linear polygenic score; trained "
        "on the cohort's reference panel (not patients)"
    )
    genotypes = cohort / "genotypes"
    try:
        version, panel = train_and_register(
            settings,
            genotypes / "reference.bed",
            genotypes / "phenotypes.tsv",
            n_bootstrap=20,
            reuse=True,
            say=lambda line: console.print(f"  {line}"),
        )
    except (InputError, ValueError) as error:
        console.print(f"  [yellow]skipped[/]: {error}")
        return
    console.print(metrics_table(panel))
    report = run_service(settings)
    console.print(
        f"  genotype.traits v{version.version}: {report.patients:,} patients scored, "
        f"{report.risks:,} trait risks published ({report.unscored:,} not scored); "
        f"{report.rejected:,} call sets rejected."
    )


def _demo_users(settings: Settings) -> list[str]:
    """Create the demo's users (idempotent) and describe how to sign in."""
    from clarity.cli._serve import DEMO_PASSWORD
    from clarity.security import AccessStore

    access = AccessStore(settings.data_dir / "access.sqlite3")
    store = open_store(settings)
    try:
        patients = store.patients()
    finally:
        store.close()
    for name, role in (
        ("admin", "admin"),
        ("clinician", "clinician"),
        ("researcher", "researcher"),
    ):
        access.add_user(name, role, password=DEMO_PASSWORD)
    for patient in patients[:10]:
        access.assign("clinician", patient)
    access.close()
    return [
        f"clinician  / {DEMO_PASSWORD!r}  sees {min(10, len(patients))} patients",
        f"admin      / {DEMO_PASSWORD!r}  sees everyone, may ingest",
        f"researcher / {DEMO_PASSWORD!r}  pseudonymised cohort data only",
    ]


def _topic_table(totals: dict[str, int], ingested: dict[str, int], consumed: Counter[str]) -> Table:
    table = Table(title="Feature bus, by topic")
    table.add_column("topic", no_wrap=True)
    for column in ("ingested now", "consumed now", "in log"):
        table.add_column(column, justify="right")
    for topic in sorted(totals):
        table.add_row(
            topic,
            f"{ingested.get(topic, 0):,}",
            f"{consumed[topic]:,}",
            f"{totals[topic]:,}",
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
        "wearable.depression.risk",
        "wearable.poor_sleep.risk",
        "genotype.depression_liability.percentile",
    )
    headers = ("PHQ-9", "GAD-7", "mood", "sleep h", "wear", "PAT dep.", "PAT sleep", "gen. %ile")
    table.add_column("patient (pseudonym)", no_wrap=True)
    for header in headers:
        table.add_column(header, justify="right")
    for patient in store.patients()[:limit]:
        latest = store.latest(patient, columns)
        table.add_row(patient, *(_shown(latest[c].value) if c in latest else "-" for c in columns))
    return table


def _shown(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)

"""``clarity wearable``: train, serve and explain the PAT wearable model."""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from clarity.bus import open_bus
from clarity.cli._app import app, console, err_console, settings_of
from clarity.cli._services import service_context
from clarity.config import Settings

if TYPE_CHECKING:
    from clarity.registry import ModelVersion
    from clarity.wearable import ServiceReport

log = logging.getLogger(__name__)

wearable_app = typer.Typer(
    help="The wearable service: PAT risk and attention maps from actigraphy.",
    no_args_is_help=True,
)
app.add_typer(wearable_app, name="wearable")

Say = Callable[[str], None]


def train_and_register(
    settings: Settings,
    *,
    size: str = "S",
    pretrain_epochs: int = 20,
    finetune_epochs: int = 30,
    heads: tuple[str, ...] = ("depression", "poor_sleep"),
    keras_weights: Path | None = None,
    alias: str = "production",
    onnx: bool = True,
    seed: int = 0,
    reuse: bool = False,
    say: Say | None = None,
) -> tuple[ModelVersion, dict[str, float]]:
    """Train the wearable model on what the bus holds and register it.

    Parameters
    ----------
    settings
        Where the bus and the registry are.
    size
        PAT size, ``S``, ``M`` or ``L``.
    pretrain_epochs, finetune_epochs
        Budgets (at most; early stopping may end sooner).
    heads
        Heads to train.
    keras_weights
        Official PAT weights to start from instead of pretraining here.
    alias
        Alias to point at the new version.
    onnx
        Export the heads to ONNX for serving.
    seed
        Seed of the split and the models.
    reuse
        Keep the version under ``alias`` when it was trained on exactly the
        same records (the data fingerprint matches) instead of training again.
    say
        Progress lines.

    Returns
    -------
    tuple
        The registered version and its metrics.
    """
    from clarity.errors import RegistryError
    from clarity.registry import ModelRegistry, fingerprint_data
    from clarity.security import AccessStore, category_of
    from clarity.wearable import (
        MODEL_NAME,
        FinetuneSettings,
        PATConfig,
        PATEncoder,
        PretrainSettings,
        TrainSettings,
        infer_config,
        load_keras_weights,
        read_keras_h5,
        train_wearable_model,
        training_weeks_from_bus,
    )

    config = PATConfig.size(size)
    encoder = None
    if keras_weights is not None:
        config = infer_config(read_keras_h5(keras_weights))
        loaded = load_keras_weights(PATEncoder(config), keras_weights)
        assert isinstance(loaded, PATEncoder)
        encoder = loaded
    access = AccessStore(
        settings.data_dir / "access.sqlite3", consent_default=settings.security.consent_default
    )
    try:
        with open_bus(settings) as bus:
            # Only what each patient consented to: their wearable data and their reports.
            data = training_weeks_from_bus(
                bus, heads, allowed=lambda p, t: access.allowed(p, category_of(t))
            )
    finally:
        access.close()
    registry = ModelRegistry.from_settings(settings)
    fingerprint = fingerprint_data(*data.event_ids)
    if reuse and MODEL_NAME in registry.models():
        try:
            current = registry.get(MODEL_NAME, alias=alias)
        except RegistryError:
            current = None
        if current is not None and current.data_fingerprint == fingerprint:
            if say is not None:
                say(f"{MODEL_NAME} v{current.version} was trained on these records; reusing it")
            return current, dict(current.metrics)
    train_settings = TrainSettings(
        config=config,
        pretraining=PretrainSettings(epochs=pretrain_epochs, seed=seed),
        finetuning=FinetuneSettings(epochs=finetune_epochs, seed=seed),
        seed=seed,
    )
    model, metrics = train_wearable_model(
        data, train_settings, heads=heads, encoder=encoder, report=say
    )
    with tempfile.TemporaryDirectory() as scratch:
        model.save(Path(scratch) / "model", onnx=onnx)
        version = registry.register(
            MODEL_NAME,
            Path(scratch) / "model",
            params={
                "size": size,
                "patch_size": config.patch_size,
                "layers": config.layers,
                "heads": ",".join(model.heads),
                "pretrain_epochs": pretrain_epochs,
                "finetune_epochs": finetune_epochs,
                "min_wear_fraction": model.min_wear_fraction,
                "start": "keras weights" if keras_weights else "pretrained here",
                "seed": seed,
            },
            metrics=metrics,
            data_fingerprint=fingerprint,
            alias=alias,
            description="PAT (Ruan et al. 2024) fine-tuned per head on this site's actigraphy.",
        )
    return version, metrics


def run_service(settings: Settings, *, alias: str = "production") -> ServiceReport:
    """Run the wearable service over new bus records, then bring the store up to date.

    Parameters
    ----------
    settings
        Where everything is.
    alias
        The model version to serve.

    Returns
    -------
    ServiceReport
        What the run did.
    """
    from clarity.registry import ModelRegistry
    from clarity.wearable import WearableService

    with service_context(settings) as (bus, store, allowed):
        service = WearableService.from_registry(
            ModelRegistry.from_settings(settings), alias=alias, store=store, allowed=allowed
        )
        report = service.run(bus)
    return report


def serve_forever(settings: Settings, stop: threading.Event, *, interval: float = 5.0) -> None:
    """Run the wearable service every few seconds until ``stop`` is set (a background worker).

    It answers the explanation requests clinicians make in the dashboard and
    scores new actigraphy. Until a model is registered it waits; an error in
    one pass is logged and the next pass tries again.

    Parameters
    ----------
    settings
        Where everything is.
    stop
        Set to end the loop.
    interval
        Seconds between passes.
    """
    from clarity.errors import ClarityError, RegistryError
    from clarity.registry import ModelRegistry
    from clarity.store import materialize
    from clarity.wearable import MODEL_NAME, WearableService

    service: WearableService | None = None
    with service_context(settings) as (bus, store, allowed):
        while not stop.is_set():
            try:
                registry = ModelRegistry.from_settings(settings)
                current = str(registry.get(MODEL_NAME, alias="production").version)
                if service is None or service.producer.model_version != current:
                    # A newly promoted version takes over without a restart.
                    service = WearableService.from_registry(registry, store=store, allowed=allowed)
                materialize(bus, store, group="services-history")
                report = service.run(bus)
                if report.weeks or report.explained or report.rejected:
                    materialize(bus, store, group="services-history")
                    log.info("wearable worker: %s", report)
            except RegistryError:
                pass  # no model registered yet
            except (ClarityError, OSError, ValueError) as error:
                log.warning("wearable worker pass failed: %s", error)
            except Exception:  # the worker must outlive any one pass
                log.exception("wearable worker pass failed")
            stop.wait(interval)


def _print_report(report: ServiceReport) -> None:
    console.print(
        f"Wearable service: {report.weeks:,} weeks read, {report.days:,} daily risks published "
        f"({report.unscored:,} with too little wear), {report.explained:,} attention maps, "
        f"{report.rejected:,} requests rejected, {report.skipped:,} skipped without consent."
    )


@wearable_app.command("train")
def train(
    ctx: typer.Context,
    size: Annotated[str, typer.Option(help="PAT size: S, M or L.")] = "S",
    pretrain_epochs: Annotated[int, typer.Option(min=1, help="Pretraining epochs (at most).")] = 20,
    finetune_epochs: Annotated[int, typer.Option(min=1, help="Fine-tuning epochs (at most).")] = 30,
    head: Annotated[
        list[str] | None, typer.Option(help="Heads to train (repeat): depression, poor_sleep.")
    ] = None,
    keras_weights: Annotated[
        Path | None,
        typer.Option(help="Official PAT .h5 weights to start from (skips pretraining)."),
    ] = None,
    alias: Annotated[str, typer.Option(help="Alias for the new version.")] = "production",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Pretrain and fine-tune PAT on the bus's actigraphy and reports; register the model."""
    version, metrics = train_and_register(
        settings_of(ctx),
        size=size.upper(),
        pretrain_epochs=pretrain_epochs,
        finetune_epochs=finetune_epochs,
        heads=tuple(head or ("depression", "poor_sleep")),
        keras_weights=keras_weights,
        alias=alias,
        seed=seed,
        say=lambda line: console.print(line),
    )
    table = Table(title=f"{version.name} v{version.version} ({alias})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in sorted(metrics.items()):
        table.add_row(key, f"{value:.4g}")
    console.print(table)


@wearable_app.command("run")
def run(
    ctx: typer.Context,
    alias: Annotated[str, typer.Option(help="Model version to serve.")] = "production",
) -> None:
    """Score new actigraphy weeks and answer explanation requests (one pass over the bus)."""
    _print_report(run_service(settings_of(ctx), alias=alias))


@wearable_app.command("explain")
def explain(
    ctx: typer.Context,
    patient: Annotated[str, typer.Argument(help="Patient id (pseudonym).")],
    window_end: Annotated[
        datetime | None,
        typer.Option(help="End of the 7-day window (with offset); default: the latest scored."),
    ] = None,
    head: Annotated[str, typer.Option(help="Head to explain.")] = "depression",
) -> None:
    """Ask for the attention map of one window, then run the service to answer it."""
    from clarity.contracts import WearableDailyRisk
    from clarity.registry import ModelRegistry
    from clarity.wearable import MODEL_NAME, request_explanation

    settings = settings_of(ctx)
    with open_bus(settings) as bus:
        if window_end is None:
            ends = [
                d.record.payload.window_end
                for d in bus.replay("wearable.daily_risk")
                if d.record.patient_id == patient
                and isinstance(d.record.payload, WearableDailyRisk)
                and d.record.payload.risks
            ]
            if not ends:
                err_console.print(f"[red]✗[/] no scored window for {patient}; run the service")
                raise typer.Exit(1)
            window_end = max(ends)
        production = ModelRegistry.from_settings(settings).get(MODEL_NAME, alias="production")
        request_explanation(
            bus,
            patient,
            window_end,
            head=head,
            requested_by="cli",
            model_version=str(production.version),
        )
    _print_report(run_service(settings))

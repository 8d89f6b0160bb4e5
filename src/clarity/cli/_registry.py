"""``clarity registry``: list and inspect registered models."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from clarity.cli._app import app, console, settings_of
from clarity.registry import ModelRegistry

registry_app = typer.Typer(help="Inspect the model registry.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")


@registry_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """List registered models with their newest version and aliases."""
    registry = ModelRegistry.from_settings(settings_of(ctx))
    table = Table(title=f"Models in {registry.tracking_uri}")
    for column in ("model", "newest version", "aliases"):
        table.add_column(column)
    for name in registry.models():
        newest = registry.get(name)
        table.add_row(name, str(newest.version), ", ".join(newest.aliases) or "-")
    console.print(table)


@registry_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Option(help="Version number.")] = None,
    alias: Annotated[str | None, typer.Option(help="Alias, e.g. 'production'.")] = None,
) -> None:
    """Show one version's lineage: run, data fingerprint, parameters and metrics."""
    found = ModelRegistry.from_settings(settings_of(ctx)).get(name, version=version, alias=alias)
    table = Table(title=f"{found.name} v{found.version}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = {
        "run": found.run_id,
        "source": found.source,
        "data fingerprint": found.data_fingerprint,
        "code version": found.code_version,
        "aliases": ", ".join(found.aliases) or "-",
        **{f"param {k}": v for k, v in sorted(found.params.items())},
        **{f"metric {k}": f"{v:.4g}" for k, v in sorted(found.metrics.items())},
    }
    for key, value in rows.items():
        table.add_row(key, value)
    console.print(table)

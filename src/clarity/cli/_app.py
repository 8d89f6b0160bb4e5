"""The ``clarity`` command: one typer app, a sub-app per area."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from clarity._version_info import __version__
from clarity.config import Settings
from clarity.errors import ClarityError

__all__ = ["app", "console", "main", "settings_of"]

console = Console()
# soft_wrap: an error stays one line (grep-able, as main() promises) whatever the path length.
err_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="clarity",
    help="Clarity: a mental-health digital twin platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"clarity {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML settings file (default: $CLARITY_CONFIG or ./clarity.toml).",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Override the data directory.")
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Clarity: a mental-health digital twin platform."""
    overrides = {"data_dir": data_dir} if data_dir is not None else {}
    ctx.obj = Settings.load(config, **overrides)


def settings_of(ctx: typer.Context) -> Settings:
    """Return the settings loaded by the root command."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def main() -> None:
    """Run the ``clarity`` command; Clarity errors print one line and exit with 1."""
    # MLflow logs its database migrations at INFO on first use; keep the CLI readable.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        app()
    except ClarityError as error:
        err_console.print(f"[bold red]error:[/] {error}")
        raise SystemExit(1) from None

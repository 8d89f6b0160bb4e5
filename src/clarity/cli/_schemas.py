"""``clarity schemas``: generate, check and release the contract's schema files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clarity.cli._app import app, console, err_console
from clarity.contracts import (
    check_compatibility,
    check_schema_files,
    release_schemas,
    write_schema_files,
)


@app.command()
def schemas(
    directory: Annotated[Path, typer.Option("--dir", help="Schema root of the repository.")] = Path(
        "schemas"
    ),
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; fail when the files differ from the contract or break "
            "compatibility with the released schemas.",
        ),
    ] = False,
    release: Annotated[
        bool,
        typer.Option("--release", help="Make the current Avro schemas the released baseline."),
    ] = False,
) -> None:
    """Generate the Avro and JSON schemas of every topic from the contract."""
    if check and release:
        raise typer.BadParameter("use --check or --release, not both")
    if check:
        problems = [*check_schema_files(directory), *check_compatibility(directory)]
        for problem in problems:
            err_console.print(f"[red]✗[/] {problem}")
        if problems:
            raise typer.Exit(1)
        console.print(f"[green]✓[/] schemas in {directory} match the contract and stay compatible")
        return
    if release:
        released = release_schemas(directory)
        console.print(f"released {len(released)} Avro schemas to {directory / 'released' / 'avro'}")
        return
    written = write_schema_files(directory)
    console.print(f"wrote {len(written)} schema files to {directory}")
    for problem in check_compatibility(directory):
        err_console.print(f"[yellow]warning:[/] {problem}")

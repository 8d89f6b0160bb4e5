"""``clarity notes``: crisis alerts and PHI redaction over the bus's notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from clarity.cli._app import app, console, settings_of
from clarity.cli._services import service_context
from clarity.config import Settings

if TYPE_CHECKING:
    from clarity.notes import NotesServiceReport

notes_app = typer.Typer(
    help="The notes service: crisis alerts and PHI redaction.", no_args_is_help=True
)
app.add_typer(notes_app, name="notes")


def run_service(settings: Settings) -> NotesServiceReport:
    """Run the notes service over new notes, then bring the store up to date.

    The redaction key (which shifts each patient's dates) is kept in
    ``<data_dir>/notes.key``, created on first use.
    """
    from clarity.notes import NotesService, PhiRedactor

    with service_context(settings) as (bus, _store, allowed):
        redactor = PhiRedactor.from_key_file(settings.data_dir / "notes.key")
        report = NotesService(redactor, allowed=allowed).run(bus)
    return report


@notes_app.command("run")
def run(ctx: typer.Context) -> None:
    """Publish crisis alerts and redacted notes for every new note."""
    report = run_service(settings_of(ctx))
    console.print(
        f"read {report.notes} notes: {report.alerts} crisis alerts, {report.redacted} redacted; "
        f"{report.rejected} rejected, {report.skipped} skipped (no consent)"
    )

"""``clarity notes``: crisis alerts and PHI redaction over the bus's notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from clarity.bus import open_bus
from clarity.cli._app import app, console, settings_of
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
    from clarity.security import AccessStore, category_of
    from clarity.store import materialize, open_store

    access = AccessStore(
        settings.data_dir / "access.sqlite3", consent_default=settings.security.consent_default
    )
    store = open_store(settings)
    try:
        with open_bus(settings) as bus:
            service = NotesService(
                PhiRedactor.from_key_file(settings.data_dir / "notes.key"),
                allowed=lambda patient, topic: access.allowed(patient, category_of(topic)),
            )
            report = service.run(bus)
            materialize(bus, store, group="notes-history")
    finally:
        store.close()
        access.close()
    return report


@notes_app.command("run")
def run(ctx: typer.Context) -> None:
    """Publish crisis alerts and redacted notes for every new note."""
    report = run_service(settings_of(ctx))
    console.print(
        f"read {report.notes} notes: {report.alerts} crisis alerts, {report.redacted} redacted; "
        f"{report.rejected} rejected, {report.skipped} skipped (no consent)"
    )

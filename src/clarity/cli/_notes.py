"""``clarity notes``: crisis alerts, PHI redaction and summaries over the bus's notes."""

from __future__ import annotations

import getpass
import json
import uuid
from contextlib import ExitStack
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clarity.cli._app import app, console, settings_of
from clarity.cli._services import service_context
from clarity.config import Settings

if TYPE_CHECKING:
    from clarity.notes import NotesServiceReport, NotesSummariser

notes_app = typer.Typer(
    help="The notes service: crisis alerts, PHI redaction and cited summaries.",
    no_args_is_help=True,
)
app.add_typer(notes_app, name="notes")


def summariser_of(
    settings: Settings,
    stack: ExitStack,
    *,
    backend: str | None = None,
    options: dict[str, Any] | None = None,
) -> NotesSummariser:
    """Build the summariser the settings describe; the stack closes its index.

    Parameters
    ----------
    settings
        Settings; ``[notes]`` chooses the backend, its options and the index.
    stack
        Closes the note index when the caller is done.
    backend, options
        Override the configured backend and its options.
    """
    from clarity.notes import NotesSummariser, make_backend

    config = settings.notes
    name = backend or config.backend
    chosen = make_backend(
        name, **(options if options is not None else config.backend_options if not backend else {})
    )
    if not config.retrieval:
        return NotesSummariser(chosen, window_days=config.window_days)
    from clarity.notes import PostgresNoteIndex, SqliteNoteIndex, load_embedder

    embedder = load_embedder()
    index: SqliteNoteIndex | PostgresNoteIndex
    if config.index == "postgres":
        if "dsn" not in config.index_options:
            raise typer.BadParameter("notes.index = 'postgres' needs notes.index_options.dsn")
        index = PostgresNoteIndex(config.index_options["dsn"], embedder)
    else:
        path = config.index_options.get("path") or settings.data_dir / "notes_index.sqlite3"
        index = SqliteNoteIndex(path, embedder)
    stack.callback(index.close)
    return NotesSummariser(chosen, index=index, encoder=embedder, window_days=config.window_days)


def run_service(settings: Settings) -> NotesServiceReport:
    """Run the notes service over new notes, then bring the store up to date.

    The redaction key (which shifts each patient's dates) is kept in
    ``<data_dir>/notes.key``, created on first use.
    """
    from clarity.notes import NotesService, PhiRedactor

    with service_context(settings) as (bus, store, allowed), ExitStack() as stack:
        redactor = PhiRedactor.from_key_file(settings.data_dir / "notes.key")
        summariser = summariser_of(settings, stack) if settings.notes.summarise else None
        service = NotesService(redactor, allowed=allowed, summariser=summariser, store=store)
        report = service.run(bus)
    return report


@notes_app.command("run")
def run(ctx: typer.Context) -> None:
    """Publish crisis alerts, redacted notes and summaries for every new note."""
    report = run_service(settings_of(ctx))
    console.print(
        f"read {report.notes} notes: {report.alerts} crisis alerts, {report.redacted} redacted, "
        f"{report.summaries} summaries; {report.rejected} rejected, {report.skipped} skipped "
        f"(no consent), {report.summary_failures} summaries failed"
    )


def _options(pairs: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--option takes KEY=VALUE; got {pair!r}")
        try:
            options[key] = json.loads(value)  # numbers and booleans
        except json.JSONDecodeError:
            options[key] = value
    return options


@notes_app.command("summarise")
def summarise_command(
    ctx: typer.Context,
    patient_id: Annotated[str, typer.Argument(help="The patient's pseudonymous id.")],
    since: Annotated[
        str | None,
        typer.Option(help="First day of the window (YYYY-MM-DD); default: the configured window."),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="extractive, transformers, openai or llama-cpp (default: config)."),
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(help="Backend option KEY=VALUE, e.g. base_url=http://127.0.0.1:8001."),
    ] = None,
    publish: Annotated[bool, typer.Option(help="Publish the summary as notes.summary.")] = True,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the notes.summary payload as JSON.")
    ] = False,
) -> None:
    """Draft a cited, fact-checked summary of one patient's notes since a date."""
    from clarity.security import AuditEntry, AuditLog

    settings = settings_of(ctx)
    try:
        start = date.fromisoformat(since) if since else None
    except ValueError:
        raise typer.BadParameter(f"--since must be YYYY-MM-DD; got {since!r}") from None
    audit = AuditLog(settings.data_dir / "audit.sqlite3")
    outcome = "error"
    try:
        with service_context(settings) as (bus, store, allowed), ExitStack() as stack:
            if not allowed(patient_id, "notes.summary"):
                outcome = "denied: no consent"
                console.print(f"[red]No consent to process notes of {patient_id}.[/]")
                raise typer.Exit(1)
            from clarity.contracts import Envelope

            rows = store.timeline(patient_id, topics=["notes.phi_report"], limit=100_000)
            reports = [Envelope.model_validate(dict(r.record)) for r in rows]
            if not reports:
                outcome = "not found"
                console.print(
                    f"[red]No redacted notes for {patient_id}: run `clarity notes run` first.[/]"
                )
                raise typer.Exit(1)
            chosen = summariser_of(
                settings, stack, backend=backend, options=_options(option) if option else None
            )
            try:
                summary, inputs = chosen.summarise(patient_id, reports, since=start)
            except ValueError as error:
                outcome = "empty window"
                console.print(f"[red]{error}[/]")
                raise typer.Exit(1) from None
            record = chosen.envelope(patient_id, summary, inputs)
            if publish:
                bus.publish(record)
            outcome = "ok"
    finally:
        audit.append(
            AuditEntry(
                actor=getpass.getuser(),
                role="operator",
                patient_id=patient_id,
                action="read",
                resource=f"cli:notes summarise since={since} backend={backend or 'config'}",
                request_id=str(uuid.uuid4()),
                outcome=outcome,
            )
        )
        audit.close()
    if as_json:
        console.print_json(record.payload.model_dump_json())
        return
    console.print(
        f"[bold]Summary of {len(summary.notes)} notes[/] ({summary.backend}, "
        f"{summary.model_version}); {summary.drafted} sentences drafted, "
        f"{len(summary.dropped)} dropped by the fact check, {summary.added_risk} risk sentences "
        "restored"
    )
    for heading in summary.sections:
        console.print(f"\n[bold]{heading}[/]")
        for claim in summary.sections[heading]:
            cites = ", ".join(f"{c.note_id}[{c.start}:{c.end}]" for c in claim.citations)
            console.print(f"  {claim.text} [dim]({cites})[/]", highlight=False)
    for verdict in summary.dropped:
        console.print(f"[yellow]dropped:[/] {verdict.claim.text!r}: {'; '.join(verdict.reasons)}")

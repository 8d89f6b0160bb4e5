"""``clarity users`` and ``clarity audit``: the local issuer, roles, and the audit trail."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from clarity.cli._app import app, console, err_console, settings_of
from clarity.security import AccessStore, AuditLog, Role, TokenService

users_app = typer.Typer(help="Manage users of the embedded issuer.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the audit log.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")


def _access(ctx: typer.Context) -> AccessStore:
    settings = settings_of(ctx)
    return AccessStore(
        settings.data_dir / "access.sqlite3", consent_default=settings.security.consent_default
    )


@users_app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name, lower case.")],
    role: Annotated[Role, typer.Option(help="admin, clinician, patient or researcher.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 12 characters."
        ),
    ],
    patient: Annotated[
        str | None, typer.Option(help="A patient user's own record (pseudonym).")
    ] = None,
) -> None:
    """Create a user, or replace its role and password."""
    user = _access(ctx).add_user(username, role, password=password, patient_id=patient)
    console.print(f"user {user.username} ({user.role.value}) saved")


@users_app.command("assign")
def assign(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="A clinician.")],
    patients: Annotated[list[str], typer.Argument(help="Patient pseudonyms.")],
) -> None:
    """Let a clinician see patients."""
    access = _access(ctx)
    for patient in patients:
        access.assign(username, patient)
    console.print(f"{username} now sees {len(access.patients_of(username))} patient(s)")


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """List active users with their roles and assignments."""
    access = _access(ctx)
    table = Table(title="Users")
    for column in ("user", "role", "patient / assigned"):
        table.add_column(column)
    for user in access.users():
        scope = user.patient_id or ", ".join(access.patients_of(user.username)) or "-"
        table.add_row(user.username, user.role.value, scope)
    console.print(table)


@users_app.command("token")
def token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="The user to issue a token for.")],
    minutes: Annotated[int, typer.Option(min=1, max=24 * 60, help="Lifetime.")] = 60,
) -> None:
    """Print a signed bearer token for a user (the embedded issuer)."""
    settings = settings_of(ctx)
    user = _access(ctx).user(username)
    if user is None:
        err_console.print(f"[red]error:[/] no active user {username!r}")
        raise typer.Exit(1)
    service = TokenService(
        settings.data_dir / "jwt.key",
        issuer=settings.security.issuer,
        audience=settings.security.audience,
    )
    typer.echo(service.issue(user, minutes=minutes))


@users_app.command("deactivate")
def deactivate(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="The user.")]
) -> None:
    """Stop a user signing in (their tokens stop working too)."""
    _access(ctx).deactivate(username)
    console.print(f"user {username} deactivated")


@audit_app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the audit hash chain; exit 1 if an entry was edited, removed or reordered."""
    log = AuditLog(settings_of(ctx).data_dir / "audit.sqlite3")
    problems = log.verify()
    for problem in problems:
        err_console.print(f"[red]✗[/] {problem}")
    if problems:
        raise typer.Exit(1)
    entries = log.entries(limit=1)
    console.print(f"[green]✓[/] audit log intact ({entries[0].seq if entries else 0} entries)")

"""``clarity api``: serve the API, and keep its OpenAPI document in the repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clarity.cli._app import app, console, err_console, settings_of
from clarity.config import Settings
from clarity.errors import ConfigurationError

api_app = typer.Typer(help="Serve the API and manage its OpenAPI document.", no_args_is_help=True)
app.add_typer(api_app, name="api")


DEMO_PASSWORD = "clarity demo password"


def serve_api_and_dashboard(settings: Settings, *, host: str | None = None) -> None:
    """Serve the API and the dashboard until Ctrl-C.

    Parameters
    ----------
    settings
        Where the data lives and which ports to use.
    host
        Interface; the settings' by default.
    """
    import threading

    import uvicorn
    from werkzeug.serving import make_server

    from clarity.api import ApiContext, create_app
    from clarity.dashboard import create_dashboard

    bind = host or settings.api.host
    api_url = settings.api.api_url or f"http://{bind}:{settings.api.port}"
    context = ApiContext.open(settings)
    api_server = uvicorn.Server(
        uvicorn.Config(create_app(context), host=bind, port=settings.api.port, log_level="warning")
    )
    try:
        dashboard = make_server(
            bind, settings.api.dashboard_port, create_dashboard(api_url).server, threaded=True
        )
    except OSError as error:
        context.close()
        raise ConfigurationError(
            f"Cannot listen on {bind}:{settings.api.dashboard_port} for the dashboard ({error}); "
            "set api.dashboard_port or CLARITY_API__DASHBOARD_PORT."
        ) from error
    threading.Thread(target=dashboard.serve_forever, daemon=True).start()
    from clarity.cli._wearable import serve_forever

    stop = threading.Event()
    worker = threading.Thread(
        target=serve_forever, args=(settings, stop), name="wearable-worker", daemon=True
    )
    worker.start()
    console.print(
        f"API        {api_url}  (OpenAPI document at {api_url}/openapi.json)\n"
        f"Dashboard  http://{bind}:{settings.api.dashboard_port}\n"
        "Wearable   the service answers explanation requests every 5 s\n"
        "Press Ctrl-C to stop."
    )
    try:
        api_server.run()
    finally:
        stop.set()
        dashboard.shutdown()
        worker.join(timeout=30)
        context.close()


@api_app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Interface (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the API until interrupted."""
    import uvicorn

    from clarity.api import ApiContext, create_app

    settings = settings_of(ctx)
    application = create_app(ApiContext.open(settings), close_on_shutdown=True)
    uvicorn.run(
        application,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level="warning",
    )


@api_app.command("openapi")
def openapi(
    ctx: typer.Context,
    path: Annotated[Path, typer.Option("--out", help="Where the document lives.")] = Path(
        "openapi.json"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Fail when the file differs from the API.")
    ] = False,
) -> None:
    """Write the OpenAPI document (or check the checked-in one)."""
    import tempfile

    from clarity.api import ApiContext, check_openapi, create_app, write_openapi

    with tempfile.TemporaryDirectory() as scratch:
        context = ApiContext.open(Settings.load(data_dir=Path(scratch)))
        try:
            application = create_app(context)
            if check:
                if not check_openapi(application, path):
                    err_console.print(
                        f"[red]✗[/] {path} differs from the API; run `clarity api openapi`"
                    )
                    raise typer.Exit(1)
                console.print(f"[green]✓[/] {path} matches the API")
                return
            write_openapi(application, path)
        finally:
            context.close()
    console.print(f"wrote {path}")

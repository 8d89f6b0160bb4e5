"""The FastAPI application."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response

from clarity._version_info import __version__
from clarity.api._context import ApiContext
from clarity.api._problems import ProblemDetails, install_problem_handlers
from clarity.api._routes import router
from clarity.api._security import request_id_of

__all__ = ["check_openapi", "create_app", "openapi_document", "write_openapi"]

_DESCRIPTION = """
The Clarity API: patients, their timelines of bus records, their latest
features, consent, research exports, ingest uploads and the audit log.

Every request but sign-in needs `Authorization: Bearer <token>` (POST
/auth/token). Roles: admin, clinician (assigned patients), patient (own
record), researcher (pseudonymised cohort data). A patient you may not see
answers 404, as one that does not exist. Every read or write of patient data is
audited. Errors are RFC 9457 problem details.
"""


def create_app(context: ApiContext, *, close_on_shutdown: bool = False) -> FastAPI:
    """Build the API over an opened context.

    Parameters
    ----------
    context
        The backends.
    close_on_shutdown
        Close the context when the server stops.

    Returns
    -------
    FastAPI
        The application.
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            context.close()

    app = FastAPI(
        title="Clarity API",
        version=__version__,
        description=_DESCRIPTION,
        lifespan=lifespan,
        responses={
            400: {"model": ProblemDetails, "description": "Bad request"},
            401: {"model": ProblemDetails, "description": "Authentication required"},
            403: {"model": ProblemDetails, "description": "Not permitted for this role"},
            404: {"model": ProblemDetails, "description": "Not found (or not yours to see)"},
            422: {"model": ProblemDetails, "description": "Invalid request"},
        },
    )
    app.state.context = context
    install_problem_handlers(app)
    app.include_router(router)

    @app.middleware("http")
    async def request_ids(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request_id_of(request)
        response = await call_next(request)
        response.headers["X-Request-ID"] = request_id
        return response

    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """Return the OpenAPI document with the version taken out (it changes every commit).

    Parameters
    ----------
    app
        The application.

    Returns
    -------
    dict
        The document.
    """
    document = dict(app.openapi())
    document["info"] = {**document["info"], "version": "see /openapi.json of a running server"}
    return document


def _render(app: FastAPI) -> str:
    return json.dumps(openapi_document(app), indent=2, sort_keys=True) + "\n"


def write_openapi(app: FastAPI, path: Path) -> Path:
    """Write the OpenAPI document to a file.

    Parameters
    ----------
    app
        The application.
    path
        Target file, e.g. ``openapi.json``.

    Returns
    -------
    Path
        The file.
    """
    path.write_text(_render(app), encoding="utf-8")
    return path


def check_openapi(app: FastAPI, path: Path) -> bool:
    """Tell whether the checked-in OpenAPI document matches the application.

    Parameters
    ----------
    app
        The application.
    path
        The checked-in document.

    Returns
    -------
    bool
        True when identical.
    """
    return path.is_file() and path.read_text(encoding="utf-8") == _render(app)

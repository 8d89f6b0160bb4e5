"""Errors as RFC 9457 problem details (``application/problem+json``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

__all__ = ["Problem", "ProblemDetails", "install_problem_handlers"]

_BASE = "https://clarity.dev/problems/"


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: what went wrong, for a person and for a program."""

    type: str = Field(description="URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request, precisely.")
    instance: str = Field(description="The request path.")
    request_id: str | None = Field(
        default=None, description="The request's id, also in the audit log."
    )
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field-level errors.")


class Problem(Exception):
    """Raise to answer with a problem document.

    Parameters
    ----------
    status
        HTTP status.
    slug
        Kind of problem, e.g. ``"not-found"``.
    title
        Short summary.
    detail
        Precise explanation.
    headers
        Extra response headers (e.g. ``WWW-Authenticate``).
    """

    def __init__(
        self, status: int, slug: str, title: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def _response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetails(
        type=_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthenticated", "Authentication required"),
    403: ("forbidden", "Not permitted"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-request", "The request is not valid"),
}


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error, including validation errors and 500s, with a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return _response(request, exc.status, exc.slug, exc.title, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors)
        return _response(
            request, 422, "invalid-request", "The request is not valid", detail, errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _TITLES.get(exc.status_code, ("error", "Error"))
        return _response(
            request,
            exc.status_code,
            slug,
            title,
            str(exc.detail),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(
        request: Request, exc: Exception
    ) -> JSONResponse:  # pragma: no cover - a bug
        return _response(
            request,
            500,
            "internal-error",
            "Internal error",
            f"An unexpected {type(exc).__name__} occurred; the server log has this request id.",
        )

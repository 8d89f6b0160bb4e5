"""The Clarity API (FastAPI): patients, timelines, features, consent, cohort, ingest, audit."""

from clarity.api._app import check_openapi, create_app, openapi_document, write_openapi
from clarity.api._context import ApiContext
from clarity.api._problems import Problem, ProblemDetails

__all__ = [
    "ApiContext",
    "Problem",
    "ProblemDetails",
    "check_openapi",
    "create_app",
    "openapi_document",
    "write_openapi",
]

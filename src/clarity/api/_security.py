"""Who is calling, what they may see, and the audit entry of every patient-data access."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from clarity.api._context import ApiContext
from clarity.api._problems import Problem
from clarity.security import AuditEntry, Claims, ConsentCategory, InvalidToken, Role

__all__ = ["Caller", "audited", "caller", "context_of", "request_id_of", "require_patient"]

oauth2 = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def context_of(request: Request) -> ApiContext:
    """Return the process's :class:`ApiContext`."""
    context: ApiContext = request.app.state.context
    return context


def request_id_of(request: Request) -> str:
    """Return the request's id: the caller's ``X-Request-ID`` when well formed, else a new one."""
    if not hasattr(request.state, "request_id"):
        offered = request.headers.get("x-request-id", "")
        request.state.request_id = offered if _REQUEST_ID.match(offered) else uuid.uuid4().hex
    return str(request.state.request_id)


@dataclass(frozen=True)
class Caller:
    """An authenticated caller."""

    claims: Claims
    context: ApiContext
    request_id: str

    @property
    def name(self) -> str:
        """The caller's user name."""
        return self.claims.subject

    @property
    def role(self) -> Role:
        """The caller's role."""
        return self.claims.role

    def may_see(self, patient_id: str) -> bool:
        """Tell whether the caller may read this patient's record."""
        if self.role is Role.admin:
            return True
        if self.role is Role.clinician:
            return patient_id in self.context.access.patients_of(self.name)
        if self.role is Role.patient:
            return self.claims.patient_id == patient_id
        return False

    def withheld(self, patient_id: str) -> set[ConsentCategory]:
        """Return the categories this caller must not be shown for lack of consent."""
        if self.role is Role.admin:
            return set()
        return {
            c
            for c in ConsentCategory
            if c is not ConsentCategory.research and not self.context.access.allowed(patient_id, c)
        }


def caller(request: Request, token: str | None = Depends(oauth2)) -> Caller:
    """Authenticate the bearer token (FastAPI dependency).

    Raises
    ------
    Problem
        401 when the token is missing or invalid, or its user was deactivated.
    """
    context = context_of(request)
    request_id = request_id_of(request)
    if not token:
        raise Problem(
            401,
            "unauthenticated",
            "Authentication required",
            "Send 'Authorization: Bearer <token>'; get one from POST /auth/token.",
            {"WWW-Authenticate": "Bearer"},
        )
    try:
        claims = context.tokens.verify(token)
    except InvalidToken as error:
        raise Problem(
            401,
            "invalid-token",
            "Invalid token",
            str(error),
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None
    user = context.access.user(claims.subject)
    if user is None and context.tokens.oidc_issuer is None:
        raise Problem(
            401,
            "invalid-token",
            "Invalid token",
            f"user {claims.subject!r} is not active",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if user is not None and user.role is not claims.role:
        raise Problem(
            401,
            "invalid-token",
            "Invalid token",
            "your role changed since the token was issued; sign in again",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Caller(claims=claims, context=context, request_id=request_id)


def require_role(who: Caller, *roles: Role) -> None:
    """Refuse callers without one of the roles (403: the role, not the patient, is the problem)."""
    if who.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Problem(
            403,
            "forbidden",
            "Not permitted",
            f"this needs the role {allowed}; you are {who.role.value}",
        )


def require_patient(who: Caller, patient_id: str, request: Request) -> None:
    """Refuse a patient the caller may not see, as if it did not exist (404), and audit it."""
    require_role(who, Role.admin, Role.clinician, Role.patient)
    if not who.may_see(patient_id):
        who.context.audit.append(
            AuditEntry(
                who.name,
                who.role.value,
                patient_id,
                "denied",
                _resource(request),
                who.request_id,
                "404",
            )
        )
        raise Problem(404, "not-found", "Not found", f"no patient {patient_id!r} that you may see")


def _resource(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{request.method} {request.url.path}{query}"[:512]


@contextmanager
def audited(
    who: Caller, request: Request, patient_id: str | None, action: str
) -> Iterator[dict[str, str]]:
    """Append an audit entry for the access, with its outcome, whatever happens.

    Yields
    ------
    dict
        Set ``outcome`` (e.g. ``"304"``) to record something other than ``"200"``.
    """
    state = {"outcome": "200"}
    try:
        yield state
    except Problem as problem:
        state["outcome"] = str(problem.status)
        raise
    except Exception:
        state["outcome"] = "500"
        raise
    finally:
        who.context.audit.append(
            AuditEntry(
                who.name,
                who.role.value,
                patient_id,
                action,
                _resource(request),
                who.request_id,
                state["outcome"],
            )
        )

"""Bearer tokens: signed JWTs from the local issuer, or from any OIDC issuer.

The embedded default signs HS256 tokens with a key kept in the data directory
(``jwt.key``, mode 0600). A site with an identity provider configures its
issuer, audience and JWKS (a file, since Clarity fetches nothing at run time);
the role comes from the ``clarity_role`` claim or a ``clarity:<role>`` entry in
``roles``.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from clarity.errors import ClarityError, ConfigurationError
from clarity.security._access import Role, User

__all__ = ["Claims", "InvalidToken", "TokenService"]


class InvalidToken(ClarityError):
    """A bearer token is missing, expired, forged or for another audience."""


@dataclass(frozen=True)
class Claims:
    """Who a verified token speaks for.

    Parameters
    ----------
    subject
        The user name.
    role
        Their role.
    patient_id
        A patient user's own record.
    """

    subject: str
    role: Role
    patient_id: str | None = None


def _key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


class TokenService:
    """Issue and verify bearer tokens.

    Parameters
    ----------
    key_file
        Secret of the local issuer (created when missing).
    issuer, audience
        Expected ``iss`` and ``aud`` of local tokens.
    minutes
        Lifetime of issued tokens.
    oidc_issuer, oidc_audience, oidc_jwks_file
        An external OpenID Connect issuer whose tokens are also accepted.
    """

    def __init__(
        self,
        key_file: Path,
        *,
        issuer: str = "clarity-local",
        audience: str = "clarity",
        minutes: int = 60,
        oidc_issuer: str | None = None,
        oidc_audience: str | None = None,
        oidc_jwks_file: Path | None = None,
    ) -> None:
        self._secret = _key(key_file)
        self.issuer = issuer
        self.audience = audience
        self.minutes = minutes
        self.oidc_issuer = oidc_issuer
        self.oidc_audience = oidc_audience or audience
        self._jwks: jwt.PyJWKSet | None = None
        if oidc_issuer:
            if oidc_jwks_file is None or not oidc_jwks_file.is_file():
                raise ConfigurationError(
                    "An OIDC issuer needs 'oidc_jwks_file' (a JWKS JSON file)."
                )
            self._jwks = jwt.PyJWKSet.from_dict(json.loads(oidc_jwks_file.read_text()))

    def issue(self, user: User, *, minutes: int | None = None) -> str:
        """Sign a token for a user.

        Parameters
        ----------
        user
            The user.
        minutes
            Lifetime; the service's default when omitted.

        Returns
        -------
        str
            The JWT.
        """
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": user.username,
            "clarity_role": user.role.value,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(minutes=minutes or self.minutes),
            "jti": uuid.uuid4().hex,
        }
        if user.patient_id:
            claims["clarity_patient"] = user.patient_id
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Claims:
        """Check a token's signature, issuer, audience and lifetime.

        Parameters
        ----------
        token
            The JWT from an ``Authorization: Bearer`` header.

        Returns
        -------
        Claims
            Subject, role and (for patients) their record.

        Raises
        ------
        InvalidToken
            With the reason, for any token that is not valid.
        """
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") == "HS256":
                claims = jwt.decode(
                    token,
                    self._secret,
                    algorithms=["HS256"],
                    audience=self.audience,
                    issuer=self.issuer,
                    options={"require": ["exp", "sub", "iss", "aud"]},
                )
            elif self._jwks is not None:
                key = self._jwks[header["kid"]]
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=["RS256", "ES256"],
                    audience=self.oidc_audience,
                    issuer=self.oidc_issuer,
                    options={"require": ["exp", "sub", "iss", "aud"]},
                )
            else:
                raise InvalidToken(f"tokens signed with {header.get('alg')!r} are not accepted")
        except (jwt.PyJWTError, KeyError) as error:
            raise InvalidToken(f"the bearer token is not valid: {error}") from None
        role = claims.get("clarity_role")
        if role is None:
            role = next(
                (
                    r.split(":", 1)[1]
                    for r in claims.get("roles", [])
                    if str(r).startswith("clarity:")
                ),
                None,
            )
        if not isinstance(role, str) or role not in Role.__members__:
            raise InvalidToken("the token carries no Clarity role")
        return Claims(
            subject=str(claims["sub"]), role=Role(role), patient_id=claims.get("clarity_patient")
        )

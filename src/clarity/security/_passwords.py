"""Password hashing with scrypt (standard library; no extra dependency)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "verify_password"]

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """Hash a password with a random salt.

    Parameters
    ----------
    password
        The password.

    Returns
    -------
    str
        ``scrypt$N$r$p$salt$hash`` in base64.
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        [
            "scrypt",
            str(_N),
            str(_R),
            str(_P),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        ]
    )


def verify_password(password: str, stored: str) -> bool:
    """Check a password against a stored hash in constant time.

    Parameters
    ----------
    password
        The password offered.
    stored
        A hash from :func:`hash_password`.

    Returns
    -------
    bool
        True when they match.

    Examples
    --------
    >>> verify_password("s3cret", hash_password("s3cret")), verify_password("x", hash_password("y"))
    (True, False)
    """
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, base64.b64decode(digest))

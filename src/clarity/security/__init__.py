"""Security: users and roles, bearer tokens, consent, and the hash-chained audit log.

Everything that decides who may see which patient's data, and everything that
records that they did, lives here; the API, the dashboard and the services all
use it.
"""

from clarity.security._access import (
    AccessStore,
    ConsentCategory,
    ConsentDecision,
    Role,
    User,
    category_of,
)
from clarity.security._audit import AuditEntry, AuditLog
from clarity.security._passwords import hash_password, verify_password
from clarity.security._tokens import Claims, InvalidToken, TokenService

__all__ = [
    "AccessStore",
    "AuditEntry",
    "AuditLog",
    "Claims",
    "ConsentCategory",
    "ConsentDecision",
    "InvalidToken",
    "Role",
    "TokenService",
    "User",
    "category_of",
    "hash_password",
    "verify_password",
]

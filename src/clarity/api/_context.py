"""Everything a request handler needs, opened once per process."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from clarity.bus import Bus, open_bus
from clarity.config import Settings
from clarity.ingest import Pseudonymizer
from clarity.security import AccessStore, AuditLog, TokenService
from clarity.store import FeatureStore, materialize, open_store

__all__ = ["ApiContext"]


@dataclass
class ApiContext:
    """The API's backends.

    Parameters
    ----------
    settings
        Settings it was opened with.
    bus, store, access, audit, tokens, pseudonymizer
        The backends.
    refresh_seconds
        How stale the store may be: reads bring it up to date with the bus at
        most this often (0 refreshes on every read).
    _last_refresh, _refresh_lock
        Internal bookkeeping of :meth:`refresh`.
    """

    settings: Settings
    bus: Bus
    store: FeatureStore
    access: AccessStore
    audit: AuditLog
    tokens: TokenService
    pseudonymizer: Pseudonymizer
    refresh_seconds: float = 1.0
    _last_refresh: float = field(default=-1e9, repr=False)
    _refresh_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, settings: Settings, *, refresh_seconds: float = 1.0) -> ApiContext:
        """Open every backend the settings describe.

        Parameters
        ----------
        settings
            Where everything lives.
        refresh_seconds
            See the class.

        Returns
        -------
        ApiContext
            The context; :meth:`close` it when done.
        """
        data = settings.data_dir
        security = settings.security
        return cls(
            settings=settings,
            bus=open_bus(settings),
            store=open_store(settings),
            access=AccessStore(data / "access.sqlite3", consent_default=security.consent_default),
            audit=AuditLog(data / "audit.sqlite3"),
            tokens=TokenService(
                data / "jwt.key",
                issuer=security.issuer,
                audience=security.audience,
                minutes=security.token_minutes,
                oidc_issuer=security.oidc_issuer,
                oidc_audience=security.oidc_audience,
                oidc_jwks_file=security.oidc_jwks_file,
            ),
            pseudonymizer=Pseudonymizer.from_file(data / "pseudonym.key"),
            refresh_seconds=refresh_seconds,
        )

    def refresh(self) -> None:
        """Bring the store up to date with the bus, if the last refresh is old enough."""
        now = time.monotonic()
        if now - self._last_refresh < self.refresh_seconds:
            return
        with self._refresh_lock:
            if time.monotonic() - self._last_refresh < self.refresh_seconds:
                return
            materialize(self.bus, self.store, group="api-store")
            self._last_refresh = time.monotonic()

    def close(self) -> None:
        """Close every backend."""
        self.bus.close()
        self.store.close()
        self.access.close()
        self.audit.close()

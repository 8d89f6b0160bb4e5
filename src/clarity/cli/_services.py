"""What every ``clarity <service> run`` needs: the bus, the store and consent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from clarity.bus import Bus, open_bus
from clarity.config import Settings

if TYPE_CHECKING:
    from clarity.store import FeatureStore

__all__ = ["Allowed", "service_context"]

Allowed = Callable[[str, str], bool]


@contextmanager
def service_context(settings: Settings) -> Iterator[tuple[Bus, FeatureStore, Allowed]]:
    """Open the bus and the store, with the consent check a service calls per record.

    The store is brought up to date from the bus on entry and again on exit, so
    the service sees earlier records and the API sees what it published.

    Yields
    ------
    tuple
        The bus, the feature store, and ``allowed(patient_id, topic)``.
    """
    from clarity.security import AccessStore, category_of
    from clarity.store import materialize, open_store

    access = AccessStore(
        settings.data_dir / "access.sqlite3", consent_default=settings.security.consent_default
    )
    store = open_store(settings)
    try:
        with open_bus(settings) as bus:
            materialize(bus, store, group="services-history")

            def allowed(patient: str, topic: str) -> bool:
                return access.allowed(patient, category_of(topic))

            yield bus, store, allowed
            materialize(bus, store, group="services-history")
    finally:
        store.close()
        access.close()

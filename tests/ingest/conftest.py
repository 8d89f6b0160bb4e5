from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from clarity.bus import Bus, MemoryTransport
from clarity.ingest import IngestReport, Pseudonymizer, ingest_paths, plan

NOW = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"k" * 32


@pytest.fixture
def pseudonym() -> Pseudonymizer:
    return Pseudonymizer(KEY)


@pytest.fixture
def bus():
    with Bus(transport=MemoryTransport()) as instance:
        yield instance


def run(bus: Bus, *paths: Path, **options) -> IngestReport:
    """Ingest files with a fixed key and clock."""
    return ingest_paths(bus, plan(paths, **options), Pseudonymizer(KEY), now=NOW)


def dead_letters(bus: Bus):
    return [d.record for d in bus.subscribe_dead_letters(group=f"t{id(bus)}").drain()]


def records(bus: Bus, pattern: str = "ingest.>"):
    return [d.record for d in bus.replay(pattern)]

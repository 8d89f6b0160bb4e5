"""Pin each package's public API (httpx's test_exported_members)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "clarity",
    "clarity.contracts",
    "clarity.bus",
    "clarity.store",
    "clarity.registry",
    "clarity.testing",
    "clarity.cli",
    "clarity.ingest",
    "clarity.synth",
    "clarity.reference",
    "clarity.security",
    "clarity.api",
    "clarity.sdk",
    "clarity.wearable",
    "clarity.pgx",
    "clarity.notes",
    "clarity.genotype",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_exported_members__all_is_sorted_complete_and_importable(name):
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(set(exported)) == len(exported)  # ruff's RUF022 keeps the order sorted
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names {member!r}, which does not exist"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith(name + ".")
    }
    assert public <= set(exported), (
        f"{name} exposes {sorted(public - set(exported))} without exporting them"
    )


def test_exported_members__contract_lists_every_payload():
    from clarity import contracts

    payloads = {spec.payload.__name__ for spec in contracts.TOPICS.values()}
    assert payloads <= set(contracts.__all__)

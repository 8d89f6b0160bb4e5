"""numpydoc validation of the public API (MNE's test_docstring_parameters)."""

from __future__ import annotations

import enum
import importlib
import inspect
from typing import Protocol

import pytest
from numpydoc.validate import validate

from clarity.bus import Transport
from clarity.store import FeatureStore

PACKAGES = [
    "clarity.contracts",
    "clarity.bus",
    "clarity.store",
    "clarity.registry",
    "clarity.testing",
    "clarity.ingest",
    "clarity.synth",
    "clarity.reference",
    "clarity.security",
    "clarity.api",
    "clarity.sdk",
    "clarity.dashboard",
    "clarity.wearable",
    "clarity.pgx",
    "clarity.notes",
    "clarity.genotype",
]

# GL08: no docstring; PR01/PR02: parameters undocumented or unknown; RT01: no Returns;
# SS01-SS06: summary line; PR07: parameter without a description; GL01/GL02: blank lines.
CHECKED = {"GL08", "PR01", "PR02", "PR07", "RT01", "SS01", "SS03", "SS05", "GL02"}


# Implementations are documented on the protocol they implement (documented once).
PROTOCOL_METHODS = {name for proto in (Transport, FeatureStore) for name in vars(proto)}


def _documented_on_protocol(cls: type, attr: str) -> bool:
    return attr in PROTOCOL_METHODS and (
        issubclass(cls, Transport) or issubclass(cls, FeatureStore)
    )


def _public_callables():
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{obj.__module__}.{obj.__qualname__}"
            elif inspect.isclass(obj) and obj.__module__.startswith("clarity"):
                # Enums, protocols and pydantic models get their signatures from their base.
                constructed = (
                    not issubclass(obj, enum.Enum | BaseException) and Protocol not in obj.__mro__
                )
                if constructed and "pydantic" not in str(obj.__mro__):
                    yield f"{obj.__module__}.{obj.__qualname__}"
                for attr, member in list(vars(obj).items()):
                    if inspect.isfunction(member) and not attr.startswith("_"):
                        if obj in (Transport, FeatureStore) or not _documented_on_protocol(
                            obj, attr
                        ):
                            yield f"{obj.__module__}.{obj.__qualname__}.{attr}"


TARGETS = sorted(set(_public_callables()))


@pytest.mark.parametrize("target", TARGETS)
def test_docstring__public_api_follows_numpydoc(target):
    result = validate(target)
    problems = [f"{code}: {message}" for code, message in result["errors"] if code in CHECKED]
    assert problems == [], f"{target}:\n" + "\n".join(problems)

"""The ``clarity`` command line."""

from clarity.cli import _bus, _demo, _ingest, _registry, _schemas, _synth  # noqa: F401  (registers the commands)
from clarity.cli._app import app, main

__all__ = ["app", "main"]

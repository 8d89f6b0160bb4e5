"""The ``clarity`` command line."""

from clarity.cli import (  # noqa: F401  (registers the commands)
    _access,
    _bus,
    _demo,
    _eval,
    _genotype,
    _genotype_eval,
    _ingest,
    _notes,
    _notes_eval,
    _pgx,
    _pgx_eval,
    _registry,
    _schemas,
    _serve,
    _synth,
    _wearable,
)
from clarity.cli._app import app, main

__all__ = ["app", "main"]

"""The ``clarity`` command line."""

from clarity.cli._app import app, main

__all__ = ["app", "main"]

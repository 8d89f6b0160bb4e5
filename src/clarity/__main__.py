"""``python -m clarity`` runs the ``clarity`` command."""

from clarity.cli import main

main()

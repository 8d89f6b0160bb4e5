"""Pharmacogenomic lab panel reports."""

from clarity.ingest.pgx._reader import read_pgx_panel

__all__ = ["read_pgx_panel"]

"""Daily mood self-report exports."""

from clarity.ingest.mood._reader import read_mood

__all__ = ["read_mood"]

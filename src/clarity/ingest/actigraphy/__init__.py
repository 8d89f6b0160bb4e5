"""Minute-level actigraphy exports."""

from clarity.ingest.actigraphy._reader import choi_nonwear, read_actigraphy

__all__ = ["choi_nonwear", "read_actigraphy"]

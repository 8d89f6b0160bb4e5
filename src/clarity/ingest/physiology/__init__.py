"""RR-interval and ECG exports."""

from clarity.ingest.physiology._reader import read_ecg, read_rr

__all__ = ["read_ecg", "read_rr"]

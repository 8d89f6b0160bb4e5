"""FHIR R4 bundles."""

from clarity.ingest.fhir._reader import read_fhir

__all__ = ["read_fhir"]

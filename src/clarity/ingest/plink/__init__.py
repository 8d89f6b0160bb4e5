"""PLINK 1 binary genotype filesets."""

from clarity.ingest.plink._reader import read_plink

__all__ = ["read_plink"]

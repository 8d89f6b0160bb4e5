"""Genotype service: per-trait genetic risk from VCF or PLINK (in progress, issue 8).

Readers into a compact int8 dosage matrix, quality control, association
screening with LD clumping, a sequential tree-based SNP selector, and per-trait
models against a linear polygenic score.
"""

from clarity.genotype._dosage import MISSING, VARIANT_COLUMNS, DosageMatrix

__all__ = ["MISSING", "VARIANT_COLUMNS", "DosageMatrix"]

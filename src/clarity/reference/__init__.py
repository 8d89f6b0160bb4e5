"""Public reference data that Clarity needs at run time, shipped with its licence.

Nothing here is patient data. Each folder carries a ``SOURCES.md`` with where
the files come from and under which licence.
"""

from clarity.reference._pharmcat import PHARMCAT_GENES, allele_definitions, phenotype_table

__all__ = ["PHARMCAT_GENES", "allele_definitions", "phenotype_table"]

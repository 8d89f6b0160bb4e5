"""Synthetic patients with ground truth, written in the formats real sources export.

:func:`generate_cohort` writes FHIR R4 bundles, actigraphy, RR/ECG and mood
exports, genotype VCF/PLINK files, PGx panel reports and VCF calls, and the
ground truth as Parquet (latent trajectories, labels, causal parameters). The
causal model is documented in ``docs/synthetic-cohort.md``.
"""

from clarity.synth._cohort import CohortConfig, CohortSummary, generate_cohort

__all__ = ["CohortConfig", "CohortSummary", "generate_cohort"]

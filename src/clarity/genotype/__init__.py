"""Genotype service: per-trait genetic risk from VCF or PLINK.

Readers into a compact int8 dosage matrix, quality control, association
screening with LD clumping, a sequential tree-based SNP selector, and per-trait
models against a linear polygenic score.
"""

from clarity.genotype._align import Alignment, align_to
from clarity.genotype._dosage import MISSING, VARIANT_COLUMNS, DosageMatrix
from clarity.genotype._evaluation import ld_proxies, paired_difference, recovery, snps_used
from clarity.genotype._explain import contributions, top_contributions
from clarity.genotype._models import evaluate, fit_trait_models
from clarity.genotype._panel import TraitPanel
from clarity.genotype._pca import PcaModel, principal_components
from clarity.genotype._qc import (
    QcReport,
    allele_frequency,
    call_rate,
    hwe_pvalues,
    quality_control,
)
from clarity.genotype._readers import (
    ReadReport,
    read_genotypes,
    read_phenotypes,
    read_plink,
    read_vcf,
    read_vcf_with_report,
)
from clarity.genotype._screen import ASSOCIATION_COLUMNS, Association, associate, clump
from clarity.genotype._select import SequentialTreeSelector, SnpSet
from clarity.genotype._service import GenotypeService, GenotypeServiceReport, patient_covariates
from clarity.genotype._train import SELECTOR_DEFAULTS, train_panel
from clarity.genotype._trait_model import KINDS, TraitModel

__all__ = [
    "ASSOCIATION_COLUMNS",
    "KINDS",
    "MISSING",
    "SELECTOR_DEFAULTS",
    "VARIANT_COLUMNS",
    "Alignment",
    "Association",
    "DosageMatrix",
    "GenotypeService",
    "GenotypeServiceReport",
    "PcaModel",
    "QcReport",
    "ReadReport",
    "SequentialTreeSelector",
    "SnpSet",
    "TraitModel",
    "TraitPanel",
    "align_to",
    "allele_frequency",
    "associate",
    "call_rate",
    "clump",
    "contributions",
    "evaluate",
    "fit_trait_models",
    "hwe_pvalues",
    "ld_proxies",
    "paired_difference",
    "patient_covariates",
    "principal_components",
    "quality_control",
    "read_genotypes",
    "read_phenotypes",
    "read_plink",
    "read_vcf",
    "read_vcf_with_report",
    "recovery",
    "snps_used",
    "top_contributions",
    "train_panel",
]

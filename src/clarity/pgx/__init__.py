"""Pharmacogenomics: star alleles, phenotypes, CPIC guidance and drug response.

The named-allele matcher follows PharmCAT and gives its calls for CYP2B6,
CYP2C19, CYP2C9 and (provisionally, SNVs only) CYP2D6; outside calls and lab
panels add CYP2D6 copy number and HLA. Phenotypes are adjusted for current
medications that inhibit the enzyme (phenoconversion), and CPIC guidance for
psychiatric drugs is looked up from versioned data. The drug-response model is
research-grade: it is trained on the synthetic cohort.
"""

from clarity.pgx._advise import guidance_for
from clarity.pgx._alleles import VCF_GENES, GeneDefinition, Locus, NamedAllele, gene_definition
from clarity.pgx._calling import (
    NO_RESULT,
    call_vcf,
    combine_sources,
    phenotype_from_call,
    phenotype_from_match,
)
from clarity.pgx._guidance import Action, Recommendation, guidance_drugs, guideline_genes, recommend
from clarity.pgx._matcher import DiplotypeMatch, GeneMatch, match_gene
from clarity.pgx._outside import OUTSIDE_GENES, OutsideCall, parse_outside_calls, read_outside_calls
from clarity.pgx._phenoconversion import Conversion, convert, inhibitor_table
from clarity.pgx._phenotype import GenePhenotype, hla_status, phenotype_of_diplotype
from clarity.pgx._report import report_html, report_json
from clarity.pgx._service import PatientInputs, PgxService, PgxServiceReport, patient_results
from clarity.pgx._vcf import Genotype, LocusIssue, PgxGenotypes, read_pgx_vcf

__all__ = [
    "NO_RESULT",
    "OUTSIDE_GENES",
    "VCF_GENES",
    "Action",
    "Conversion",
    "DiplotypeMatch",
    "GeneDefinition",
    "GeneMatch",
    "GenePhenotype",
    "Genotype",
    "Locus",
    "LocusIssue",
    "NamedAllele",
    "OutsideCall",
    "PatientInputs",
    "PgxGenotypes",
    "PgxService",
    "PgxServiceReport",
    "Recommendation",
    "call_vcf",
    "combine_sources",
    "convert",
    "gene_definition",
    "guidance_drugs",
    "guidance_for",
    "guideline_genes",
    "hla_status",
    "inhibitor_table",
    "match_gene",
    "parse_outside_calls",
    "patient_results",
    "phenotype_from_call",
    "phenotype_from_match",
    "phenotype_of_diplotype",
    "read_outside_calls",
    "read_pgx_vcf",
    "recommend",
    "report_html",
    "report_json",
]

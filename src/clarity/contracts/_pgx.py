"""Payloads of the ``pgx.*`` topics: phenotypes per gene and guidance per drug."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from clarity.contracts._topics import Payload
from clarity.contracts._types import ContractModel, FiniteFloat, ShortText

__all__ = [
    "AlleleFunctionCall",
    "CarrierStatus",
    "DiplotypeCandidate",
    "GuidanceAction",
    "GuidanceRecommendation",
    "GuidanceStatus",
    "HlaCarrier",
    "PGxGuidance",
    "PGxPhenotype",
    "PGxSource",
    "ResponseEstimate",
    "ResponseSource",
]

_Gene = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)?$")]
_GeneOrAllele = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)?(\*\d{2,3}:\d{2,3})?$"),
    Field(description="A gene, or for HLA the allele a guideline tests, e.g. 'HLA-B*15:02'."),
]
_Drug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9 -]{0,63}$")]
_Text = Annotated[str, StringConstraints(max_length=4_000)]
_Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
_Score = Annotated[float, Field(ge=0.0, le=20.0, allow_inf_nan=False)]


class PGxSource(StrEnum):
    """Where a gene's call came from."""

    vcf = "vcf"
    outside_call = "outside_call"
    panel = "panel"


class CarrierStatus(StrEnum):
    """Whether an HLA allele is carried."""

    positive = "positive"
    negative = "negative"


class GuidanceAction(StrEnum):
    """What a CPIC recommendation asks the prescriber to do, as a class."""

    standard_dose = "standard_dose"
    reduce_starting_dose = "reduce_starting_dose"
    dose_cap = "dose_cap"
    increase_dose = "increase_dose"
    avoid = "avoid"
    use_alternative = "use_alternative"
    no_recommendation = "no_recommendation"
    indeterminate = "indeterminate"


class GuidanceStatus(StrEnum):
    """Whether every gene a guideline uses was available."""

    complete = "complete"
    partial = "partial"
    no_recommendation = "no_recommendation"


class ResponseSource(StrEnum):
    """What a response estimate rests on."""

    model = "model"
    population_prior = "population_prior"


class DiplotypeCandidate(ContractModel):
    """A diplotype consistent with the genotypes, with its match score."""

    diplotype: ShortText
    score: int = Field(ge=0, description="Loci its alleles define (PharmCAT's match score).")


class AlleleFunctionCall(ContractModel):
    """One allele of the called diplotype: its function and activity value."""

    allele: ShortText
    function: ShortText | None = Field(default=None, description="CPIC allele function.")
    activity: _Score | None = Field(default=None, description="CPIC activity value, copies summed.")


class HlaCarrier(ContractModel):
    """Carrier status of one HLA allele."""

    allele: ShortText = Field(description="e.g. '*15:02'.")
    status: CarrierStatus


class PGxPhenotype(Payload):
    """One gene's call and phenotype for a patient (topic ``pgx.phenotype``)."""

    gene: _Gene
    source: PGxSource = Field(description="Where the call came from.")
    called: bool = Field(description="Whether a diplotype was called.")
    diplotypes: tuple[ShortText, ...] = Field(
        default=(), max_length=64, description="The call; several when tied (ambiguous)."
    )
    candidates: tuple[DiplotypeCandidate, ...] = Field(
        default=(),
        max_length=64,
        description="Every diplotype consistent with the genotypes, best first (VCF only).",
    )
    provisional: bool = Field(
        default=False,
        description="CYP2D6 from SNVs and indels only: copy number and hybrids unseen.",
    )
    alleles: tuple[AlleleFunctionCall, ...] = Field(default=(), max_length=2)
    activity_score: _Score | None = None
    phenotype: ShortText = Field(description="Genotype phenotype, e.g. 'Poor Metabolizer'.")
    adjusted_phenotype: ShortText = Field(
        description="Phenotype after phenoconversion by current medications."
    )
    adjusted_activity_score: _Score | None = None
    phenoconversion: _Text | None = Field(
        default=None, description="Why the phenotype was adjusted, naming the drugs."
    )
    inhibitors: tuple[ShortText, ...] = Field(default=(), max_length=32)
    hla: tuple[HlaCarrier, ...] = Field(default=(), max_length=8)
    missing_positions: tuple[ShortText, ...] = Field(
        default=(), max_length=512, description="Defined loci the VCF lacks or could not use."
    )
    messages: tuple[_Text, ...] = Field(default=(), max_length=64)
    conflicts: tuple[_Text, ...] = Field(
        default=(), max_length=16, description="Where two sources disagree on this gene."
    )
    definition_version: ShortText | None = Field(
        default=None, description="Version of the allele definitions used."
    )


class GuidanceRecommendation(ContractModel):
    """One CPIC recommendation for a population."""

    population: ShortText
    action: GuidanceAction
    strength: ShortText | None = None
    evidence_level: ShortText | None = None
    text: _Text | None = Field(
        default=None, description="CPIC's exact wording; None where it is not shipped."
    )
    implications: tuple[_Text, ...] = Field(default=(), max_length=8)
    other_considerations: _Text | None = None


class ResponseEstimate(ContractModel):
    """The research-grade drug-response model's estimate (synthetic-cohort trained)."""

    response_probability: _Fraction
    adverse_event_probability: _Fraction
    source: ResponseSource
    research_grade: bool = Field(
        default=True, description="Always true: trained on synthetic patients, not real ones."
    )
    note: _Text


class PGxGuidance(Payload):
    """CPIC guidance for one drug and patient (topic ``pgx.guidance``)."""

    drug: _Drug
    genes: tuple[_GeneOrAllele, ...] = Field(min_length=1, max_length=4)
    phenotypes: dict[str, ShortText | None] = Field(
        description="The lookup key per gene (adjusted phenotype or HLA status); None if missing."
    )
    phenoconverted: bool = Field(description="Whether a medication changed a phenotype used.")
    status: GuidanceStatus
    missing_genes: tuple[_GeneOrAllele, ...] = ()
    recommendations: tuple[GuidanceRecommendation, ...] = Field(min_length=1, max_length=8)
    citations: tuple[ShortText, ...] = Field(
        default=(), max_length=8, description="e.g. 'PMID 37032427: CPIC ... (2023)'."
    )
    guideline: ShortText
    guidance_version: ShortText
    response: ResponseEstimate | None = None
    activity_scores: dict[str, FiniteFloat | None] = Field(default_factory=dict)

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
    "GuidanceBasis",
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


class GuidanceBasis(StrEnum):
    """What a recommendation rests on."""

    cpic_text = "cpic_text"  # CPIC's own wording, shipped verbatim
    action_class = "action_class"  # the guideline table's action, wording not shipped


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
    status: CarrierStatus = Field(description="Whether the allele is carried.")


class PGxPhenotype(Payload):
    """One gene's call and phenotype for a patient (topic ``pgx.phenotype``)."""

    gene: _Gene = Field(description="HGNC symbol, e.g. 'CYP2C19' or 'HLA-B'.")
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
    alleles: tuple[AlleleFunctionCall, ...] = Field(
        default=(), max_length=2, description="The called alleles' function (one call only)."
    )
    activity_score: _Score | None = Field(
        default=None, description="Genotype activity score (CYP2D6, CYP2C9)."
    )
    phenotype: ShortText = Field(description="Genotype phenotype, e.g. 'Poor Metabolizer'.")
    adjusted_phenotype: ShortText = Field(
        description="Phenotype after phenoconversion by current medications."
    )
    adjusted_activity_score: _Score | None = Field(
        default=None, description="Activity score after phenoconversion."
    )
    phenoconversion: _Text | None = Field(
        default=None, description="Why the phenotype was adjusted, naming the drugs."
    )
    inhibitors: tuple[ShortText, ...] = Field(
        default=(), max_length=32, description="Current medications that inhibit the enzyme."
    )
    hla: tuple[HlaCarrier, ...] = Field(
        default=(), max_length=8, description="Carrier status per HLA allele (HLA genes only)."
    )
    missing_positions: tuple[ShortText, ...] = Field(
        default=(), max_length=512, description="Defined loci the VCF lacks or could not use."
    )
    messages: tuple[_Text, ...] = Field(
        default=(), max_length=64, description="What limits the call, in plain words."
    )
    conflicts: tuple[_Text, ...] = Field(
        default=(), max_length=16, description="Where two sources disagree on this gene."
    )
    definition_version: ShortText | None = Field(
        default=None, description="Version of the allele definitions used."
    )
    possible_phenotypes: tuple[ShortText, ...] = Field(
        default=(),
        max_length=8,
        description="Other phenotypes the data still allow (loci missing); empty when none.",
    )


class GuidanceRecommendation(ContractModel):
    """One CPIC recommendation for a population."""

    population: ShortText = Field(description="Who it applies to, e.g. 'general', 'adults'.")
    action: GuidanceAction = Field(description="What the recommendation asks, as a class.")
    strength: ShortText | None = Field(
        default=None, description="CPIC strength: 'Strong', 'Moderate', 'Optional'."
    )
    evidence_level: ShortText | None = Field(
        default=None, description="CPIC level of the gene-drug pair, e.g. 'A'."
    )
    text: _Text | None = Field(
        default=None, description="CPIC's exact wording; None where it is not shipped."
    )
    implications: tuple[_Text, ...] = Field(
        default=(), max_length=8, description="CPIC's implications per gene, verbatim."
    )
    other_considerations: _Text | None = Field(
        default=None, description="CPIC's other considerations, verbatim."
    )
    basis: GuidanceBasis = Field(
        default=GuidanceBasis.cpic_text,
        description="CPIC's wording, or only the guideline table's action class.",
    )


class ResponseEstimate(ContractModel):
    """The research-grade drug-response model's estimate (synthetic-cohort trained)."""

    response_probability: _Fraction = Field(description="Probability of response by 8 weeks.")
    adverse_event_probability: _Fraction = Field(
        description="Probability of an adverse event within 8 weeks."
    )
    source: ResponseSource = Field(description="The model, or the drug's population prior.")
    research_grade: bool = Field(
        default=True, description="Always true: trained on synthetic patients, not real ones."
    )
    note: _Text = Field(description="What the estimate rests on, in plain words.")


class PGxGuidance(Payload):
    """CPIC guidance for one drug and patient (topic ``pgx.guidance``)."""

    drug: _Drug = Field(description="Generic drug name, lower case.")
    genes: tuple[_GeneOrAllele, ...] = Field(
        min_length=1, max_length=4, description="The genes (HLA alleles) the guideline uses."
    )
    phenotypes: dict[str, ShortText | None] = Field(
        description="The lookup key per gene (adjusted phenotype or HLA status); None if missing."
    )
    phenoconverted: bool = Field(description="Whether a medication changed a phenotype used.")
    status: GuidanceStatus = Field(description="Whether every gene the guideline uses was known.")
    missing_genes: tuple[_GeneOrAllele, ...] = Field(
        default=(), description="Genes without a usable phenotype."
    )
    recommendations: tuple[GuidanceRecommendation, ...] = Field(
        min_length=1, max_length=8, description="One per population."
    )
    citations: tuple[ShortText, ...] = Field(
        default=(), max_length=8, description="e.g. 'PMID 37032427: CPIC ... (2023)'."
    )
    guideline: ShortText
    guidance_version: ShortText
    response: ResponseEstimate | None = Field(
        default=None, description="The research-grade response model's estimate, if any."
    )
    activity_scores: dict[str, FiniteFloat | None] = Field(
        default_factory=dict, description="Activity score used per gene."
    )
    notes: tuple[_Text, ...] = Field(
        default=(),
        max_length=16,
        description="What limits this guidance: provisional or uncertain phenotypes left out.",
    )

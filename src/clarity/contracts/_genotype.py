"""Payload of the ``genotype.trait_risk`` topic: one patient's genetic risk for one trait."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from clarity.contracts._topics import Payload
from clarity.contracts._types import ContractModel, FiniteFloat, Sha256Hex, ShortText

__all__ = ["GenotypeModelKind", "GenotypeTraitRisk", "SnpContribution", "TraitName"]

TraitName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$"),
    Field(description="A trait of the genotype models, e.g. 'depression_liability'."),
]
_Chromosome = Annotated[str, StringConstraints(pattern=r"^chr[0-9A-Za-z_]{1,30}$")]
_Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
_Percentile = Annotated[float, Field(ge=0.0, le=100.0, allow_inf_nan=False)]
_Count = Annotated[int, Field(ge=0, le=2**31 - 1)]


class GenotypeModelKind(StrEnum):
    """Which of the per-trait models produced a risk."""

    prs_ct = "prs_ct"
    elastic_net = "elastic_net"
    xgboost = "xgboost"
    ensemble = "ensemble"


class SnpContribution(ContractModel):
    """How one variant moved this patient's prediction."""

    variant_id: ShortText = Field(description="The model's id of the variant.")
    chrom: _Chromosome = Field(description="Chromosome, e.g. 'chr1'.")
    pos: int = Field(ge=1, le=2**31 - 1, description="1-based position on the genome build.")
    effect_allele: ShortText = Field(description="The allele whose copies the dosage counts.")
    dosage: int | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Copies of the effect allele; absent when not called (imputed).",
    )
    contribution: FiniteFloat = Field(
        description=(
            "Signed contribution to the model's margin (the value, or the log-odds of a "
            "binary trait): TreeSHAP for boosted trees, beta times the centred dosage for "
            "linear scores."
        )
    )


class GenotypeTraitRisk(Payload):
    """A patient's genetic risk for one trait (topic ``genotype.trait_risk``).

    Either ``score`` (with its interval and percentile) or ``reason`` is set: a
    call set that holds too few of the model's variants is not scored.
    """

    trait: TraitName
    model_kind: GenotypeModelKind = Field(description="The model that scored the patient.")
    binary: bool = Field(description="True when the score is a probability of a 0/1 trait.")
    score: FiniteFloat | None = Field(
        default=None,
        description=(
            "Calibrated probability of a binary trait, or the predicted value of a "
            "continuous one on the training cohort's scale; absent when not scored."
        ),
    )
    interval_lower: FiniteFloat | None = Field(
        default=None, description="Lower bound of the bootstrap interval of the score."
    )
    interval_upper: FiniteFloat | None = Field(
        default=None, description="Upper bound of the bootstrap interval of the score."
    )
    interval_level: _Fraction = Field(default=0.9, description="Nominal level of the interval.")
    percentile: _Percentile | None = Field(
        default=None,
        description="Where the score falls among the reference cohort's scores, 0 to 100.",
    )
    reference_size: _Count = Field(description="Reference-cohort scores the percentile uses.")
    top_snps: tuple[SnpContribution, ...] = Field(
        default=(), max_length=50, description="The variants that moved the score most."
    )
    n_snps: _Count = Field(description="Variants the model reads.")
    snps_missing: _Count = Field(
        default=0, description="Model variants not called in, or absent from, the call set."
    )
    held_out_metric: ShortText | None = Field(
        default=None, description="'r2' or 'auc': how the model was scored on held-out people."
    )
    held_out_value: FiniteFloat | None = Field(
        default=None, description="The model's held-out score."
    )
    baseline_held_out_value: FiniteFloat | None = Field(
        default=None, description="The linear polygenic score's held-out score, to compare."
    )
    model_version: Sha256Hex = Field(description="Version of the trait model.")
    snp_set_version: Sha256Hex | None = Field(
        default=None, description="Version of the selected SNP set the model was trained on."
    )
    panel_version: Sha256Hex = Field(description="Version of the trained panel of trait models.")
    sample_id: ShortText = Field(description="The patient's sample in the call set read.")
    reason: ShortText | None = Field(
        default=None, description="Why the patient was not scored; absent when scored."
    )

    @model_validator(mode="after")
    def _scored_or_explained(self) -> Self:
        scored = self.score is not None
        if scored == (self.reason is not None):
            raise ValueError("a trait risk has either a score or a reason it was not scored")
        bounds = (self.interval_lower, self.interval_upper)
        if (bounds[0] is None) != (bounds[1] is None):
            raise ValueError("an interval needs both bounds")
        if scored and bounds[0] is not None and bounds[1] is not None:
            assert self.score is not None
            if not bounds[0] <= self.score <= bounds[1]:
                raise ValueError("the interval must contain the score")
        if not scored and (bounds[0] is not None or self.percentile is not None or self.top_snps):
            raise ValueError("a trait risk that was not scored has no interval, percentile or SNPs")
        if self.binary and scored:
            assert self.score is not None
            if not 0.0 <= self.score <= 1.0:
                raise ValueError("the score of a binary trait is a probability in [0, 1]")
        if self.snps_missing > self.n_snps:
            raise ValueError("snps_missing cannot exceed n_snps")
        return self

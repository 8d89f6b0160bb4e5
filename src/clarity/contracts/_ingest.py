"""Payloads of the ``ingest.*`` topics: validated raw data, one model per input kind."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from clarity.contracts._topics import Payload
from clarity.contracts._types import (
    ContractModel,
    FiniteFloat,
    Icd10Code,
    LoincCode,
    NonNegativeFloat,
    RxNormCode,
    Sha256Hex,
    ShortText,
    StrictInt,
    UtcDatetime,
)

__all__ = [
    "INSTRUMENTS",
    "MINUTES_PER_WEEK",
    "ActigraphyWeek",
    "Ancestry",
    "ClinicalNote",
    "ConditionStatus",
    "Diagnosis",
    "ECGSegment",
    "GeneCall",
    "GenomeBuild",
    "GenotypeCallSetRef",
    "GenotypeFormat",
    "Instrument",
    "InstrumentSpec",
    "ItemScore",
    "MedicationStatement",
    "MedicationStatus",
    "MoodReport",
    "PGxPanelResult",
    "PatientDemographics",
    "QuestionnaireObservation",
    "RRIntervalSegment",
    "Sex",
]

MINUTES_PER_WEEK = 10_080
"""Minutes in the actigraphy week that PAT reads (7 x 24 x 60)."""

_Scale10 = Annotated[int, Strict(), Field(ge=0, le=10)]
_FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


# ----------------------------------------------------------------------------- patient


class Sex(StrEnum):
    """Administrative sex, the FHIR ``AdministrativeGender`` value set."""

    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class Ancestry(StrEnum):
    """CPIC biogeographic group, used for pharmacogenomic population priors."""

    african_american_afro_caribbean = "african_american_afro_caribbean"
    american = "american"
    central_south_asian = "central_south_asian"
    east_asian = "east_asian"
    european = "european"
    latino = "latino"
    near_eastern = "near_eastern"
    oceanian = "oceanian"
    sub_saharan_african = "sub_saharan_african"
    unknown = "unknown"


class PatientDemographics(Payload):
    """Who the patient is, without identifying them (topic ``ingest.patient``)."""

    birth_year: StrictInt = Field(
        ge=1900, le=2100, description="Year of birth; the full date is not kept."
    )
    sex: Sex = Field(description="Administrative sex (FHIR AdministrativeGender).")
    ancestry: Ancestry = Field(
        default=Ancestry.unknown,
        description="CPIC biogeographic group, self-reported; 'unknown' when not given.",
    )
    site: ShortText | None = Field(default=None, description="Care site or study arm.")
    fhir_id: _FhirId | None = Field(default=None, description="Source FHIR Patient id.")


# ----------------------------------------------------------------------------- questionnaires


class Instrument(StrEnum):
    """A scored self-report questionnaire."""

    phq9 = "phq9"
    gad7 = "gad7"


class InstrumentSpec(ContractModel):
    """LOINC coding and scoring range of a questionnaire."""

    panel_loinc: LoincCode
    total_loinc: LoincCode
    item_loincs: tuple[LoincCode, ...]
    max_item_score: StrictInt

    @property
    def max_total(self) -> int:
        """Highest possible total score."""
        return self.max_item_score * len(self.item_loincs)


INSTRUMENTS: dict[Instrument, InstrumentSpec] = {
    # LOINC panel 44249-1, total 44261-6 and items in questionnaire order.
    Instrument.phq9: InstrumentSpec(
        panel_loinc="44249-1",
        total_loinc="44261-6",
        item_loincs=(
            "44250-9",
            "44255-8",
            "44259-0",
            "44254-1",
            "44251-7",
            "44258-2",
            "44252-5",
            "44253-3",
            "44260-8",
        ),
        max_item_score=3,
    ),
    # LOINC panel 69737-5, total 70274-6 and items in questionnaire order.
    Instrument.gad7: InstrumentSpec(
        panel_loinc="69737-5",
        total_loinc="70274-6",
        item_loincs=("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
        max_item_score=3,
    ),
}
"""Coding of every supported questionnaire."""


class ItemScore(ContractModel):
    """The answer to one questionnaire item."""

    loinc: LoincCode = Field(description="LOINC code of the item.")
    score: StrictInt = Field(ge=0, le=3, description="Item score, 0 (not at all) to 3.")


class QuestionnaireObservation(Payload):
    """A scored PHQ-9 or GAD-7 (topic ``ingest.observation``).

    The LOINC codes must be the instrument's; when item scores are present there
    is exactly one per item and they add up to the total.
    """

    instrument: Instrument = Field(description="Which questionnaire.")
    panel_loinc: LoincCode = Field(description="LOINC code of the questionnaire panel.")
    total_loinc: LoincCode = Field(description="LOINC code of the total score.")
    total_score: StrictInt = Field(ge=0, description="Sum of the item scores.")
    items: tuple[ItemScore, ...] = Field(
        default=(), description="Item scores; empty when only the total was recorded."
    )
    fhir_id: _FhirId | None = Field(default=None, description="Source FHIR Observation id.")

    @model_validator(mode="after")
    def _check_against_instrument(self) -> Self:
        spec = INSTRUMENTS[self.instrument]
        name = self.instrument.value
        if self.panel_loinc != spec.panel_loinc:
            raise ValueError(
                f"panel_loinc of a {name} must be {spec.panel_loinc}; got {self.panel_loinc}"
            )
        if self.total_loinc != spec.total_loinc:
            raise ValueError(
                f"total_loinc of a {name} must be {spec.total_loinc}; got {self.total_loinc}"
            )
        if self.total_score > spec.max_total:
            raise ValueError(
                f"total_score of a {name} must be in the range [0, {spec.max_total}]; "
                f"got {self.total_score}"
            )
        if self.items:
            codes = [item.loinc for item in self.items]
            if len(codes) != len(spec.item_loincs) or set(codes) != set(spec.item_loincs):
                missing = sorted(set(spec.item_loincs) - set(codes))
                extra = sorted(set(codes) - set(spec.item_loincs))
                raise ValueError(
                    f"items of a {name} must be its {len(spec.item_loincs)} items once each; "
                    f"missing {missing}, unexpected or repeated {extra or sorted(codes)}"
                )
            item_sum = sum(item.score for item in self.items)
            if item_sum != self.total_score:
                raise ValueError(
                    f"total_score {self.total_score} differs from the sum of the items ({item_sum})"
                )
        return self


# ----------------------------------------------------------------------------- diagnoses


class ConditionStatus(StrEnum):
    """FHIR Condition clinical status."""

    active = "active"
    recurrence = "recurrence"
    relapse = "relapse"
    inactive = "inactive"
    remission = "remission"
    resolved = "resolved"
    unknown = "unknown"


class Diagnosis(Payload):
    """A coded diagnosis (topic ``ingest.condition``)."""

    icd10: Icd10Code
    clinical_status: ConditionStatus = Field(
        default=ConditionStatus.unknown, description="Clinical status, as FHIR codes it."
    )
    onset: date | None = Field(default=None, description="When the condition began.")
    fhir_id: _FhirId | None = Field(default=None, description="Source FHIR Condition id.")


# ----------------------------------------------------------------------------- medication


class MedicationStatus(StrEnum):
    """FHIR MedicationStatement status (hyphens written as underscores)."""

    active = "active"
    completed = "completed"
    entered_in_error = "entered_in_error"
    intended = "intended"
    stopped = "stopped"
    on_hold = "on_hold"
    unknown = "unknown"
    not_taken = "not_taken"


class MedicationStatement(Payload):
    """A medication the patient takes, took or will take (topic ``ingest.medication``)."""

    rxnorm: RxNormCode
    name: ShortText = Field(description="Drug name as coded, e.g. 'sertraline'.")
    status: MedicationStatus = Field(description="Whether it is taken, as FHIR codes it.")
    dose_mg: FiniteFloat | None = Field(
        default=None, gt=0, description="Dose per administration.", json_schema_extra={"unit": "mg"}
    )
    frequency_per_day: FiniteFloat | None = Field(
        default=None, gt=0, le=24, description="Administrations per day."
    )
    route: ShortText | None = Field(default=None, description="Route, e.g. 'oral'.")
    started_on: date | None = Field(default=None, description="First day taken.")
    ended_on: date | None = Field(default=None, description="Last day taken.")
    reason: Icd10Code | None = Field(default=None, description="Indication as ICD-10.")
    fhir_id: _FhirId | None = Field(default=None, description="Source FHIR resource id.")

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.started_on and self.ended_on and self.ended_on < self.started_on:
            raise ValueError(f"ended_on ({self.ended_on}) is before started_on ({self.started_on})")
        return self


# ----------------------------------------------------------------------------- notes


class ClinicalNote(Payload):
    """A clinical note, as written; it may contain PHI (topic ``ingest.note``).

    Only the notes service reads this text, and it redacts PHI before any text
    leaves it.
    """

    note_id: ShortText = Field(description="Identifier of the note at its source.")
    note_type_loinc: LoincCode = Field(
        default="11506-3", description="LOINC document type; 11506-3 is a progress note."
    )
    author_role: ShortText | None = Field(default=None, description="E.g. 'psychiatrist'.")
    text: Annotated[str, StringConstraints(min_length=1, max_length=500_000)] = Field(
        description="Full text of the note."
    )
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = Field(
        default="en", description="BCP-47 language tag."
    )


# ----------------------------------------------------------------------------- wearables


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"timezone must be an IANA zone name such as 'Europe/Oslo'; got {name!r}"
        ) from None
    return name


_TimeZone = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_timezone)
]


class ActigraphyWeek(Payload):
    """One week of minute-level wrist activity (topic ``ingest.actigraphy``).

    Non-wear minutes are marked in ``wear`` rather than zero-filled, so a model
    can mask them.
    """

    start: UtcDatetime = Field(description="First minute of the week, on a whole minute.")
    timezone: _TimeZone = Field(
        default="UTC", description="IANA zone of the wearer, for hour-of-day views."
    )
    counts: tuple[NonNegativeFloat, ...] = Field(
        min_length=MINUTES_PER_WEEK,
        max_length=MINUTES_PER_WEEK,
        description="Activity counts per minute, 10,080 values.",
        json_schema_extra={"unit": "counts/min"},
    )
    wear: tuple[Annotated[bool, Strict()], ...] = Field(
        min_length=MINUTES_PER_WEEK,
        max_length=MINUTES_PER_WEEK,
        description="True where the device was worn, per minute.",
    )
    device: ShortText | None = Field(default=None, description="Device model.")

    @field_validator("start")
    @classmethod
    def _on_whole_minute(cls, value: UtcDatetime) -> UtcDatetime:
        if value.second or value.microsecond:
            raise ValueError(f"start must fall on a whole minute; got {value.isoformat()}")
        return value


class RRIntervalSegment(Payload):
    """Consecutive beat-to-beat (RR) intervals (topic ``ingest.rr_intervals``)."""

    start: UtcDatetime = Field(description="Time of the first beat.")
    rr_ms: tuple[Annotated[float, Strict(), Field(gt=0, le=10_000, allow_inf_nan=False)], ...] = (
        Field(
            min_length=1,
            max_length=500_000,
            description="RR intervals; artefacts are kept for the physiology service to judge.",
            json_schema_extra={"unit": "ms"},
        )
    )
    device: ShortText | None = Field(default=None, description="Device model.")


class ECGSegment(Payload):
    """A single-lead ECG recording (topic ``ingest.ecg``)."""

    start: UtcDatetime = Field(description="Time of the first sample.")
    sampling_rate_hz: FiniteFloat = Field(
        gt=0, le=10_000, description="Samples per second.", json_schema_extra={"unit": "Hz"}
    )
    lead: ShortText = Field(default="I", description="Lead name, e.g. 'I' or 'II'.")
    values_mv: tuple[FiniteFloat, ...] = Field(
        min_length=1,
        max_length=2_000_000,
        description="Voltage samples; segment longer recordings.",
        json_schema_extra={"unit": "mV"},
    )
    device: ShortText | None = Field(default=None, description="Device model.")


# ----------------------------------------------------------------------------- self-report


class MoodReport(Payload):
    """A daily self-report (topic ``ingest.mood``); scales run 0 (worst/none) to 10."""

    mood: _Scale10 = Field(description="Mood, 0 (very low) to 10 (very good).")
    anxiety: _Scale10 | None = Field(default=None, description="Anxiety, 0 (none) to 10.")
    energy: _Scale10 | None = Field(default=None, description="Energy, 0 (none) to 10.")
    sleep_hours: FiniteFloat | None = Field(
        default=None,
        ge=0,
        le=24,
        description="Hours slept last night.",
        json_schema_extra={"unit": "h"},
    )
    sleep_quality: _Scale10 | None = Field(default=None, description="Sleep quality, 0 to 10.")
    comment: Annotated[str, StringConstraints(max_length=2_000)] | None = Field(
        default=None, description="Free text; may contain PHI."
    )


# ----------------------------------------------------------------------------- genomics


class GenotypeFormat(StrEnum):
    """File format of a genotype call set."""

    vcf = "vcf"
    bcf = "bcf"
    plink_bed = "plink_bed"


class GenomeBuild(StrEnum):
    """Reference genome the positions refer to."""

    grch37 = "grch37"
    grch38 = "grch38"


class GenotypeCallSetRef(Payload):
    """Where a patient's genotype calls are kept (topic ``ingest.genotype``).

    Genotypes are large; the bus carries a reference and a digest, not the calls.
    """

    uri: Annotated[str, StringConstraints(min_length=1, max_length=2_048)] = Field(
        description="Location of the file: a path or an object-store URI."
    )
    format: GenotypeFormat = Field(description="File format of the call set.")
    sample_id: ShortText = Field(description="The patient's sample column in the file.")
    genome_build: GenomeBuild = Field(description="Reference genome of the positions.")
    sha256: Sha256Hex = Field(description="Digest of the file, to detect any change.")
    n_variants: StrictInt = Field(
        ge=0, le=2**63 - 1, description="Number of variant records in the file."
    )
    bim_sha256: Sha256Hex | None = Field(
        default=None,
        description="A PLINK fileset's .bim beside the .bed: its digest (the variants' order).",
    )
    fam_sha256: Sha256Hex | None = Field(
        default=None,
        description="A PLINK fileset's .fam beside the .bed: its digest (the samples' order).",
    )


_GeneSymbol = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)?$")]
_Diplotype = Annotated[
    str,
    StringConstraints(pattern=r"^[^/\s]{1,64}/[^/\s]{1,64}$"),
    Field(description="Two haplotypes separated by '/', e.g. '*1/*4x2' or '*15:02/*57:01'."),
]


class GeneCall(ContractModel):
    """A lab's call for one pharmacogene."""

    gene: _GeneSymbol = Field(description="HGNC symbol, e.g. 'CYP2C19' or 'HLA-B'.")
    diplotype: _Diplotype
    phenotype: ShortText | None = Field(
        default=None, description="Phenotype as reported by the lab, when it gives one."
    )
    activity_score: FiniteFloat | None = Field(
        default=None, ge=0, description="Activity score as reported, when it gives one."
    )


class PGxPanelResult(Payload):
    """A pharmacogenomic panel report (topic ``ingest.pgx``)."""

    lab: ShortText = Field(description="Reporting laboratory.")
    panel: ShortText = Field(description="Name of the test or panel.")
    calls: tuple[GeneCall, ...] = Field(min_length=1, description="One call per gene.")

    @field_validator("calls")
    @classmethod
    def _one_call_per_gene(cls, calls: tuple[GeneCall, ...]) -> tuple[GeneCall, ...]:
        genes = [call.gene for call in calls]
        repeated = sorted({gene for gene in genes if genes.count(gene) > 1})
        if repeated:
            raise ValueError(f"each gene may be called once; repeated: {', '.join(repeated)}")
        return calls

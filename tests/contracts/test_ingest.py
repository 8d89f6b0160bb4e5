from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from clarity.contracts import (
    INSTRUMENTS,
    MINUTES_PER_WEEK,
    ActigraphyWeek,
    ClinicalNote,
    ECGSegment,
    GeneCall,
    GenotypeCallSetRef,
    Instrument,
    MedicationStatement,
    MoodReport,
    PatientDemographics,
    PGxPanelResult,
    QuestionnaireObservation,
    RRIntervalSegment,
)

PHQ9 = INSTRUMENTS[Instrument.phq9]


def _phq9(**overrides):
    fields = dict(
        instrument="phq9",
        panel_loinc=PHQ9.panel_loinc,
        total_loinc=PHQ9.total_loinc,
        total_score=9,
        items=[{"loinc": code, "score": 1} for code in PHQ9.item_loincs],
    )
    fields.update(overrides)
    return QuestionnaireObservation(**fields)


def test_questionnaire__valid_phq9_keeps_items_in_order():
    observation = _phq9()
    assert [i.loinc for i in observation.items] == list(PHQ9.item_loincs)
    assert PHQ9.max_total == 27


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"panel_loinc": "69737-5"}, "panel_loinc of a phq9 must be 44249-1"),
        ({"total_loinc": "70274-6"}, "total_loinc of a phq9 must be 44261-6"),
        ({"total_score": 28, "items": ()}, r"range \[0, 27\]; got 28"),
        ({"total_score": 10}, "differs from the sum of the items"),
        ({"items": [{"loinc": PHQ9.item_loincs[0], "score": 1}] * 9}, "once each"),
        ({"items": [{"loinc": "44250-9", "score": 4}]}, "less than or equal to 3"),
        ({"total_score": "9"}, "valid integer"),
        ({"total_score": 9.0}, "valid integer"),
        ({"panel_loinc": "44249-2"}, "fails its check digit"),
        ({"instrument": "phq8"}, "instrument"),
    ],
)
def test_questionnaire__inconsistent_observation_is_rejected(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _phq9(**overrides)


def test_questionnaire__gad7_total_only_is_valid():
    spec = INSTRUMENTS[Instrument.gad7]
    observation = QuestionnaireObservation(
        instrument="gad7",
        panel_loinc=spec.panel_loinc,
        total_loinc=spec.total_loinc,
        total_score=21,
    )
    assert observation.items == ()
    with pytest.raises(ValidationError, match=r"\[0, 21\]"):
        QuestionnaireObservation(
            instrument="gad7",
            panel_loinc=spec.panel_loinc,
            total_loinc=spec.total_loinc,
            total_score=22,
        )


def test_patient__birth_year_and_sex_are_checked():
    assert PatientDemographics(birth_year=1990, sex="other").ancestry == "unknown"
    with pytest.raises(ValidationError, match="sex"):
        PatientDemographics(birth_year=1990, sex="F")
    with pytest.raises(ValidationError, match="birth_year"):
        PatientDemographics(birth_year=1850, sex="male")


def test_medication__end_before_start_is_rejected():
    base = dict(rxnorm="36437", name="sertraline", status="active")
    assert MedicationStatement(**base, started_on=date(2024, 1, 1), ended_on=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="before started_on"):
        MedicationStatement(**base, started_on=date(2024, 2, 1), ended_on=date(2024, 1, 1))
    with pytest.raises(ValidationError, match="rxnorm"):
        MedicationStatement(**{**base, "rxnorm": "RX36437"})
    with pytest.raises(ValidationError, match="dose_mg"):
        MedicationStatement(**base, dose_mg=0)
    with pytest.raises(ValidationError, match="reason"):
        MedicationStatement(**base, reason="depression")


def test_note__empty_text_and_bad_language_are_rejected():
    assert ClinicalNote(note_id="n1", text="Seen today.").note_type_loinc == "11506-3"
    with pytest.raises(ValidationError, match="text"):
        ClinicalNote(note_id="n1", text="")
    with pytest.raises(ValidationError, match="language"):
        ClinicalNote(note_id="n1", text="x", language="english")


def _week(**overrides):
    fields = dict(
        start=datetime(2024, 1, 1, tzinfo=UTC),
        counts=[0.0] * MINUTES_PER_WEEK,
        wear=[True] * MINUTES_PER_WEEK,
    )
    fields.update(overrides)
    return ActigraphyWeek(**fields)


def test_actigraphy__a_full_week_is_required():
    assert len(_week().counts) == 10_080
    with pytest.raises(ValidationError, match="at least 10080"):
        _week(counts=[0.0] * (MINUTES_PER_WEEK - 1))
    with pytest.raises(ValidationError, match="at most 10080"):
        _week(wear=[True] * (MINUTES_PER_WEEK + 1))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"start": datetime(2024, 1, 1, 0, 0, 30, tzinfo=UTC)}, "whole minute"),
        ({"start": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"timezone": "Mars/Olympus"}, "IANA zone"),
        ({"timezone": "../etc"}, "IANA zone"),
        ({"counts": [float("nan")] + [0.0] * (MINUTES_PER_WEEK - 1)}, "finite"),
        ({"counts": [-1.0] + [0.0] * (MINUTES_PER_WEEK - 1)}, "greater than or equal to 0"),
        ({"wear": [1] + [True] * (MINUTES_PER_WEEK - 1)}, "valid boolean"),
    ],
)
def test_actigraphy__invalid_week_is_rejected(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _week(**overrides)


def test_physiology__ranges_are_enforced():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert RRIntervalSegment(start=start, rr_ms=[800.0, 812.5]).rr_ms == (800.0, 812.5)
    with pytest.raises(ValidationError, match="rr_ms"):
        RRIntervalSegment(start=start, rr_ms=[800.0, 0.0])
    with pytest.raises(ValidationError, match="rr_ms"):
        RRIntervalSegment(start=start, rr_ms=[])
    with pytest.raises(ValidationError, match="sampling_rate_hz"):
        ECGSegment(start=start, sampling_rate_hz=0, values_mv=[0.1])
    with pytest.raises(ValidationError, match="finite"):
        ECGSegment(start=start, sampling_rate_hz=250, values_mv=[float("inf")])


def test_mood__scales_run_from_0_to_10():
    assert MoodReport(mood=0, anxiety=10).energy is None
    with pytest.raises(ValidationError, match="mood"):
        MoodReport(mood=11)
    with pytest.raises(ValidationError, match="sleep_hours"):
        MoodReport(mood=5, sleep_hours=25)


def test_genotype__digest_and_format_are_checked():
    base = dict(
        uri="file:///x.vcf.gz", format="vcf", sample_id="S1", genome_build="grch38", n_variants=3
    )
    assert GenotypeCallSetRef(**base, sha256="a" * 64).n_variants == 3
    with pytest.raises(ValidationError, match="sha256"):
        GenotypeCallSetRef(**base, sha256="A" * 64)
    with pytest.raises(ValidationError, match="format"):
        GenotypeCallSetRef(**{**base, "format": "bam"}, sha256="a" * 64)


def test_pgx__one_call_per_gene_and_diplotype_syntax():
    calls = [
        GeneCall(gene="CYP2D6", diplotype="*1/*4x2"),
        GeneCall(gene="HLA-B", diplotype="*15:02/*57:01"),
    ]
    assert len(PGxPanelResult(lab="L", panel="P", calls=calls).calls) == 2
    with pytest.raises(ValidationError, match="repeated: CYP2D6"):
        PGxPanelResult(lab="L", panel="P", calls=[calls[0], calls[0]])
    with pytest.raises(ValidationError, match="calls"):
        PGxPanelResult(lab="L", panel="P", calls=[])
    with pytest.raises(ValidationError, match="diplotype"):
        GeneCall(gene="CYP2D6", diplotype="*1*4")
    with pytest.raises(ValidationError, match="gene"):
        GeneCall(gene="cyp2d6", diplotype="*1/*1")

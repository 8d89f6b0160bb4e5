"""Hypothesis strategies for every contract record (property tests of the contract and bus)."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
from hypothesis import strategies as st

from clarity.contracts import (
    INSTRUMENTS,
    MINUTES_PER_WEEK,
    ActigraphyWeek,
    Ancestry,
    ClinicalNote,
    Diagnosis,
    ECGSegment,
    Envelope,
    GeneCall,
    GenomeBuild,
    GenotypeCallSetRef,
    GenotypeFormat,
    HeadRisk,
    Instrument,
    ItemScore,
    MedicationStatement,
    MedicationStatus,
    MoodReport,
    PatientDemographics,
    PGxPanelResult,
    Producer,
    QuestionnaireObservation,
    RRIntervalSegment,
    Sex,
    WearableAttention,
    WearableDailyRisk,
    WearableExplainRequest,
)

_ID_CHARS = string.ascii_letters + string.digits + "._:-"

patient_ids = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(string.ascii_letters + string.digits),
    st.text(_ID_CHARS, min_size=2, max_size=63),
)

# Any UTC offset: the contract normalises to UTC, so round trips must still be exact.
offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30), timezones=offsets
)
short_text = st.text(min_size=1, max_size=40).filter(lambda s: len(s) <= 256)
any_text = st.text(max_size=300)
finite = st.floats(allow_nan=False, allow_infinity=False)
non_negative = st.floats(min_value=0, allow_nan=False, allow_infinity=False)


@st.composite
def questionnaires(draw: st.DrawFn) -> QuestionnaireObservation:
    instrument = draw(st.sampled_from(list(Instrument)))
    spec = INSTRUMENTS[instrument]
    with_items = draw(st.booleans())
    if with_items:
        scores = draw(
            st.lists(
                st.integers(0, 3), min_size=len(spec.item_loincs), max_size=len(spec.item_loincs)
            )
        )
        order = draw(st.permutations(range(len(spec.item_loincs))))
        items = tuple(ItemScore(loinc=spec.item_loincs[i], score=scores[i]) for i in order)
        total = sum(scores)
    else:
        items = ()
        total = draw(st.integers(0, spec.max_total))
    return QuestionnaireObservation(
        instrument=instrument,
        panel_loinc=spec.panel_loinc,
        total_loinc=spec.total_loinc,
        total_score=total,
        items=items,
        fhir_id=draw(st.none() | st.from_regex(r"\A[A-Za-z0-9\-.]{1,64}\Z")),
    )


@st.composite
def medications(draw: st.DrawFn) -> MedicationStatement:
    start = draw(st.none() | st.dates(date(1950, 1, 1), date(2100, 1, 1)))
    end = None if start is None else draw(st.none() | st.dates(start, date(2100, 12, 31)))
    return MedicationStatement(
        rxnorm=draw(st.from_regex(r"\A[1-9][0-9]{0,9}\Z")),
        name=draw(short_text),
        status=draw(st.sampled_from(list(MedicationStatus))),
        dose_mg=draw(st.none() | st.floats(min_value=1e-6, max_value=1e6)),
        frequency_per_day=draw(st.none() | st.floats(min_value=0.01, max_value=24)),
        route=draw(st.none() | short_text),
        started_on=start,
        ended_on=end,
        reason=draw(st.none() | st.sampled_from(["F32.1", "F33", "F41.1", "F32.A"])),
    )


@st.composite
def actigraphy_weeks(draw: st.DrawFn) -> ActigraphyWeek:
    # 10,080 values are too many to draw one by one: draw a seed, then plant
    # drawn edge values (0, huge, subnormal) at drawn positions.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    counts = rng.gamma(1.5, 100.0, MINUTES_PER_WEEK)
    wear = rng.random(MINUTES_PER_WEEK) > 0.1
    for _ in range(draw(st.integers(0, 5))):
        counts[draw(st.integers(0, MINUTES_PER_WEEK - 1))] = draw(non_negative)
    start = draw(instants).astimezone(UTC).replace(second=0, microsecond=0)
    return ActigraphyWeek(
        start=start,
        timezone=draw(st.sampled_from(["UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata"])),
        counts=tuple(float(c) for c in counts),
        wear=tuple(bool(w) for w in wear),
        device=draw(st.none() | short_text),
    )


heads = st.from_regex(r"\A[a-z][a-z0-9_]{0,31}\Z")
fractions = st.floats(0, 1)


@st.composite
def daily_risks(draw: st.DrawFn) -> WearableDailyRisk:
    start = draw(instants)
    scored = draw(st.booleans())
    risks = draw(
        st.lists(
            st.builds(HeadRisk, head=heads, probability=fractions),
            min_size=1,
            max_size=4,
            unique_by=lambda r: r.head,
        )
    )
    return WearableDailyRisk(
        day=start.date(),
        window_start=start,
        window_end=start + timedelta(days=7),
        timezone=draw(st.sampled_from(["UTC", "Europe/Oslo"])),
        wear_fraction=draw(fractions),
        day_wear_fraction=draw(fractions),
        min_wear_fraction=draw(fractions),
        risks=tuple(risks) if scored else (),
        reason=None if scored else draw(short_text),
    )


@st.composite
def attention_maps(draw: st.DrawFn) -> WearableAttention:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    minutes = rng.random(MINUTES_PER_WEEK)
    start = draw(instants)
    return WearableAttention(
        window_start=start,
        window_end=start + timedelta(days=7),
        head=draw(heads),
        probability=draw(fractions),
        patch_minutes=draw(st.sampled_from([9, 18])),
        minutes=tuple(float(m) for m in minutes / minutes.sum()),
    )


payloads = st.one_of(
    daily_risks(),
    attention_maps(),
    st.builds(WearableExplainRequest, window_end=instants, head=heads, requested_by=short_text),
    st.builds(
        PatientDemographics,
        birth_year=st.integers(1900, 2100),
        sex=st.sampled_from(list(Sex)),
        ancestry=st.sampled_from(list(Ancestry)),
        site=st.none() | short_text,
    ),
    questionnaires(),
    st.builds(
        Diagnosis,
        icd10=st.sampled_from(["F32.1", "F33", "F41.1", "F32.A"]),
        onset=st.none() | st.dates(date(1950, 1, 1), date(2100, 1, 1)),
    ),
    medications(),
    st.builds(
        ClinicalNote,
        note_id=short_text,
        text=st.text(min_size=1, max_size=2000),
        author_role=st.none() | short_text,
    ),
    actigraphy_weeks(),
    st.builds(
        RRIntervalSegment,
        start=instants,
        rr_ms=st.lists(st.floats(min_value=1e-3, max_value=10_000), min_size=1, max_size=400).map(
            tuple
        ),
    ),
    st.builds(
        ECGSegment,
        start=instants,
        sampling_rate_hz=st.floats(min_value=1, max_value=10_000),
        values_mv=st.lists(finite, min_size=1, max_size=400).map(tuple),
    ),
    st.builds(
        MoodReport,
        mood=st.integers(0, 10),
        anxiety=st.none() | st.integers(0, 10),
        energy=st.none() | st.integers(0, 10),
        sleep_hours=st.none() | st.floats(0, 24),
        sleep_quality=st.none() | st.integers(0, 10),
        comment=st.none() | st.text(max_size=2000),
    ),
    st.builds(
        GenotypeCallSetRef,
        uri=st.text(min_size=1, max_size=200),
        format=st.sampled_from(list(GenotypeFormat)),
        sample_id=short_text,
        genome_build=st.sampled_from(list(GenomeBuild)),
        sha256=st.from_regex(r"\A[0-9a-f]{64}\Z"),
        n_variants=st.integers(0, 10**9),
    ),
    st.lists(
        st.builds(
            GeneCall,
            gene=st.sampled_from(["CYP2D6", "CYP2C19", "CYP2C9", "CYP2B6", "HLA-A", "HLA-B"]),
            diplotype=st.sampled_from(["*1/*1", "*1/*4x2", "*2/*17", "*15:02/*57:01"]),
            phenotype=st.none() | short_text,
            activity_score=st.none() | st.floats(0, 6),
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda c: c.gene,
    ).map(lambda calls: PGxPanelResult(lab="Lab", panel="Panel", calls=tuple(calls))),
)

_TOPIC_OF = {
    PatientDemographics: "ingest.patient",
    Diagnosis: "ingest.condition",
    QuestionnaireObservation: "ingest.observation",
    MedicationStatement: "ingest.medication",
    ClinicalNote: "ingest.note",
    ActigraphyWeek: "ingest.actigraphy",
    RRIntervalSegment: "ingest.rr_intervals",
    ECGSegment: "ingest.ecg",
    MoodReport: "ingest.mood",
    GenotypeCallSetRef: "ingest.genotype",
    PGxPanelResult: "ingest.pgx",
    WearableDailyRisk: "wearable.daily_risk",
    WearableExplainRequest: "wearable.explain_request",
    WearableAttention: "wearable.attention",
}

producers = st.builds(
    Producer,
    service=st.from_regex(r"\A[a-z][a-z0-9_-]{0,20}\Z"),
    model_name=short_text,
    model_version=short_text,
    run_id=st.none() | st.from_regex(r"\A[0-9a-f]{32}\Z"),
    code_version=short_text,
)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    payload = draw(payloads)
    return Envelope(
        event_id=draw(st.uuids()),
        patient_id=draw(patient_ids),
        topic=_TOPIC_OF[type(payload)],
        observed_at=draw(instants),
        produced_at=draw(instants),
        source=draw(st.text(min_size=1, max_size=100)),
        producer=draw(producers),
        inputs=tuple(draw(st.lists(st.uuids(), max_size=3))),
        payload=payload,
    )

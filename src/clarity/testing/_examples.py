"""Contract-valid example records of every topic, deterministic per seed.

These are small, plausible records for demos, tests and benchmarks. They are
not the synthetic cohort (which has a causal model and ground truth); they
only have to look like what the readers produce.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np

from clarity._version_info import __version__
from clarity.contracts import (
    INSTRUMENTS,
    MINUTES_PER_WEEK,
    ActigraphyWeek,
    Ancestry,
    ClinicalNote,
    CrisisEvidence,
    Diagnosis,
    ECGSegment,
    Envelope,
    GeneCall,
    GenomeBuild,
    GenotypeCallSetRef,
    GenotypeFormat,
    GenotypeModelKind,
    GenotypeTraitRisk,
    GuidanceAction,
    GuidanceRecommendation,
    GuidanceStatus,
    HeadRisk,
    Instrument,
    ItemScore,
    MedicationStatement,
    MedicationStatus,
    MoodReport,
    NotesCrisisAlert,
    NotesPhiReport,
    NotesSummary,
    PatientDemographics,
    Payload,
    PGxGuidance,
    PGxPanelResult,
    PGxPhenotype,
    PGxSource,
    Producer,
    QuestionnaireObservation,
    RRIntervalSegment,
    Sex,
    SnpContribution,
    SummaryCitation,
    SummarySection,
    SummarySentence,
    WearableAttention,
    WearableDailyRisk,
    WearableExplainRequest,
    event_id_for,
)

__all__ = ["EXAMPLE_START", "example_patient_records", "example_producer", "example_records"]

EXAMPLE_START = datetime(2024, 1, 1, tzinfo=UTC)
"""Monday 1 January 2024, the first day of every example patient's record."""

_DRUGS = (
    ("36437", "sertraline", 50.0),
    ("321988", "escitalopram", 10.0),
    ("42347", "bupropion", 150.0),
)
_DIPLOTYPES = {
    "CYP2D6": ("*1/*1", "*1/*4", "*4/*4", "*1/*2"),
    "CYP2C19": ("*1/*1", "*1/*17", "*2/*2", "*1/*2"),
    "CYP2B6": ("*1/*1", "*1/*6", "*6/*6"),
    "CYP2C9": ("*1/*1", "*1/*3", "*1/*2"),
}


def example_producer(model_name: str = "examples") -> Producer:
    """Return the producer recorded on example records.

    Parameters
    ----------
    model_name
        Name of the generator, recorded as the model name.

    Returns
    -------
    Producer
        Lineage naming the ``testing`` service and this code version.
    """
    return Producer(
        service="testing", model_name=model_name, model_version="1", code_version=__version__
    )


def _questionnaire(
    rng: np.random.Generator, instrument: Instrument, severity: float
) -> QuestionnaireObservation:
    spec = INSTRUMENTS[instrument]
    scores = np.clip(np.round(rng.normal(severity * 3, 0.7, len(spec.item_loincs))), 0, 3)
    items = tuple(
        ItemScore(loinc=code, score=int(score))
        for code, score in zip(spec.item_loincs, scores, strict=True)
    )
    return QuestionnaireObservation(
        instrument=instrument,
        panel_loinc=spec.panel_loinc,
        total_loinc=spec.total_loinc,
        total_score=sum(item.score for item in items),
        items=items,
    )


def _actigraphy(rng: np.random.Generator, start: datetime, severity: float) -> ActigraphyWeek:
    minutes = np.arange(MINUTES_PER_WEEK)
    hour = (minutes % 1440) / 60.0
    # Cosinor rhythm peaking mid-afternoon; depression flattens it.
    rhythm = 1 + np.cos(2 * math.pi * (hour - 15) / 24)
    amplitude = 250 * (1 - 0.5 * severity)
    asleep = (hour < 7) | (hour >= 23)
    counts = rng.gamma(2.0, amplitude * rhythm / 2.0 + 1.0)
    counts[asleep] *= rng.random(int(asleep.sum())) < 0.05 + 0.2 * severity
    wear = np.ones(MINUTES_PER_WEEK, dtype=bool)
    gap = int(rng.integers(0, MINUTES_PER_WEEK - 180))
    wear[gap : gap + 120] = False  # a shower or a charge
    counts[~wear] = 0.0
    return ActigraphyWeek(
        start=start,
        timezone="Europe/Oslo",
        counts=tuple(float(round(c, 1)) for c in counts),
        wear=tuple(bool(w) for w in wear),
        device="ActiGraph GT3X+",
    )


def _wearable(
    rng: np.random.Generator, week: ActigraphyWeek, severity: float
) -> list[tuple[str, datetime, Payload]]:
    end = week.start + timedelta(minutes=MINUTES_PER_WEEK)
    wear = np.asarray(week.wear)
    probability = float(round(0.1 + 0.8 * severity, 4))
    attention = np.repeat(rng.gamma(2.0, 1.0, MINUTES_PER_WEEK // 18), 18) * wear
    attention /= attention.sum()
    return [
        (
            "wearable.daily_risk",
            end,
            WearableDailyRisk(
                day=(end - timedelta(days=1)).date(),
                window_start=week.start,
                window_end=end,
                timezone=week.timezone,
                wear_fraction=float(round(wear.mean(), 4)),
                day_wear_fraction=float(round(wear[-1440:].mean(), 4)),
                min_wear_fraction=0.7,
                risks=(HeadRisk(head="depression", probability=probability),),
            ),
        ),
        (
            "wearable.explain_request",
            end + timedelta(hours=1),
            WearableExplainRequest(window_end=end, head="depression", requested_by="examples"),
        ),
        (
            "wearable.attention",
            end,
            WearableAttention(
                window_start=week.start,
                window_end=end,
                timezone=week.timezone,
                head="depression",
                probability=probability,
                patch_minutes=18,
                minutes=tuple(float(a) for a in attention),
            ),
        ),
    ]


def _patient_records(index: int, rng: np.random.Generator) -> list[tuple[str, datetime, Payload]]:
    severity = float(rng.uniform(0.1, 0.9))
    drug_code, drug, dose = _DRUGS[index % len(_DRUGS)]
    start = EXAMPLE_START
    records: list[tuple[str, datetime, Payload]] = [
        (
            "ingest.patient",
            start,
            PatientDemographics(
                birth_year=int(rng.integers(1950, 2005)),
                sex=Sex.female if index % 2 else Sex.male,
                ancestry=Ancestry.european,
                site="example-clinic",
            ),
        )
    ]
    records.append(
        (
            "ingest.condition",
            start,
            Diagnosis(icd10="F32.1", clinical_status="active", onset=start.date()),
        )
    )
    for week, instrument in (
        (0, Instrument.phq9),
        (0, Instrument.gad7),
        (4, Instrument.phq9),
        (4, Instrument.gad7),
    ):
        records.append(
            (
                "ingest.observation",
                start + timedelta(weeks=week, hours=10),
                _questionnaire(rng, instrument, severity * (1 - 0.1 * week)),
            )
        )
    records.append(
        (
            "ingest.medication",
            start + timedelta(days=7),
            MedicationStatement(
                rxnorm=drug_code,
                name=drug,
                status=MedicationStatus.active,
                dose_mg=dose,
                frequency_per_day=1.0,
                route="oral",
                started_on=date(2024, 1, 8),
                reason="F32.1",
            ),
        )
    )
    note_text = (
        "S: Reports low mood for six weeks, poor sleep, reduced appetite. "
        "Denies suicidal ideation.\n"
        f"O: PHQ-9 administered. Affect restricted.\n"
        f"A: Moderate depressive episode (F32.1).\n"
        f"P: Start {drug} {dose:g} mg daily; review in four weeks."
    )
    note_at = start + timedelta(days=7, hours=11)
    note_id = f"note-{index:04d}-1"
    records.append(
        (
            "ingest.note",
            note_at,
            ClinicalNote(note_id=note_id, author_role="psychiatrist", text=note_text),
        )
    )
    records.append(
        (
            "notes.phi_report",
            note_at,
            NotesPhiReport(
                note_id=note_id,
                counts=(),
                redacted_text=note_text,
                shifted_date=note_at.date() - timedelta(days=40),
                redactor_version="1",
            ),
        )
    )
    plan = note_text.index("P: ") + 3
    records.append(
        (
            "notes.summary",
            note_at,
            NotesSummary(
                since=None,
                until=note_at.date(),
                note_ids=(note_id,),
                sentences=(
                    SummarySentence(
                        section=SummarySection.Plan,
                        text=note_text[plan:],
                        citations=(
                            SummaryCitation(note_id=note_id, start=plan, end=len(note_text)),
                        ),
                    ),
                ),
                backend="extractive",
                model_version="extractive-1.0.0",
                retrieval_version="none",
                drafted=1,
                dropped=0,
                drop_reasons=(),
                added_risk=0,
                injections=0,
                fact_check_version="1",
            ),
        )
    )
    if index == 0:
        # One example alert, as the notes service would publish for a later note.
        evidence = "Endorses passive SI, wishes she could go to sleep and not wake up."
        records.append(
            (
                "notes.crisis_alert",
                note_at + timedelta(days=14),
                NotesCrisisAlert(
                    note_id=f"note-{index:04d}-2",
                    level=1,
                    self_harm=False,
                    harm_to_others=False,
                    kinds=("passive",),
                    evidence=(CrisisEvidence(start=0, end=len(evidence), text=evidence),),
                    detector_version="1",
                ),
            )
        )
    actigraphy = _actigraphy(rng, start, severity)
    records.append(("ingest.actigraphy", start, actigraphy))
    records.extend(_wearable(rng, actigraphy, severity))
    rr = 60_000 / rng.normal(70 + 10 * severity, 3, 350)
    records.append(
        (
            "ingest.rr_intervals",
            start + timedelta(hours=9),
            RRIntervalSegment(
                start=start + timedelta(hours=9),
                rr_ms=tuple(float(round(x, 1)) for x in rr),
                device="Polar H10",
            ),
        )
    )
    t = np.arange(2_500) / 250.0
    ecg = 1.2 * np.exp(-(((t % 0.85) - 0.2) ** 2) / 0.0004) + rng.normal(0, 0.02, t.size)
    records.append(
        (
            "ingest.ecg",
            start + timedelta(hours=9),
            ECGSegment(
                start=start + timedelta(hours=9),
                sampling_rate_hz=250.0,
                lead="I",
                values_mv=tuple(float(round(v, 4)) for v in ecg),
                device="Polar H10",
            ),
        )
    )
    for day in range(3):
        records.append(
            (
                "ingest.mood",
                start + timedelta(days=day, hours=20),
                MoodReport(
                    mood=int(np.clip(round(rng.normal(8 - 6 * severity, 1)), 0, 10)),
                    anxiety=int(np.clip(round(rng.normal(2 + 6 * severity, 1)), 0, 10)),
                    energy=int(np.clip(round(rng.normal(7 - 5 * severity, 1)), 0, 10)),
                    sleep_hours=float(round(rng.normal(7.5 - 2 * severity, 0.5), 1)),
                ),
            )
        )
    records.append(
        (
            "ingest.genotype",
            start,
            GenotypeCallSetRef(
                uri="file://examples/cohort.vcf.gz",
                format=GenotypeFormat.vcf,
                sample_id=f"EX{index:04d}",
                genome_build=GenomeBuild.grch38,
                sha256=hashlib.sha256(b"examples/cohort.vcf.gz").hexdigest(),
                n_variants=20_000,
            ),
        )
    )
    panel = PGxPanelResult(
        lab="Example PGx Lab",
        panel="Psychiatry PGx panel v1",
        calls=tuple(
            GeneCall(gene=gene, diplotype=str(rng.choice(options)))
            for gene, options in _DIPLOTYPES.items()
        ),
    )
    records.append(("ingest.pgx", start, panel))
    records.extend(_pgx(panel, start + timedelta(minutes=10)))
    records.append(("genotype.trait_risk", start, _trait_risk(index, rng)))
    return records


def _trait_risk(index: int, rng: np.random.Generator) -> GenotypeTraitRisk:
    probability = float(round(rng.uniform(0.05, 0.6), 4))
    snps = [
        SnpContribution(
            variant_id=f"chr1:{10_000_000 + 1_000 * k}:A:G",
            chrom="chr1",
            pos=10_000_000 + 1_000 * k,
            effect_allele="G",
            dosage=int(rng.integers(0, 3)),
            contribution=float(round(rng.normal(0, 0.2), 4)),
        )
        for k in range(3)
    ]
    return GenotypeTraitRisk(
        trait="depression_liability",
        model_kind=GenotypeModelKind.ensemble,
        binary=True,
        score=probability,
        interval_lower=round(probability * 0.8, 4),
        interval_upper=round(min(1.0, probability * 1.2), 4),
        percentile=float(round(100 * probability, 1)),
        reference_size=500,
        top_snps=tuple(sorted(snps, key=lambda s: -abs(s.contribution))),
        n_snps=120,
        held_out_metric="auc",
        held_out_value=0.71,
        baseline_held_out_value=0.69,
        model_version=hashlib.sha256(b"examples/model").hexdigest(),
        panel_version=hashlib.sha256(b"examples/panel").hexdigest(),
        sample_id=f"EX{index:04d}",
    )


_CYP2C19_EXAMPLES = {
    "*1/*1": ("Normal Metabolizer", GuidanceAction.standard_dose),
    "*1/*17": ("Rapid Metabolizer", GuidanceAction.standard_dose),
    "*1/*2": ("Intermediate Metabolizer", GuidanceAction.standard_dose),
    "*2/*2": ("Poor Metabolizer", GuidanceAction.use_alternative),
}


def _pgx(panel: PGxPanelResult, when: datetime) -> list[tuple[str, datetime, Payload]]:
    call = next(c for c in panel.calls if c.gene == "CYP2C19")
    phenotype, action = _CYP2C19_EXAMPLES[call.diplotype]
    return [
        (
            "pgx.phenotype",
            when,
            PGxPhenotype(
                gene="CYP2C19",
                source=PGxSource.panel,
                called=True,
                diplotypes=(call.diplotype,),
                phenotype=phenotype,
                adjusted_phenotype=phenotype,
            ),
        ),
        (
            "pgx.guidance",
            when,
            PGxGuidance(
                drug="escitalopram",
                genes=("CYP2C19",),
                phenotypes={"CYP2C19": phenotype},
                phenoconverted=False,
                status=GuidanceStatus.complete,
                recommendations=(
                    GuidanceRecommendation(
                        population="general", action=action, strength="Strong", evidence_level="A"
                    ),
                ),
                citations=(
                    "PMID 37032427: CPIC guideline for serotonin reuptake inhibitors (2023)",
                ),
                guideline="CPIC SSRI/SNRI (2023)",
                guidance_version="examples",
            ),
        ),
    ]


def example_patient_records(index: int, seed: int = 0) -> list[Envelope]:
    """Return the example records of one patient.

    Parameters
    ----------
    index
        The patient's number; its patient id is ``EX<seed>-<index>``.
    seed
        Seed of the random values (combined with ``index``, so each patient is
        the same whichever others are generated).

    Returns
    -------
    list of Envelope
        About two dozen records over the ingest, wearable, PGx and notes
        topics, in time order per topic.
    """
    rng = np.random.default_rng([seed, index])
    producer = example_producer()
    patient_id = f"EX{seed:03d}-{index:04d}"
    return [
        Envelope.new(
            event_id=event_id_for("example", str(seed), patient_id, str(position)),
            topic=topic,
            patient_id=patient_id,
            observed_at=observed_at,
            produced_at=observed_at + timedelta(minutes=5),
            source=f"examples:{patient_id}:{position}",
            producer=producer,
            payload=payload,
        )
        for position, (topic, observed_at, payload) in enumerate(_patient_records(index, rng))
    ]


def example_records(n_patients: int = 3, seed: int = 0) -> list[Envelope]:
    """Return contract-valid records of every topic for a few patients.

    The same arguments always give equal records, with the same event ids, so
    publishing them twice shows the bus's idempotency.

    Parameters
    ----------
    n_patients
        Number of example patients; each gets 19 records over all fourteen topics.
    seed
        Seed of the random values.

    Returns
    -------
    list of Envelope
        Records in patient order (see :func:`example_patient_records`).

    Examples
    --------
    >>> records = example_records(n_patients=1)
    >>> len(records), len({r.topic for r in records})
    (25, 20)
    """
    if n_patients < 0:
        raise ValueError(
            f"The 'n_patients' parameter must be an int >= 0. Got {n_patients} instead."
        )
    return [r for index in range(n_patients) for r in example_patient_records(index, seed)]

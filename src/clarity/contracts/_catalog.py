"""Registration of every topic Clarity knows, in one place.

A service that adds a topic declares its payload in a module of this package
and registers it here, so that the whole contract is visible in one table.
"""

from __future__ import annotations

from clarity.contracts._genotype import GenotypeTraitRisk
from clarity.contracts._ingest import (
    ActigraphyWeek,
    ClinicalNote,
    Diagnosis,
    ECGSegment,
    GenotypeCallSetRef,
    MedicationStatement,
    MoodReport,
    PatientDemographics,
    PGxPanelResult,
    QuestionnaireObservation,
    RRIntervalSegment,
)
from clarity.contracts._notes import NotesCrisisAlert, NotesPhiReport, NotesSummary
from clarity.contracts._pgx import PGxGuidance, PGxPhenotype
from clarity.contracts._topics import register_topic
from clarity.contracts._wearable import (
    WearableAttention,
    WearableDailyRisk,
    WearableExplainRequest,
)

__all__: list[str] = []

register_topic("ingest.patient", PatientDemographics, "Patient demographics, pseudonymised.")
register_topic("ingest.observation", QuestionnaireObservation, "Scored PHQ-9 and GAD-7.")
register_topic("ingest.condition", Diagnosis, "Coded diagnoses (ICD-10).")
register_topic("ingest.medication", MedicationStatement, "Medication statements.")
register_topic("ingest.note", ClinicalNote, "Clinical notes as written (may contain PHI).")
register_topic("ingest.actigraphy", ActigraphyWeek, "Minute-level actigraphy, one week each.")
register_topic("ingest.rr_intervals", RRIntervalSegment, "Beat-to-beat RR intervals.")
register_topic("ingest.ecg", ECGSegment, "Single-lead ECG segments.")
register_topic("ingest.mood", MoodReport, "Daily mood self-reports.")
register_topic("ingest.genotype", GenotypeCallSetRef, "References to genotype call sets.")
register_topic("ingest.pgx", PGxPanelResult, "Pharmacogenomic lab panel results.")
register_topic(
    "wearable.daily_risk", WearableDailyRisk, "PAT risk per head for the 7 days ending each day."
)
register_topic(
    "wearable.explain_request", WearableExplainRequest, "Requests to explain one scored window."
)
register_topic(
    "wearable.attention", WearableAttention, "PAT attention per minute of one explained window."
)
register_topic(
    "genotype.trait_risk",
    GenotypeTraitRisk,
    "Genetic risk per patient and trait, with its top SNPs.",
)
register_topic("pgx.phenotype", PGxPhenotype, "Pharmacogene calls and phenotypes per patient.")
register_topic("pgx.guidance", PGxGuidance, "CPIC guidance per patient and psychiatric drug.")
register_topic(
    "notes.crisis_alert", NotesCrisisAlert, "Crisis language found in a note, with its evidence."
)
register_topic("notes.phi_report", NotesPhiReport, "A note's PHI replaced, with counts per kind.")
register_topic(
    "notes.summary", NotesSummary, "A fact-checked summary of a patient's notes, with citations."
)

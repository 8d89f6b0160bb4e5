"""The one contract of Clarity: every record on the bus, and its schemas.

Every record is an :class:`Envelope` whose ``payload`` type is fixed by its
topic (:data:`TOPICS`). Avro and JSON schemas are generated from these models
(:func:`avro_schema`, :func:`json_schema`) and checked in under ``schemas/``.
"""

from clarity.contracts import _catalog  # noqa: F401  (registers the topics)
from clarity.contracts._avro import (
    AvroCodec,
    Record,
    avro_schema,
    from_avro,
    schema_fingerprint,
    to_avro,
)
from clarity.contracts._deadletter import DeadLetter, FieldErrorRecord, OriginalFormat
from clarity.contracts._envelope import CLARITY_NAMESPACE, Envelope, Producer, event_id_for
from clarity.contracts._ingest import (
    INSTRUMENTS,
    MINUTES_PER_WEEK,
    ActigraphyWeek,
    Ancestry,
    ClinicalNote,
    ConditionStatus,
    Diagnosis,
    ECGSegment,
    GeneCall,
    GenomeBuild,
    GenotypeCallSetRef,
    GenotypeFormat,
    Instrument,
    InstrumentSpec,
    ItemScore,
    MedicationStatement,
    MedicationStatus,
    MoodReport,
    PatientDemographics,
    PGxPanelResult,
    QuestionnaireObservation,
    RRIntervalSegment,
    Sex,
)
from clarity.contracts._requests import explain_request
from clarity.contracts._schema_files import (
    SchemaProblem,
    check_compatibility,
    check_schema_files,
    json_schema,
    release_schemas,
    render_schema_files,
    write_schema_files,
)
from clarity.contracts._topics import (
    DEAD_LETTER_TOPIC,
    TOPICS,
    Payload,
    TopicSpec,
    register_topic,
    topic_spec,
)
from clarity.contracts._types import ContractModel, ensure_utc, loinc_check_digit
from clarity.contracts._validate import field_errors, validate_dead_letter, validate_envelope
from clarity.contracts._wearable import (
    HeadName,
    HeadRisk,
    WearableAttention,
    WearableDailyRisk,
    WearableExplainRequest,
)

__all__ = [
    "CLARITY_NAMESPACE",
    "DEAD_LETTER_TOPIC",
    "INSTRUMENTS",
    "MINUTES_PER_WEEK",
    "TOPICS",
    "ActigraphyWeek",
    "Ancestry",
    "AvroCodec",
    "ClinicalNote",
    "ConditionStatus",
    "ContractModel",
    "DeadLetter",
    "Diagnosis",
    "ECGSegment",
    "Envelope",
    "FieldErrorRecord",
    "GeneCall",
    "GenomeBuild",
    "GenotypeCallSetRef",
    "GenotypeFormat",
    "HeadName",
    "HeadRisk",
    "Instrument",
    "InstrumentSpec",
    "ItemScore",
    "MedicationStatement",
    "MedicationStatus",
    "MoodReport",
    "OriginalFormat",
    "PGxPanelResult",
    "PatientDemographics",
    "Payload",
    "Producer",
    "QuestionnaireObservation",
    "RRIntervalSegment",
    "Record",
    "SchemaProblem",
    "Sex",
    "TopicSpec",
    "WearableAttention",
    "WearableDailyRisk",
    "WearableExplainRequest",
    "avro_schema",
    "check_compatibility",
    "check_schema_files",
    "ensure_utc",
    "event_id_for",
    "explain_request",
    "field_errors",
    "from_avro",
    "json_schema",
    "loinc_check_digit",
    "register_topic",
    "release_schemas",
    "render_schema_files",
    "schema_fingerprint",
    "to_avro",
    "topic_spec",
    "validate_dead_letter",
    "validate_envelope",
    "write_schema_files",
]

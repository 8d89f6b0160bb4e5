"""The dead-letter record: a rejected record kept whole, with the reason."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from clarity.contracts._types import (
    ContractModel,
    EventId,
    PatientId,
    Sha256Hex,
    ShortText,
    UtcDatetime,
)

__all__ = ["DeadLetter", "FieldErrorRecord", "OriginalFormat"]


class OriginalFormat(StrEnum):
    """How the rejected bytes are encoded."""

    avro = "avro"
    json = "json"
    text = "text"
    binary = "binary"


class FieldErrorRecord(ContractModel):
    """One reason a record was rejected (the contract form of ``clarity.errors.FieldError``)."""

    loc: Annotated[str, StringConstraints(max_length=512)] = Field(
        description="Dotted path of the field; empty for a record-level problem."
    )
    msg: Annotated[str, StringConstraints(max_length=4_000)] = Field(description="Why, in words.")
    type: Annotated[str, StringConstraints(max_length=128)] = Field(
        description="Machine-readable error type."
    )


class DeadLetter(ContractModel):
    """A record some stage refused, kept with the reason so that nothing is lost.

    Dead letters are written to the ``deadletter`` topic; they are operational
    records, not facts about a patient, so their patient id is optional.
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    event_id: EventId = Field(description="Id of this dead letter (deterministic per rejection).")
    rejected_event_id: EventId | None = Field(
        default=None, description="event_id of the rejected record, when it had one."
    )
    source_topic: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="Topic (or input stream) the record was on or meant for."
    )
    patient_id: PatientId | None = Field(default=None, description="Patient, when known.")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=4_000)] = Field(
        description="Why the record was rejected."
    )
    errors: tuple[FieldErrorRecord, ...] = Field(default=(), description="Field-level reasons.")
    original: bytes = Field(description="The rejected record exactly as received.")
    original_format: OriginalFormat = Field(description="How 'original' is encoded.")
    original_schema_fingerprint: Sha256Hex | None = Field(
        default=None, description="Writer schema of an Avro original, to decode it later."
    )
    rejected_by: ShortText = Field(description="Consumer group or service that refused it.")
    rejected_at: UtcDatetime

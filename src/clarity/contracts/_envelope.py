"""The bus envelope: identity, time, lineage and the typed payload of a record."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    Field,
    SerializeAsAny,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from clarity.contracts._topics import TOPICS, Payload
from clarity.contracts._types import (
    ContractModel,
    EventId,
    PatientId,
    ServiceName,
    ShortText,
    TopicName,
    UtcDatetime,
)

__all__ = ["CLARITY_NAMESPACE", "Envelope", "Producer", "event_id_for"]

CLARITY_NAMESPACE = uuid.UUID("5c1a7e0d-4b8e-5a43-9f7c-3a2e1d6b0c11")
"""UUID namespace of deterministic event ids (:func:`event_id_for`)."""


def event_id_for(*parts: str) -> uuid.UUID:
    """Derive a stable event id from the identity of the source datum.

    Publishing is idempotent on ``event_id``: a reader that derives the id from
    what it read (file digest, FHIR resource id, row number) can re-ingest the
    same input any number of times and the bus keeps one copy.

    Parameters
    ----------
    *parts
        Strings that together identify the datum, e.g. the source file digest
        and the row number.

    Returns
    -------
    uuid.UUID
        A version-5 UUID in :data:`CLARITY_NAMESPACE`.

    Examples
    --------
    >>> event_id_for("fhir", "Observation/42") == event_id_for("fhir", "Observation/42")
    True
    """
    if not parts:
        raise ValueError("event_id_for needs at least one part to identify the datum.")
    return uuid.uuid5(CLARITY_NAMESPACE, "\x1f".join(parts))


class Producer(ContractModel):
    """Who computed a record: the service, the model and the code (lineage)."""

    service: ServiceName
    model_name: ShortText = Field(
        description="Name of the model or reader that produced the record, e.g. 'fhir-r4'."
    )
    model_version: ShortText = Field(
        description="Version of that model: a registry version or the reader's code version."
    )
    run_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = Field(
        default=None,
        description="Model-registry run id of the model; null for readers that have none.",
    )
    code_version: ShortText = Field(description="Version of the Clarity code that ran.")


class Envelope(ContractModel):
    """One record on the feature bus.

    The payload type is fixed by the topic (see :data:`TOPICS`): a mapping given
    as ``payload`` is validated as that topic's payload model, and a payload
    model of another topic is refused.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> from clarity.contracts import MoodReport
    >>> record = Envelope.new(
    ...     topic="ingest.mood",
    ...     patient_id="P0001",
    ...     observed_at=datetime(2024, 5, 1, 20, 0, tzinfo=UTC),
    ...     source="app:ema",
    ...     producer=Producer(service="ingest", model_name="ema-csv",
    ...                       model_version="1", code_version="0.1.0"),
    ...     payload=MoodReport(mood=4, anxiety=6, energy=3),
    ... )
    >>> record.payload.mood
    4
    """

    event_id: EventId
    patient_id: PatientId
    topic: TopicName
    observed_at: UtcDatetime = Field(
        description="Event time: when the underlying measurement happened (UTC)."
    )
    produced_at: UtcDatetime = Field(
        description="Processing time: when this record was computed (UTC)."
    )
    source: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description=(
            "Where the data came from: a file and row, a FHIR resource, a device, "
            "or 'derived' for records computed from other records."
        )
    )
    producer: Producer = Field(description="Lineage: the service, model and code that made it.")
    inputs: tuple[EventId, ...] = Field(
        default=(), description="Event ids of the records this one was computed from (lineage)."
    )
    payload: SerializeAsAny[Payload] = Field(description="The topic's typed body.")

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_for_topic(cls, value: Any, info: ValidationInfo) -> Any:
        topic = info.data.get("topic")
        if topic is None:
            raise ValueError("cannot be checked because the topic is missing or invalid")
        expected = TOPICS[topic].payload
        if isinstance(value, expected):
            return value
        if isinstance(value, Payload):
            raise ValueError(
                f"a {type(value).__name__} payload does not belong on topic {topic!r}, "
                f"which carries {expected.__name__}"
            )
        return expected.model_validate(value)

    @model_validator(mode="after")
    def _not_its_own_input(self) -> Self:
        if self.event_id in self.inputs:
            raise ValueError(f"event {self.event_id} lists itself among its inputs")
        return self

    @classmethod
    def new(
        cls,
        *,
        topic: str,
        patient_id: str,
        observed_at: datetime,
        source: str,
        producer: Producer,
        payload: Payload,
        inputs: Iterable[uuid.UUID] = (),
        event_id: uuid.UUID | None = None,
        produced_at: datetime | None = None,
    ) -> Envelope:
        """Build an envelope, filling in the event id and processing time.

        Parameters
        ----------
        topic
            The topic; it fixes the payload type.
        patient_id
            Pseudonymous patient id.
        observed_at
            When the underlying measurement happened (timezone-aware).
        source
            Where the data came from.
        producer
            Lineage of the producing service and model.
        payload
            The body.
        inputs
            Event ids this record was computed from.
        event_id
            Idempotency key; a random UUID when omitted. Pass
            :func:`event_id_for` of the source identity to make re-ingest a no-op.
        produced_at
            Processing time; now when omitted.

        Returns
        -------
        Envelope
            The validated record.
        """
        return cls(
            event_id=event_id if event_id is not None else uuid.uuid4(),
            patient_id=patient_id,
            topic=topic,
            observed_at=observed_at,
            produced_at=produced_at if produced_at is not None else datetime.now(UTC),
            source=source,
            producer=producer,
            inputs=tuple(inputs),
            payload=payload,
        )

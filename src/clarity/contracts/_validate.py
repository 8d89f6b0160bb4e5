"""Validation at every ingress and egress, with errors that name field and reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from clarity.contracts._deadletter import DeadLetter
from clarity.contracts._envelope import Envelope
from clarity.errors import ContractViolation, FieldError

__all__ = ["field_errors", "validate_dead_letter", "validate_envelope"]


def field_errors(error: ValidationError) -> list[FieldError]:
    """Translate a pydantic validation error into Clarity field errors.

    Parameters
    ----------
    error
        The pydantic error.

    Returns
    -------
    list of FieldError
        One per failing field, with a dotted location and the received value.
    """
    result = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if "input" in item and item["type"] not in ("missing", "extra_forbidden"):
            received = repr(item["input"])
            if len(received) > 120:
                received = received[:117] + "..."
            message = f"{message} (got {received})"
        result.append(FieldError(loc=loc, msg=message, type=item["type"]))
    return result


def _plain(record: Any) -> Any:
    # Re-validating from plain data catches instances built with model_construct
    # or from another module's copy of a model.
    if isinstance(record, Envelope | DeadLetter):
        return record.model_dump(warnings=False)  # validated again just below
    return record


def _record_id(data: Any) -> str | None:
    if isinstance(data, Mapping):
        value = data.get("event_id")
        return None if value is None else str(value)
    return None


def validate_envelope(record: Envelope | Mapping[str, Any]) -> Envelope:
    """Validate a record against the contract of its topic.

    Parameters
    ----------
    record
        An envelope, or its fields as a mapping (e.g. parsed JSON).

    Returns
    -------
    Envelope
        The validated record.

    Raises
    ------
    ContractViolation
        Naming the topic, the record and every failing field.

    Examples
    --------
    >>> validate_envelope({"topic": "ingest.mood"})
    Traceback (most recent call last):
    ...
    clarity.errors.ContractViolation: Record for topic 'ingest.mood' violates the contract: ...
    """
    data = _plain(record)
    try:
        return Envelope.model_validate(data)
    except ValidationError as error:
        topic = data.get("topic") if isinstance(data, Mapping) else None
        where = f"topic {topic!r}" if isinstance(topic, str) else "an unknown topic"
        raise ContractViolation(
            f"Record for {where} violates the contract",
            topic=topic if isinstance(topic, str) else None,
            record_id=_record_id(data),
            errors=field_errors(error),
        ) from error


def validate_dead_letter(record: DeadLetter | Mapping[str, Any]) -> DeadLetter:
    """Validate a dead letter.

    Parameters
    ----------
    record
        A dead letter or its fields.

    Returns
    -------
    DeadLetter
        The validated record.

    Raises
    ------
    ContractViolation
        Naming every failing field.
    """
    data = _plain(record)
    try:
        return DeadLetter.model_validate(data)
    except ValidationError as error:
        raise ContractViolation(
            "Dead letter violates the contract",
            topic="deadletter",
            record_id=_record_id(data),
            errors=field_errors(error),
        ) from error

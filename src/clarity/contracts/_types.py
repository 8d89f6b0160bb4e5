"""Field types shared by every record, each declared once.

A field that appears in more than one record (a patient id, a UTC timestamp, a
LOINC code) is an ``Annotated`` type here, carrying its validation and its
description. The Avro and JSON schemas read the description from the same place,
so the documentation of a field cannot drift from its check.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints

__all__ = [
    "ContractModel",
    "EventId",
    "FiniteFloat",
    "Icd10Code",
    "LoincCode",
    "NonNegativeFloat",
    "PatientId",
    "RxNormCode",
    "ServiceName",
    "Sha256Hex",
    "ShortText",
    "StrictInt",
    "TopicName",
    "UtcDatetime",
    "ensure_utc",
    "loinc_check_digit",
]


class ContractModel(BaseModel):
    """Base of every contract record: immutable, and unknown fields are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` converted to UTC, refusing naive datetimes.

    Parameters
    ----------
    value
        A timezone-aware datetime in any zone.

    Returns
    -------
    datetime
        The same instant with ``tzinfo=UTC``.

    Raises
    ------
    ValueError
        If ``value`` has no timezone: a naive time is ambiguous across sites and
        daylight-saving changes, so it is never guessed.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> ensure_utc(datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2024, 3, 1, 7, 0, tzinfo=datetime.timezone.utc)
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"Timestamps must be timezone-aware (UTC). Got the naive datetime "
            f"{value.isoformat()} instead; attach a timezone, e.g. "
            f"datetime(..., tzinfo=datetime.UTC)."
        )
    return value.astimezone(UTC)


def loinc_check_digit(number: str) -> int:
    """Compute the LOINC mod-10 check digit of the part before the hyphen.

    Parameters
    ----------
    number
        The digits of a LOINC code before its hyphen, e.g. ``"44261"``.

    Returns
    -------
    int
        The check digit LOINC assigns, e.g. ``6`` for PHQ-9 total ``44261-6``.

    Examples
    --------
    >>> loinc_check_digit("44261")
    6
    """
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            digit = digit - 9 if digit > 9 else digit
        total += digit
    return (10 - total % 10) % 10


@lru_cache(maxsize=4096)  # a few hundred codes recur on every record
def _check_loinc(code: str) -> str:
    number, check = code.split("-")
    expected = loinc_check_digit(number)
    if int(check) != expected:
        raise ValueError(
            f"LOINC code {code!r} fails its check digit (expected {number}-{expected}); "
            f"it is mistyped."
        )
    return code


def _check_topic(value: str) -> str:
    # Imported here: the topic table imports the payload modules, which import this one.
    from clarity.contracts._topics import TOPICS

    if value not in TOPICS:
        known = ", ".join(sorted(TOPICS))
        raise ValueError(f"Unknown topic {value!r}. Known topics: {known}")
    return value


UtcDatetime = Annotated[
    datetime,
    AfterValidator(ensure_utc),
    Field(description="A timezone-aware instant, stored in UTC with microsecond precision."),
]

EventId = Annotated[
    uuid.UUID,
    Field(description="UUID of a bus record; the idempotency key of publishing."),
]

PatientId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$"),
    Field(
        description=(
            "Pseudonymous patient identifier, never a name or record number: 3 to 64 "
            "characters from letters, digits and '._:-', starting with a letter or digit."
        )
    ),
]

TopicName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$", max_length=128),
    AfterValidator(_check_topic),
    Field(description="Bus topic, dot-separated lower-case tokens, e.g. 'ingest.observation'."),
]

ServiceName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$"),
    Field(description="Name of a Clarity service or reader, lower case, e.g. 'ingest'."),
]

LoincCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{1,7}-[0-9]$"),
    AfterValidator(_check_loinc),
    Field(description="LOINC code with its check digit, e.g. '44261-6' (PHQ-9 total score)."),
]

RxNormCode = Annotated[
    str,
    StringConstraints(pattern=r"^[1-9][0-9]{0,9}$"),
    Field(description="RxNorm concept unique identifier (RXCUI), digits only, e.g. '36437'."),
]

Icd10Code = Annotated[
    str,
    StringConstraints(pattern=r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$"),
    Field(description="ICD-10 code, e.g. 'F32.1' (moderate depressive episode)."),
]

Sha256Hex = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="SHA-256 digest as 64 lower-case hexadecimal characters."),
]

ShortText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256),
    Field(description="A short non-empty label."),
]

StrictInt = Annotated[int, Strict()]

FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]

NonNegativeFloat = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]

"""Daily mood self-reports exported by an EMA app: one row per patient and day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from clarity.contracts import MoodReport, OriginalFormat
from clarity.errors import FieldError
from clarity.ingest._core import (
    Accepted,
    Item,
    ReadContext,
    Rejected,
    content_digest,
    rejection_from,
)
from clarity.ingest._csv import read_rows

__all__ = ["read_mood"]

_ID_COLUMNS = ("participant_id", "patient_id", "subject_id")
_SCALES = ("mood", "anxiety", "energy", "sleep_quality")


def _integer(row: dict[str, str], column: str) -> int | None:
    text = row.get(column, "")
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{column}: {text!r} is not a whole number on the 0-10 scale") from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"date: {text!r} is not a date (YYYY-MM-DD)") from None


def _hours(text: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"sleep_hours: {text!r} is not a number of hours") from None


def read_mood(context: ReadContext) -> Iterator[Item]:
    """Read a mood-report CSV (columns participant_id, date, mood, and optional scales).

    The report of a day is placed at local noon of that day, in the patient's
    time zone when the context knows it (a cohort manifest), else the context's.
    ``sleep_hours`` above 24 is refused as a unit error (minutes?).

    Parameters
    ----------
    context
        The file and how to name and place its records.

    Yields
    ------
    Accepted or Rejected
        One per row.
    """
    default = context.timezone or "UTC"
    for number, row, line in read_rows(context.path):
        location = f"line {number}"
        patient = next((row[c] for c in _ID_COLUMNS if row.get(c)), None) or context.patient
        try:
            if not patient:
                raise ValueError("participant_id: missing")
            day = _day(row.get("date", ""))
            sleep = _hours(row.get("sleep_hours", ""))
            if sleep is not None and sleep > 24:
                raise ValueError(f"sleep_hours: {sleep:g} is more than a day; is it in minutes?")
            values = {c: _integer(row, c) for c in _SCALES}
            if values["mood"] is None:
                raise ValueError("mood: missing")
            payload = MoodReport(
                mood=values["mood"],
                anxiety=values["anxiety"],
                energy=values["energy"],
                sleep_hours=sleep,
                sleep_quality=values["sleep_quality"],
                comment=row.get("comment") or None,
            )
            yield Accepted(
                context.envelope(
                    reader="mood",
                    topic="ingest.mood",
                    source_patient=patient,
                    observed_at=datetime.combine(
                        day, time(12), tzinfo=ZoneInfo(context.zones.get(patient, default))
                    ).astimezone(UTC),
                    locator=location,
                    identity=(day.isoformat(), content_digest(line)),
                    payload=payload,
                ),
                original=line.encode(),
                original_format=OriginalFormat.text,
            )
        except ValidationError as error:
            yield rejection_from(
                error,
                location,
                line.encode(),
                topic="ingest.mood",
                patient_id=context.pseudonym(patient) if patient else None,
            )
        except ValueError as error:
            field, _, reason = str(error).partition(": ")
            yield Rejected(
                location=location,
                reason=str(error),
                original=line.encode(),
                topic="ingest.mood",
                errors=(FieldError(field if reason else "", reason or str(error)),),
                patient_id=context.pseudonym(patient) if patient else None,
            )

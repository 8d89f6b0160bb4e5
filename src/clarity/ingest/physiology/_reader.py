"""Beat-to-beat RR intervals and single-lead ECG exports (Polar H10 style).

Timestamps must carry a UTC offset (ISO 8601), or the file's time zone must be
given. A recording is cut into segments where beats or samples stop for more
than a few seconds; each segment is one record.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from clarity.contracts import ECGSegment, RRIntervalSegment
from clarity.errors import FieldError
from clarity.ingest._core import (
    Accepted,
    Item,
    ReadContext,
    Rejected,
    content_digest,
    rejection_from,
)
from clarity.ingest._csv import open_text, read_rows

__all__ = ["read_ecg", "read_rr"]

_RR_MS = ("rr_ms", "rr-interval [ms]", "rr interval (ms)", "rr")
_RR_S = ("rr_s", "rr (s)", "rr-interval [s]")
_ECG_UV = ("ecg_uv", "ecg [uv]", "ecg (uv)")
_ECG_MV = ("ecg_mv", "ecg [mv]", "ecg (mv)", "ecg")
_TIME = ("timestamp", "phone timestamp", "time")
_BEAT_GAP_S = 5.0


def _time(text: str, zone: str | None) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        if zone is None:
            raise ValueError(f"timestamp: {text!r} has no UTC offset and no time zone was given")
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC)


def _number(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{field}: {text!r} is not a finite number")
    return value


def _column(row: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in row), None)


def _bad_row(number: int, line: str, error: Exception, topic: str) -> Rejected:
    field, _, reason = str(error).partition(": ")
    return Rejected(
        location=f"line {number}",
        reason=str(error),
        original=line.encode(),
        topic=topic,
        errors=(FieldError(field if reason else "", reason or str(error)),),
    )


def read_rr(context: ReadContext) -> Iterator[Item]:
    """Read an RR-interval export (one row per beat: timestamp and interval).

    Parameters
    ----------
    context
        The file; ``patient`` must be known.

    Yields
    ------
    Accepted or Rejected
        One record per uninterrupted segment; rejections for bad rows, or for
        the whole file when its values are in the wrong unit.
    """
    beats: list[tuple[int, datetime, float, str]] = []
    scale = 1.0
    for number, row, line in read_rows(context.path):
        ms = _column(row, _RR_MS)
        seconds = _column(row, _RR_S)
        stamp = _column(row, _TIME)
        try:
            if stamp is None or (ms is None and seconds is None):
                raise ValueError(
                    f"header: needs a timestamp and an RR column ({_RR_MS + _RR_S}), "
                    f"got {sorted(row)}"
                )
            scale = 1000.0 if ms is None else 1.0
            value = _number(row[ms or seconds or ""], "rr_ms" if ms else "rr_s") * scale
            if not 0 < value <= 10_000:
                raise ValueError(f"rr_ms: {value:g} is outside (0, 10000] milliseconds")
            moment = _time(row[stamp], context.timezone)
            if beats and moment == beats[-1][1]:
                raise ValueError(
                    f"timestamp: {row[stamp]!r} repeats the beat at line {beats[-1][0]} (duplicate)"
                )
            beats.append((number, moment, value, line))
        except ValueError as error:
            yield _bad_row(number, line, error, "ingest.rr_intervals")
    if beats and statistics.median(b[2] for b in beats) < 10:
        yield Rejected(
            location="file",
            reason="RR intervals have a median below 10 ms: they look like seconds in a "
            "millisecond column; nothing from this file was ingested",
            original=context.path.name.encode(),
            topic="ingest.rr_intervals",
            errors=(FieldError("rr_ms", "wrong unit (seconds?)", "unit"),),
        )
        return
    segment: list[tuple[int, datetime, float, str]] = []
    for beat in [*beats, None]:
        if segment and (
            beat is None
            or (beat[1] - (segment[-1][1] + timedelta(milliseconds=segment[-1][2]))).total_seconds()
            > _BEAT_GAP_S
            or beat[1] < segment[-1][1]
        ):
            yield _rr_segment(context, segment)
            segment = []
        if beat is not None:
            segment.append(beat)


def _rr_segment(context: ReadContext, beats: list[tuple[int, datetime, float, str]]) -> Item:
    location = f"lines {beats[0][0]}-{beats[-1][0]}"
    try:
        payload = RRIntervalSegment(start=beats[0][1], rr_ms=tuple(b[2] for b in beats))
    except ValidationError as error:
        return rejection_from(
            error, location, "\n".join(b[3] for b in beats).encode(), topic="ingest.rr_intervals"
        )
    assert context.patient is not None
    return Accepted(
        context.envelope(
            reader="rr",
            topic="ingest.rr_intervals",
            source_patient=context.patient,
            observed_at=beats[0][1],
            locator=location,
            identity=(beats[0][1].isoformat(), content_digest("\n".join(b[3] for b in beats))),
            payload=payload,
        )
    )


def _declared_rate(context: ReadContext) -> float | None:
    with open_text(context.path) as handle:
        for line in handle:
            if not line.startswith("#"):
                return None
            key, _, value = line.lstrip("# ").partition("=")
            if key.strip() == "sampling_rate_hz":
                found = re.match(r"\s*([0-9]+(?:\.[0-9]+)?)", value)
                return float(found.group(1)) if found else None
    return None


def read_ecg(context: ReadContext) -> Iterator[Item]:
    """Read an ECG export (one row per sample, in microvolts or millivolts).

    The sampling rate comes from a ``# sampling_rate_hz=`` comment, or from the
    median spacing of the timestamps.

    Parameters
    ----------
    context
        The file; ``patient`` must be known.

    Yields
    ------
    Accepted or Rejected
        One record per uninterrupted segment; rejections for bad rows.
    """
    samples: list[tuple[int, datetime, float]] = []
    for number, row, line in read_rows(context.path):
        uv = _column(row, _ECG_UV)
        mv = _column(row, _ECG_MV)
        stamp = _column(row, _TIME)
        try:
            if stamp is None or (uv is None and mv is None):
                raise ValueError(f"header: needs a timestamp and an ECG column, got {sorted(row)}")
            value = _number(row[uv], "ecg_uv") / 1000.0 if uv else _number(row[mv or ""], "ecg_mv")
            samples.append((number, _time(row[stamp], context.timezone), value))
        except ValueError as error:
            yield _bad_row(number, line, error, "ingest.ecg")
    if len(samples) < 2:
        return
    rate = _declared_rate(context)
    if rate is None:
        # Average over the recording, not the median step: exports round timestamps to
        # milliseconds or stamp whole batches of samples with one time.
        steps = [(b[1] - a[1]).total_seconds() for a, b in pairwise(samples)]
        within = [s for s in steps if s <= 1.0]
        if not within or sum(within) <= 0:
            yield Rejected(
                location="file",
                reason="the sampling rate cannot be inferred from the timestamps; add a "
                "'# sampling_rate_hz=' line",
                original=context.path.name.encode(),
                topic="ingest.ecg",
                errors=(FieldError("sampling_rate_hz", "unknown"),),
            )
            return
        rate = round(len(within) / sum(within), 3)
    gap = max(3.0 / rate, 1.5)
    start = 0
    for k in range(1, len(samples) + 1):
        if k == len(samples) or (samples[k][1] - samples[k - 1][1]).total_seconds() > gap:
            yield _ecg_segment(context, samples[start:k], rate)
            start = k


def _ecg_segment(
    context: ReadContext, samples: list[tuple[int, datetime, float]], rate: float
) -> Item:
    location = f"lines {samples[0][0]}-{samples[-1][0]}"
    values = tuple(s[2] for s in samples)
    try:
        payload = ECGSegment(start=samples[0][1], sampling_rate_hz=rate, values_mv=values)
    except ValidationError as error:
        return rejection_from(error, location, str(values[:100]).encode(), topic="ingest.ecg")
    assert context.patient is not None
    return Accepted(
        context.envelope(
            reader="ecg",
            topic="ingest.ecg",
            source_patient=context.patient,
            observed_at=samples[0][1],
            locator=location,
            identity=(samples[0][1].isoformat(), content_digest(repr(values))),
            payload=payload,
        )
    )

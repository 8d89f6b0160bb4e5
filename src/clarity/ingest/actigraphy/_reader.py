"""Minute-level wrist actigraphy exports, cut into the weeks that PAT reads.

Layouts read: the Actiwatch/Depresjon export (``timestamp,date,activity``), a
generic ``timestamp,activity`` (or ``counts``) export, and ActiGraph ActiLife
CSV with its ten-line header. Device timestamps are local wall-clock times, so
the wearer's time zone must be known. Epochs shorter than a minute are summed
to minutes.

Minutes the file does not contain are kept as gaps; runs of zero counts long
enough to mean the device was off the wrist are marked non-wear (Choi et al.
2011: 90 minutes of zeros, allowing a two-minute interruption inside 30-minute
zero windows). Neither is ever zero-filled as if worn.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from clarity.contracts import MINUTES_PER_WEEK, ActigraphyWeek
from clarity.errors import FieldError
from clarity.ingest._core import Accepted, Item, ReadContext, Rejected, content_digest
from clarity.ingest._csv import open_text

__all__ = ["choi_nonwear", "read_actigraphy"]

_ACTIVITY = ("activity", "counts", "axis1", "activity counts", "vm")
_TIME = ("timestamp", "datetime", "date time")


def choi_nonwear(
    zero: np.ndarray, *, window: int = 90, spike: int = 2, stream: int = 30
) -> np.ndarray:
    """Mark non-wear minutes by Choi et al. (2011).

    Parameters
    ----------
    zero
        True for minutes with zero counts (or no data).
    window
        Minimum length of a non-wear period, in minutes.
    spike
        Longest interruption of non-zero minutes allowed inside a period.
    stream
        Zero minutes needed on both sides of an interruption.

    Returns
    -------
    numpy.ndarray
        True for non-wear minutes.

    References
    ----------
    .. [1] Choi L, Liu Z, Matthews CE, Buchowski MS. Validation of accelerometer
       wear and nonwear time classification algorithm. Med Sci Sports Exerc.
       2011;43(2):357-364.

    Examples
    --------
    >>> zero = np.array([True] * 50 + [False] + [True] * 45 + [False] * 5)
    >>> int(choi_nonwear(zero).sum())
    96
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], zero.astype(np.int8), [0]])))
    runs = [[int(s), int(e)] for s, e in zip(edges[0::2], edges[1::2], strict=True)]
    merged: list[list[int]] = []
    for run in runs:
        if merged:
            last = merged[-1]
            gap = run[0] - last[1]
            if gap <= spike and run[1] - run[0] >= stream and last[1] - last[0] >= stream:
                last[1] = run[1]
                continue
        merged.append(run)
    nonwear = np.zeros(zero.size, dtype=bool)
    for start, end in merged:
        if end - start >= window:
            nonwear[start:end] = True
    return nonwear


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M:%S", "%d.%m.%Y %H:%M:%S")


def _parse_time(text: str) -> datetime:
    """Parse a device timestamp; exports differ (e.g. Actiwatch writes '3:18:00')."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        for layout in _TIME_FORMATS:
            try:
                return datetime.strptime(text, layout)
            except ValueError:
                continue
    raise ValueError(f"timestamp {text!r} is not a date and time")


def _parse_actigraph_header(lines: list[str]) -> tuple[datetime, int] | None:
    if not lines or "ActiGraph" not in lines[0]:
        return None
    fields = {}
    for line in lines[1:10]:
        for key in ("Start Time", "Start Date", "Epoch Period (hh:mm:ss)"):
            if line.startswith(key):
                fields[key] = line[len(key) :].strip(" ,\n")
    start = datetime.strptime(f"{fields['Start Date']} {fields['Start Time']}", "%m/%d/%Y %H:%M:%S")
    h, m, s = (int(x) for x in fields["Epoch Period (hh:mm:ss)"].split(":"))
    return start, h * 3600 + m * 60 + s


def _read(
    context: ReadContext,
) -> tuple[list[tuple[int, datetime, float]], list[Rejected], str | None]:
    """Parse rows as (line, local time, count); collect bad rows; note a truncation."""
    rows: list[tuple[int, datetime, float]] = []
    bad: list[Rejected] = []
    truncated = None
    handle = open_text(context.path)
    number = 0
    try:
        head: list[str] = []
        for line in handle:
            number += 1
            head.append(line)
            if len(head) >= 11 or ("ActiGraph" not in head[0] and len(head) == 1):
                break
        actigraph = _parse_actigraph_header(head)
        if actigraph is not None:
            start, epoch = actigraph
            header_line = head[-1] if len(head) >= 11 else next(handle)
        else:
            start, epoch, header_line = None, 0, head[0]
        columns = [c.strip().strip('"').lower() for c in header_line.split(",")]
        value_column = next((columns.index(c) for c in _ACTIVITY if c in columns), None)
        time_column = next((columns.index(c) for c in _TIME if c in columns), None)
        if value_column is None or (time_column is None and start is None):
            bad.append(
                Rejected(
                    location="header",
                    reason=f"no activity column ({', '.join(_ACTIVITY)}) and timestamp "
                    f"column in {columns}",
                    original=header_line.encode(),
                    errors=(FieldError("header", "unknown layout"),),
                )
            )
            return rows, bad, truncated
        index = 0
        for line in handle:
            number += 1
            values = line.rstrip("\r\n").split(",")
            try:
                count = float(values[value_column])
                if not np.isfinite(count) or count < 0:
                    raise ValueError(
                        f"activity count {values[value_column]!r} is negative or not finite"
                    )
                if time_column is not None:
                    moment = _parse_time(values[time_column].strip().strip('"'))
                else:
                    assert start is not None
                    moment = start + timedelta(seconds=epoch * index)
                index += 1
            except (ValueError, IndexError) as error:
                bad.append(
                    Rejected(
                        location=f"line {number}",
                        reason=f"unreadable row: {error}",
                        original=line.encode(),
                        topic="ingest.actigraphy",
                        errors=(FieldError("activity", str(error)),),
                    )
                )
                continue
            rows.append((number, moment, count))
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as error:
        truncated = (
            f"the file is truncated or corrupt after line {number} "
            f"({type(error).__name__}: {error})"
        )
    finally:
        handle.close()
    return rows, bad, truncated


def read_actigraphy(context: ReadContext) -> Iterator[Item]:
    """Read a minute-level actigraphy export into week records.

    Parameters
    ----------
    context
        The file; ``patient`` and ``timezone`` must be known (device clocks are local).

    Yields
    ------
    Accepted or Rejected
        One record per week that has data; one rejection per unreadable row,
        repeated minute, or truncation.
    """
    if context.timezone is None or context.patient is None:
        missing = "timezone" if context.timezone is None else "patient"
        yield Rejected(
            location="file",
            reason="actigraphy timestamps are local device time: the "
            f"{missing} of {context.path.name} "
            "must be given (--timezone/--patient, or a cohort manifest)",
            original=context.path.name.encode(),
            errors=(FieldError(missing, "unknown"),),
        )
        return
    zone = ZoneInfo(context.timezone)
    rows, bad, truncated = _read(context)
    yield from bad
    if truncated:
        yield Rejected(
            location="end of file",
            reason=truncated + "; the rows before it were ingested",
            original=context.path.name.encode(),
            topic="ingest.actigraphy",
            errors=(FieldError("file", "truncated", "truncated"),),
        )
    if not rows:
        return
    # Local wall-clock to UTC. After a clock is set back, a local time repeats:
    # a time earlier than the previous row's is its second occurrence.
    utc_seconds: list[tuple[int, int, float]] = []
    previous = None
    for number, moment, count in rows:
        instant = moment.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if previous is not None and instant <= previous:
            instant = moment.replace(tzinfo=zone, fold=1).astimezone(UTC)
        previous = instant
        utc_seconds.append((number, int(instant.timestamp()), count))
    first_local = rows[0][1]
    origin = datetime.combine(first_local.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    origin_second = int(origin.timestamp())
    last = max(s for _, s, _ in utc_seconds)
    span = (last - origin_second) // 60 + 1
    weeks = -(-span // MINUTES_PER_WEEK)
    counts = np.zeros(weeks * MINUTES_PER_WEEK)
    recorded = np.zeros(weeks * MINUTES_PER_WEEK, dtype=bool)
    seen: dict[int, int] = {}
    for number, second, count in utc_seconds:
        if second in seen:
            yield Rejected(
                location=f"line {number}",
                reason=f"repeats the time {datetime.fromtimestamp(second, UTC).isoformat()} "
                f"(first at line {seen[second]})",
                original=str(count).encode(),
                topic="ingest.actigraphy",
                errors=(FieldError("timestamp", "duplicate minute", "duplicate"),),
            )
            continue
        seen[second] = number
        slot = (second - origin_second) // 60  # epochs shorter than a minute add up
        counts[slot] += count
        recorded[slot] = True
    wear = recorded & ~choi_nonwear((counts == 0) | ~recorded)
    for week in range(weeks):
        block = slice(week * MINUTES_PER_WEEK, (week + 1) * MINUTES_PER_WEEK)
        if not recorded[block].any():
            continue
        start = origin + timedelta(minutes=week * MINUTES_PER_WEEK)
        week_counts = counts[block]
        week_wear = wear[block]
        payload = ActigraphyWeek(
            start=start,
            timezone=context.timezone,
            counts=tuple(float(c) for c in week_counts),
            wear=tuple(bool(w) for w in week_wear),
        )
        yield Accepted(
            context.envelope(
                reader="actigraphy",
                topic="ingest.actigraphy",
                source_patient=context.patient,
                observed_at=start,
                locator=f"week {week + 1}",
                identity=(
                    start.isoformat(),
                    content_digest(week_counts.tobytes() + week_wear.tobytes()),
                ),
                payload=payload,
            )
        )

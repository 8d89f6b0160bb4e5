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

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from clarity.contracts import MINUTES_PER_WEEK, ActigraphyWeek
from clarity.errors import FieldError
from clarity.ingest._core import Accepted, Item, ReadContext, Rejected, content_digest

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


_NO_TIME = np.iinfo(np.int64).min


@dataclass
class _Table:
    """The parsed rows: line numbers, UTC seconds (``_NO_TIME`` when unreadable), counts."""

    lines: np.ndarray
    seconds: np.ndarray
    counts: np.ndarray
    raw: list[str]


_Layout = tuple[int, int, str, int | None, tuple[datetime, int] | None]


def _layout(
    data: bytes,
) -> tuple[int, int, str, int | None, tuple[datetime, int] | None] | Rejected:
    """Find the header: lines before it, its text, the time column, and an ActiGraph start."""
    head = data[:8192].decode("utf-8", errors="replace").splitlines()[:12]
    if not head:
        return Rejected(location="file", reason="the file is empty or unreadable", original=b"")
    try:
        actigraph = _parse_actigraph_header(head)
    except (KeyError, ValueError) as error:
        return Rejected(
            location="header",
            reason=f"unreadable ActiGraph header: {error}",
            original="\n".join(head).encode(),
        )
    skip = 10 if actigraph is not None else 0
    header = head[skip] if len(head) > skip else ""
    delimiter = max((",", ";", "\t"), key=header.count)
    columns = [c.strip().strip('"').lower() for c in header.split(delimiter)]
    value = next((columns.index(c) for c in _ACTIVITY if c in columns), None)
    time_column = next((columns.index(c) for c in _TIME if c in columns), None)
    if value is None or (time_column is None and actigraph is None):
        return Rejected(
            location="header",
            reason=f"no activity column ({', '.join(_ACTIVITY)}) and timestamp column in {columns}",
            original=header.encode(),
            errors=(FieldError("header", "unknown layout"),),
        )
    return skip, value, delimiter, time_column, actigraph


def _bytes(context: ReadContext) -> tuple[bytes, str | None]:
    """Return the file's text up to its last whole line; a damaged gzip keeps what came before."""
    raw = context.path.read_bytes()
    if context.path.suffix != ".gz":
        return raw, None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    problem = None
    try:
        while raw:
            parts.append(inflater.decompress(raw))
            if not inflater.eof:
                problem = "the gzip stream ends early"
                break
            raw = inflater.unused_data  # concatenated gzip members
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if raw else inflater
    except zlib.error as error:
        problem = f"zlib.error: {error}"
    data = b"".join(parts)
    if problem is None:
        return data, None
    data = data[: data.rfind(b"\n") + 1]
    lines = data.count(b"\n")
    return data, f"the file is truncated or corrupt after line {lines} ({problem})"


def _read(data: bytes, layout: _Layout, zone: str) -> tuple[_Table, str | None]:
    """Parse the rows: line numbers, UTC seconds and counts, unreadable ones marked."""
    skip, value, delimiter, time_column, actigraph = layout
    columns = [value] if time_column is None else [time_column, value]
    problem = None
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            sep=delimiter,
            skiprows=skip,
            header=0,
            usecols=columns,
            dtype=str,
            skip_blank_lines=True,
            keep_default_na=False,
        )
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        ValueError,
        UnicodeDecodeError,
    ) as error:
        problem = f"the rows cannot be parsed ({type(error).__name__}: {error})"
        frame = pd.DataFrame({"time": [], "value": []}, dtype=str)
    names = list(frame.columns)
    value_name = names[-1]
    counts = pd.to_numeric(frame[value_name], errors="coerce").to_numpy(dtype=float)
    if time_column is None:
        assert actigraph is not None
        start, epoch = actigraph
        local = pd.DatetimeIndex(
            pd.Timestamp(start) + pd.to_timedelta(np.arange(len(frame)) * epoch, unit="s")
        )
        seconds = _to_utc(local, zone)
        texts = frame[value_name].astype(str).tolist()
    else:
        stamps = frame[names[0]].astype(str)
        texts = (stamps + delimiter + frame[value_name].astype(str)).tolist()
        if stamps.str.contains(_OFFSET).any():
            # Timestamps that carry their offset need no zone to be placed.
            parsed = pd.DatetimeIndex(
                pd.to_datetime(stamps, format="ISO8601", errors="coerce", utc=True)
            )
            seconds = np.where(parsed.isna(), _NO_TIME, parsed.asi8 // 1_000_000_000)
        else:
            seconds = _to_utc(_parse_local(stamps), zone)
    lines = np.arange(len(frame)) + skip + 2
    return _Table(lines=lines, seconds=seconds, counts=counts, raw=texts), problem


_OFFSET = r"(?:[+-]\d\d:?\d\d|Z)$"

# Day-first and month-first dates as exports write them ("18/3/2003 15:00", "3/18/2003 ...").
_LOCAL_FORMATS = tuple(
    f"{date} {time}"
    for date in ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y")
    for time in ("%H:%M", "%H:%M:%S")
)


def _parse_local(stamps: pd.Series) -> pd.DatetimeIndex:
    """Parse local timestamps: ISO 8601, else the day- or month-first layout that fits.

    When both day-first and month-first read every row (no day above 12),
    the reading whose times move forward most often wins, then the one that
    spans the shortest time: read the wrong way round, each new day jumps a
    month.
    """
    best = pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601", errors="coerce"))
    if len(best) == 0 or best.notna().mean() >= 0.5:
        return best
    score: tuple[int, float, float] = (int(best.notna().sum()), 0.0, 0.0)
    for layout in _LOCAL_FORMATS:
        parsed = pd.DatetimeIndex(pd.to_datetime(stamps, format=layout, errors="coerce"))
        valid = parsed[parsed.notna()].asi8
        steps = np.diff(valid)
        forward = float((steps > 0).mean()) if steps.size else 0.0
        span = float(valid.max() - valid.min()) if valid.size else 0.0
        candidate = (int(valid.size), forward, -span)
        if candidate > score:
            best, score = parsed, candidate
    return best


def _to_utc(local: pd.DatetimeIndex, zone: str) -> np.ndarray:
    """Convert local wall-clock times to UTC seconds, in file order.

    A time that does not exist (the hour skipped in spring) is unreadable. A
    time that occurs twice (the hour repeated in autumn) is its first
    occurrence, unless that would not move forward from the previous row, in
    which case the device is in the repeated hour's second pass.
    """
    n = len(local)
    summer = local.tz_localize(zone, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT")
    winter = local.tz_localize(zone, ambiguous=np.zeros(n, dtype=bool), nonexistent="NaT")
    first = np.where(summer.isna(), _NO_TIME, summer.asi8 // 1_000_000_000)
    second = np.where(winter.isna(), _NO_TIME, winter.asi8 // 1_000_000_000)
    seconds = first.copy()
    for k in np.flatnonzero(first != second):
        previous = seconds[k - 1] if k else _NO_TIME
        if previous != _NO_TIME and first[k] <= previous:
            seconds[k] = second[k]
    return seconds


def _bad_row(line: int, text: str, reason: str, field: str, kind: str = "value_error") -> Rejected:
    return Rejected(
        location=f"line {line}",
        reason=reason,
        original=text.encode(),
        topic="ingest.actigraphy",
        errors=(FieldError(field, reason, kind),),
    )


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
        repeated time, or truncation.
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
    try:
        zone = ZoneInfo(context.timezone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        yield Rejected(
            location="file",
            reason=f"timezone {context.timezone!r} is not an IANA zone such as 'Europe/Oslo'",
            original=context.path.name.encode(),
            errors=(FieldError("timezone", "unknown zone"),),
        )
        return
    data, damaged = _bytes(context)
    layout = _layout(data)
    if isinstance(layout, Rejected):
        yield layout
        if damaged:
            yield Rejected(
                location="end of file",
                reason=damaged,
                original=context.path.name.encode(),
                topic="ingest.actigraphy",
                errors=(FieldError("file", "truncated", "truncated"),),
            )
        return
    table, unparsable = _read(data, layout, context.timezone)
    truncated = damaged or unparsable
    seconds = table.seconds
    unreadable = np.isnan(table.counts) | (table.counts < 0) | ~np.isfinite(table.counts)
    no_time = seconds == _NO_TIME
    for k in np.flatnonzero(unreadable | no_time):
        reason = (
            f"unreadable row: time {table.raw[k]!r} is not a date and time in {context.timezone}"
            if no_time[k]
            else f"unreadable row: activity count in {table.raw[k]!r} is negative or not finite"
        )
        yield _bad_row(
            int(table.lines[k]), table.raw[k], reason, "timestamp" if no_time[k] else "activity"
        )
    good = np.flatnonzero(~(unreadable | no_time))
    _, first = np.unique(seconds[good], return_index=True)
    repeats = np.setdiff1d(np.arange(good.size), first)
    first_line = dict(
        zip(seconds[good][first].tolist(), table.lines[good][first].tolist(), strict=True)
    )
    for k in good[repeats]:
        moment = datetime.fromtimestamp(int(seconds[k]), UTC).isoformat()
        yield _bad_row(
            int(table.lines[k]),
            table.raw[k],
            f"repeats the time {moment} (first at line {first_line[int(seconds[k])]})",
            "timestamp",
            "duplicate",
        )
    if truncated:
        yield Rejected(
            location="end of file",
            reason=truncated + "; the rows before it were ingested",
            original=context.path.name.encode(),
            topic="ingest.actigraphy",
            errors=(FieldError("file", "truncated", "truncated"),),
        )
    kept = good[np.sort(first)]
    if kept.size == 0:
        return
    # Weeks start at local midnight of the earliest reading, wherever it is in the file.
    earliest = datetime.fromtimestamp(int(seconds[kept].min()), UTC).astimezone(zone)
    origin = datetime.combine(earliest.date(), datetime.min.time(), tzinfo=zone).astimezone(UTC)
    slots = (seconds[kept] - int(origin.timestamp())) // 60  # sub-minute epochs add up
    weeks = int(slots.max()) // MINUTES_PER_WEEK + 1
    counts = np.zeros(weeks * MINUTES_PER_WEEK)
    recorded = np.zeros(weeks * MINUTES_PER_WEEK, dtype=bool)
    np.add.at(counts, slots, table.counts[kept])
    recorded[slots] = True
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
            counts=tuple(week_counts.tolist()),
            wear=tuple(week_wear.tolist()),
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

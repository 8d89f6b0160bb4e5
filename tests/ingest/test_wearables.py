"""Actigraphy, RR and ECG exports: gaps kept, non-wear found, wrong units refused."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.ingest import Pseudonymizer, ReadContext, choi_nonwear
from clarity.ingest.actigraphy import read_actigraphy
from tests.conftest import REPO
from tests.ingest.conftest import KEY, NOW, dead_letters, records, run

DEPRESJON = REPO.parent / "shared" / "reference" / "depresjon"


def _actigraphy(path: Path, minutes: int, start="2025-03-03 00:00:00", drop=(), zeros=(), extra=""):
    times = pd.date_range(start, periods=minutes, freq="min")
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 400, minutes)
    for a, b in zeros:
        counts[a:b] = 0
    keep = np.ones(minutes, dtype=bool)
    for a, b in drop:
        keep[a:b] = False
    lines = [
        f"{t:%Y-%m-%d %H:%M:%S},{t.day}/{t.month}/{t.year},{c}"
        for t, c, k in zip(times, counts, keep, strict=True)
        if k
    ]
    text = "timestamp,date,activity\n" + "\n".join(lines) + "\n" + extra
    path.write_bytes(gzip.compress(text.encode()) if path.suffix == ".gz" else text.encode())
    return path


def test_choi_nonwear__long_zero_runs_with_short_interruptions():
    zero = np.zeros(400, dtype=bool)
    zero[10:60] = zero[61:105] = True  # 95 minutes with a one-minute blip inside
    zero[200:280] = True  # 80 minutes: too short
    zero[300:340] = zero[343:350] = True  # a three-minute interruption splits it
    found = choi_nonwear(zero)
    assert found[10:105].all() and not found[200:280].any() and not found[300:350].any()
    assert found.sum() == 95


def test_actigraphy__weeks_gaps_and_nonwear(bus, tmp_path):
    path = _actigraphy(tmp_path / "A1.csv.gz", 10 * 1440, drop=[(2000, 2300)], zeros=[(5000, 5150)])
    report = run(bus, path, timezone="Europe/Oslo")
    assert report.ok and report.accepted == 2
    first, second = sorted(records(bus), key=lambda r: r.observed_at)
    assert first.observed_at.isoformat() == "2025-03-02T23:00:00+00:00"  # local midnight, UTC+1
    wear = np.array(first.payload.wear)
    assert not wear[2000:2300].any() and wear[1000:2000].all()  # the gap is a gap
    assert not wear[5000:5150].any()  # off the wrist
    assert np.array(first.payload.counts)[2000:2300].sum() == 0
    assert np.array(second.payload.wear)[3 * 1440 :].sum() == 0  # the week ends after 10 days
    assert first.patient_id == Pseudonymizer(KEY)("A1")


def test_actigraphy__daylight_saving_change_keeps_minutes_in_order(bus, tmp_path):
    # 30 March 2025: Oslo clocks jump from 02:00 to 03:00; local 02:xx does not exist.
    times = pd.date_range("2025-03-29 00:00", "2025-04-05 23:59", freq="min", tz="Europe/Oslo")
    local = times.tz_localize(None)
    text = "timestamp,activity\n" + "".join(f"{t:%Y-%m-%d %H:%M:%S},5\n" for t in local)
    path = tmp_path / "A2.csv"
    path.write_text(text)
    run(bus, path, timezone="Europe/Oslo")
    (week, *_) = records(bus)
    assert sum(week.payload.wear) == len(times[times < times[0] + pd.Timedelta(days=7)])


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("2025-03-03 23:58:00,3/3/2025,-5\n", "negative or not finite"),
        ("not a time,3/3/2025,5\n", "unreadable row"),
        ("2025-03-03 00:10:00,3/3/2025,5\n", "repeats the time"),
    ],
)
def test_actigraphy__bad_rows_are_refused_and_the_week_still_lands(bus, tmp_path, extra, reason):
    path = _actigraphy(tmp_path / "A1.csv", 1439, extra=extra)
    report = run(bus, path, timezone="UTC")
    assert (report.accepted, report.rejected) == (1, 1)
    assert reason in dead_letters(bus)[0].reason


def test_actigraphy__a_truncated_file_keeps_what_came_before(bus, tmp_path):
    path = _actigraphy(tmp_path / "A1.csv.gz", 9 * 1440)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    report = run(bus, path, timezone="UTC")
    assert report.accepted >= 1 and report.rejected == 1
    assert "truncated or corrupt after line" in dead_letters(bus)[0].reason


def test_actigraphy__without_a_time_zone_nothing_is_guessed(bus, tmp_path):
    report = run(bus, _actigraphy(tmp_path / "A1.csv", 100))
    assert (report.accepted, report.rejected) == (0, 1)
    assert "the timezone of A1.csv must be given" in dead_letters(bus)[0].reason


def test_actigraphy__actilife_layout_with_header(bus, tmp_path):
    header = [
        "------------ Data File Created By ActiGraph GT3X+ ActiLife v6.13.3 Firmware v2.5.0 date format M/d/yyyy at 30 Hz  Filter Normal -----------",
        "Serial Number: MOS2E39180439",
        "Start Time 00:00:00",
        "Start Date 3/3/2025",
        "Epoch Period (hh:mm:ss) 00:00:30",
        "Download Time 10:00:00",
        "Download Date 3/10/2025",
        "Current Memory Address: 0",
        "Current Battery Voltage: 4.13     Mode = 12",
        "--------------------------------------------------",
        "Axis1,Axis2,Axis3,Steps",
    ]
    path = tmp_path / "A3.csv"
    path.write_text("\n".join(header + ["10,0,0,0"] * (2 * 1440)) + "\n")
    report = run(bus, path, timezone="UTC")
    assert report.ok and report.accepted == 1
    (week,) = records(bus)
    assert week.payload.counts[0] == 20.0  # two 30-second epochs make a minute
    assert sum(week.payload.wear) == 1440


def test_actigraphy__real_depresjon_recording_reads_into_weeks(bus):
    path = DEPRESJON / "condition_1.csv.gz"
    if not path.exists():  # pragma: no cover - the reference data ships with the workspace
        pytest.skip("Depresjon reference data is not in ../shared")
    report = run(bus, path, timezone="Europe/Oslo", patient="depresjon-condition-1")
    assert report.ok and report.accepted >= 2
    weeks = records(bus)
    worn = sum(sum(w.payload.wear) for w in weeks)
    with gzip.open(path, "rt") as handle:
        rows = sum(1 for _ in handle) - 1
    assert 0.5 * rows < worn <= rows


def test_actigraphy__detected_wear_agrees_with_the_synthetic_truth(bus, cohort):
    patients = pq.read_table(cohort / "truth" / "patients.parquet").to_pandas()
    wearers = patients[patients.wears_actigraph]
    for row in wearers.itertuples():
        run(bus, cohort / "actigraphy" / f"{row.source_id}.csv.gz", timezone=row.timezone)
    days = pq.read_table(cohort / "truth" / "actigraphy_days.parquet").to_pandas()
    pseudonym = Pseudonymizer(KEY)
    agreement = []
    for row in wearers.itertuples():
        weeks = [r for r in records(bus) if r.patient_id == pseudonym(row.source_id)]
        detected = sum(sum(w.payload.wear) for w in weeks)
        truth = days[days.source_id == row.source_id].worn_minutes.sum()
        agreement.append(detected / truth)
    assert 0.95 < np.mean(agreement) < 1.02


@given(cut=st.integers(10, 4000))
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_actigraphy__any_truncation_is_reported_never_a_crash(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("acti")
    path = _actigraphy(folder / "A1.csv.gz", 3 * 1440)
    path.write_bytes(path.read_bytes()[:cut])
    items = list(
        read_actigraphy(
            ReadContext(
                path=path,
                source="a",
                pseudonym=Pseudonymizer(KEY),
                patient="A1",
                timezone="UTC",
                now=NOW,
            )
        )
    )
    assert items  # a week, a rejection, or both


def _rr(path: Path, values, start="2025-05-01T07:00:00+02:00", column="rr_ms"):
    moment = pd.Timestamp(start)
    lines = []
    for value in values:
        lines.append(f"{moment.isoformat()},{value}")
        moment += pd.Timedelta(milliseconds=float(value) * (1000 if column == "rr_s" else 1))
    path.write_text(f"timestamp,{column}\n" + "\n".join(lines) + "\n")
    return path


def test_rr__segments_split_at_gaps_and_seconds_are_converted(bus, tmp_path):
    first = _rr(tmp_path / "A1.rr.csv", [800.0] * 50)
    later = _rr(
        tmp_path / "second.csv", [0.9] * 30, start="2025-05-01T07:10:00+02:00", column="rr_s"
    )
    combined = tmp_path / "A1.rr2.csv"
    combined.write_text(
        first.read_text() + "".join(later.read_text().splitlines(keepends=True)[1:])
    )
    report = run(bus, combined)
    assert report.ok and report.accepted == 2
    lengths = sorted(len(r.payload.rr_ms) for r in records(bus))
    assert lengths == [30, 50]


def test_rr__a_millisecond_column_holding_seconds_is_refused_whole(bus, tmp_path):
    report = run(bus, _rr(tmp_path / "A1.rr.csv", [0.8] * 40))
    assert (report.accepted, report.rejected) == (0, 1)
    assert "look like seconds" in dead_letters(bus)[0].reason


def test_rr__out_of_range_rows_are_refused(bus, tmp_path):
    path = _rr(tmp_path / "A1.rr.csv", [800.0] * 20 + [20_000.0] + [800.0] * 20)
    report = run(bus, path)
    assert report.rejected == 1 and report.accepted >= 1
    assert "outside (0, 10000] milliseconds" in dead_letters(bus)[0].reason


def test_ecg__microvolts_become_millivolts_at_the_declared_rate(bus, tmp_path):
    path = tmp_path / "A1.ecg.csv"
    times = pd.date_range(
        "2025-05-01T08:00:00+02:00", periods=260, freq=pd.Timedelta(seconds=1 / 130)
    )
    path.write_text(
        "# sampling_rate_hz=130\ntimestamp,ecg_uv\n"
        + "".join(f"{t.isoformat()},{1000}\n" for t in times)
    )
    report = run(bus, path)
    assert report.ok and report.accepted == 1
    (segment,) = records(bus)
    assert segment.payload.sampling_rate_hz == 130 and segment.payload.values_mv[0] == 1.0
    assert len(segment.payload.values_mv) == 260


def test_physiology__naive_timestamps_need_a_time_zone(bus, tmp_path):
    path = tmp_path / "A1.rr.csv"
    path.write_text("timestamp,rr_ms\n2025-05-01 07:00:00,800\n")
    report = run(bus, path)
    assert report.rejected == 1 and "has no UTC offset" in dead_letters(bus)[0].reason


def test_actigraphy__rows_out_of_order_land_at_their_own_time(bus, tmp_path):
    path = tmp_path / "A1.csv"
    path.write_text(
        "timestamp,activity\n2025-03-04 00:00:00,7\n2025-03-03 00:01:00,9\n2025-03-03 00:00:00,5\n"
    )
    report = run(bus, path, timezone="UTC")
    assert report.ok and report.accepted == 1
    (week,) = records(bus)
    assert week.observed_at.isoformat() == "2025-03-03T00:00:00+00:00"
    assert (week.payload.counts[0], week.payload.counts[1], week.payload.counts[1440]) == (
        5.0,
        9.0,
        7.0,
    )


def test_actigraphy__the_repeated_autumn_hour_is_read_in_order(bus, tmp_path):
    # 26 October 2025, Oslo: 03:00 summer time becomes 02:00 winter time; 02:xx happens twice.
    times = pd.date_range(
        "2025-10-25 00:00", "2025-10-27 00:00", freq="min", tz="Europe/Oslo", inclusive="left"
    )
    path = tmp_path / "A2.csv"
    path.write_text(
        "timestamp,activity\n"
        + "".join(f"{t.tz_localize(None):%Y-%m-%d %H:%M:%S},3\n" for t in times)
    )
    report = run(bus, path, timezone="Europe/Oslo")
    assert report.ok, report.files[0].messages[:3]
    (week,) = records(bus)
    assert sum(week.payload.wear) == len(times)  # 49 hours of minutes, none lost as duplicates


def test_actigraphy__timestamps_with_offsets_and_semicolons(bus, tmp_path):
    path = tmp_path / "A3.csv"
    path.write_text(
        "timestamp;activity\n2025-03-03T01:00:00+01:00;4\n2025-03-03T01:01:00+01:00;6\n"
    )
    report = run(bus, path, timezone="Europe/Oslo")
    assert report.ok and report.accepted == 1
    assert records(bus)[0].payload.counts[60:62] == (4.0, 6.0)  # 01:00 local, from local midnight


def test_actigraphy__an_unknown_zone_is_refused(bus, tmp_path):
    report = run(bus, _actigraphy(tmp_path / "A1.csv", 100), timezone="Mars/Olympus")
    assert report.rejected == 1 and "is not an IANA zone" in dead_letters(bus)[0].reason


def test_rr__a_repeated_beat_is_refused(bus, tmp_path):
    path = _rr(tmp_path / "A1.rr.csv", [800.0] * 10)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:5], lines[4], *lines[5:]]) + "\n")
    report = run(bus, path)
    assert report.rejected == 1 and "repeats the beat" in dead_letters(bus)[0].reason
    assert len(records(bus)[0].payload.rr_ms) == 10


@pytest.mark.parametrize("style", ["milliseconds", "batched"])
def test_ecg__the_rate_is_inferred_from_rounded_or_batched_timestamps(bus, tmp_path, style):
    start = pd.Timestamp("2025-05-01T08:00:00+02:00")
    rows = []
    for k in range(1300):
        if style == "milliseconds":
            moment = start + pd.Timedelta(milliseconds=round(k * 1000 / 130))
        else:  # Polar sends samples in packets of 73 with one timestamp each
            moment = start + pd.Timedelta(seconds=(k // 73) * 73 / 130)
        rows.append(f"{moment.isoformat()},{500}\n")
    path = tmp_path / "A1.ecg.csv"
    path.write_text("timestamp,ecg_uv\n" + "".join(rows))
    report = run(bus, path)
    assert report.ok and report.accepted == 1
    assert records(bus)[0].payload.sampling_rate_hz == pytest.approx(130, rel=0.08)


def test_ecg__a_bad_sample_is_refused_alone_and_a_unit_in_the_rate_is_read(bus, tmp_path):
    times = pd.date_range(
        "2025-05-01T08:00:00+02:00", periods=260, freq=pd.Timedelta(seconds=1 / 130)
    )
    values = ["nan" if k == 100 else "900" for k in range(260)]
    path = tmp_path / "A1.ecg.csv"
    path.write_text(
        "# sampling_rate_hz=130Hz\ntimestamp,ecg_uv\n"
        + "".join(f"{t.isoformat()},{v}\n" for t, v in zip(times, values, strict=True))
    )
    report = run(bus, path)
    assert report.rejected == 1 and "not a finite number" in dead_letters(bus)[0].reason
    assert sum(len(r.payload.values_mv) for r in records(bus)) == 259


@pytest.mark.parametrize(
    ("layout", "separator"),
    [
        ("{t.day}/{t.month}/{t.year} {t:%H:%M}", ","),
        ("{t.month}/{t.day}/{t.year} {t:%H:%M:%S}", ";"),
    ],
)
def test_actigraphy__day_first_and_month_first_local_dates_are_told_apart(
    bus, tmp_path, layout, separator
):
    # Some Depresjon controls write "3/4/2003 12:00"-style times. Every day of these
    # nine is 12 or less, so both readings parse; only the right one moves forward
    # minute by minute.
    times = pd.date_range("2025-03-04 00:00", periods=9 * 1440, freq="min")
    lines = [f"{layout.format(t=t)}{separator}{1 + i % 300}" for i, t in enumerate(times)]
    path = tmp_path / "local.csv"
    path.write_text(f"timestamp{separator}activity\n" + "\n".join(lines) + "\n")
    report = run(bus, path, timezone="Europe/Oslo")
    assert report.ok and report.accepted == 2, report
    first, second = sorted(records(bus), key=lambda r: r.observed_at)
    assert first.observed_at.isoformat() == "2025-03-03T23:00:00+00:00"  # local midnight, 4 March
    assert sum(first.payload.wear) + sum(second.payload.wear) == 9 * 1440
    assert tuple(first.payload.counts[:3]) == (1.0, 2.0, 3.0)

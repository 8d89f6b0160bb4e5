"""Mood-report and PGx-panel CSVs: bad rows refused with line and field; good rows land."""

from __future__ import annotations

import csv

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.ingest import Pseudonymizer, ReadContext
from clarity.ingest.mood import read_mood
from tests.ingest.conftest import KEY, NOW, dead_letters, records, run

MOOD_HEADER = "participant_id,date,mood,anxiety,energy,sleep_hours,sleep_quality,comment\n"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "A1,2025-01-02,11,3,3,7,5,",
            "field 'mood': Input should be less than or equal to 10 (got 11)",
        ),
        ("A1,2025-01-02,five,3,3,7,5,", "mood: 'five' is not a whole number"),
        ("A1,2025-01-02,5,3,3,450,5,", "sleep_hours: 450 is more than a day; is it in minutes?"),
        ("A1,02/01/2025,5,3,3,7,5,", "date: '02/01/2025' is not a date"),
        (",2025-01-02,5,3,3,7,5,", "participant_id: missing"),
        ("A1,2025-01-02,,3,3,7,5,", "mood: missing"),
        ("A1,2031-01-02,5,3,3,7,5,", "is in the future"),
    ],
)
def test_mood__a_bad_row_is_refused_with_its_line_and_field(bus, tmp_path, row, reason):
    path = tmp_path / "mood.csv"
    path.write_text(MOOD_HEADER + "A1,2025-01-01,6,2,5,7.5,6,fine\n" + row + "\n")
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (1, 1)
    (letter,) = dead_letters(bus)
    assert "mood.csv: line 3:" in letter.reason and reason in letter.reason
    assert letter.original.decode() == row


def test_mood__reports_are_placed_at_local_noon_and_repeat_rows_are_duplicates(bus, tmp_path):
    path = tmp_path / "mood.csv"
    path.write_text(MOOD_HEADER + "A1,2025-01-01,6,2,5,7.5,6,\nA1,2025-01-01,6,2,5,7.5,6,\n")
    report = run(bus, path, timezone="America/New_York")
    assert (report.accepted, report.rejected) == (1, 1)
    (record,) = records(bus)
    assert record.observed_at.isoformat() == "2025-01-01T17:00:00+00:00"
    assert record.payload.sleep_hours == 7.5 and record.payload.comment is None


@given(
    rows=st.lists(
        st.tuples(
            st.text(max_size=6), st.text(max_size=12), st.text(max_size=3), st.text(max_size=4)
        ),
        max_size=12,
    )
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mood__any_rows_are_accepted_or_rejected_one_for_one(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("mood") / "mood.csv"
    lines = [
        ",".join(v.replace(",", "").replace("\n", "").replace("\r", "") for v in row)
        for row in rows
    ]
    path.write_text(
        "participant_id,date,mood,sleep_hours\n" + "".join(f"{line}\n" for line in lines)
    )
    items = list(
        read_mood(ReadContext(path=path, source="m.csv", pseudonym=Pseudonymizer(KEY), now=NOW))
    )
    # One item per CSV record, as the csv module reads them (quotes may join lines).
    with path.open(newline="") as handle:
        found = [
            r for r in list(csv.reader(handle))[1:] if r and not (len(r) == 1 and not r[0].strip())
        ]
    assert len(items) == len(found)


PGX_HEADER = "patient_id,gene,diplotype,phenotype,activity_score,lab,test,reported_date\n"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("A1,CYP2C19,*1/*99,,,Lab,Panel,2025-01-01", "'*99' is not a known CYP2C19 allele"),
        ("A1,CYP9Z9,*1/*1,,,Lab,Panel,2025-01-01", "gene: 'CYP9Z9' is not one of"),
        ("A1,HLA-B,*15:02-*57:01,,,Lab,Panel,2025-01-01", "not two alleles separated by '/'"),
        ("A1,HLA-B,*1502/*57:01,,,Lab,Panel,2025-01-01", "not an HLA allele"),
        ("A1,CYP2D6,*1/*4x7,,,Lab,Panel,2025-01-01", "not a known CYP2D6 allele"),
        ("A1,CYP2C9,*1/*3,,-1,Lab,Panel,2025-01-01", "activity_score"),
        ("A1,CYP2C9,*1/*3,,,Lab,Panel,1 Jan 2025", "reported_date"),
    ],
)
def test_pgx_panel__a_bad_call_is_refused_and_the_patients_other_calls_land(
    bus, tmp_path, row, reason
):
    path = tmp_path / "panel.csv"
    path.write_text(
        PGX_HEADER
        + "A1,CYP2D6,*1/*4x2,Intermediate Metabolizer,1,Lab,Panel,2025-01-01\n"
        + row
        + "\n"
    )
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (1, 1)
    assert reason in dead_letters(bus)[0].reason
    (record,) = records(bus)
    assert [c.diplotype for c in record.payload.calls] == ["*1/*4x2"]


def test_pgx_panel__rows_of_one_report_make_one_result(bus, tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text(
        PGX_HEADER
        + "A1,CYP2D6,*1/*4,,,Lab,Panel,2025-01-01\nA1,CYP2C19,*2/*17,,,Lab,Panel,2025-01-01\n"
        + "A1,HLA-B,*15:02/*57:01,,,Lab,Panel,2025-01-01\nB2,CYP2C9,*1/*1,,,Lab,Panel,2025-01-01\n"
    )
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (2, 0)
    genes = sorted(len(r.payload.calls) for r in records(bus))
    assert genes == [1, 3]


def test_pgx_panel__a_repeated_gene_row_is_refused_and_the_panel_kept(bus, tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text(
        PGX_HEADER
        + "A1,CYP2D6,*1/*4,,,Lab,Panel,2025-01-01\nA1,CYP2C19,*1/*2,,,Lab,Panel,2025-01-01\nA1,CYP2D6,*1/*1,,,Lab,Panel,2025-01-01\n"
    )
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (1, 1)
    assert "called again in the same report (first at line 2)" in dead_letters(bus)[0].reason
    assert len(records(bus)[0].payload.calls) == 2


def test_mood__a_quoted_comment_may_span_lines(bus, tmp_path):
    path = tmp_path / "mood.csv"
    path.write_text(
        MOOD_HEADER
        + 'A1,2025-01-01,6,2,5,7.5,6,"slept badly,\nwoke at 4"\nA1,2025-01-02,7,2,5,7.5,6,\n'
    )
    report = run(bus, path)
    assert (report.accepted, report.rejected) == (2, 0)
    assert sorted(r.payload.comment or "" for r in records(bus)) == ["", "slept badly,\nwoke at 4"]


def test_ingest__a_truncated_file_keeps_its_good_rows_and_the_run_goes_on(bus, tmp_path):
    import gzip

    rows = "".join(f"A1,2025-01-{d:02d},5,3,3,7,5,\n" for d in range(1, 29))
    damaged = tmp_path / "mood.csv.gz"
    damaged.write_bytes(gzip.compress((MOOD_HEADER + rows).encode())[:-30])
    healthy = tmp_path / "other.csv"
    healthy.write_text(MOOD_HEADER + "B2,2025-01-01,5,3,3,7,5,\n")
    report = run(bus, damaged, healthy)
    first, second = report.files
    assert first.rejected == 1 and "cannot be read to the end" in first.messages[0]
    assert first.accepted >= 0 and second.accepted == 1

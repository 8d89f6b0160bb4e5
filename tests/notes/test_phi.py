"""PHI redaction: recall on the synthetic cohort's labelled notes, odd formats, date shifting."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clarity.notes import PhiRedactor
from clarity.notes._phi import _analyzer

KEY = b"test-key-for-phi-redaction"


@pytest.fixture(scope="module")
def redactor() -> PhiRedactor:
    return PhiRedactor(KEY)


def test_building_and_redacting__need_no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    _analyzer.cache_clear()
    result = PhiRedactor(KEY).redact("Email jane.roe@example.com about Jane Roe.", "p-1")
    assert "jane.roe" not in result.text and result.counts()["EMAIL"] == 1


def test_cohort_notes__recall_per_category(cohort: Path, redactor: PhiRedactor):
    notes = pq.read_table(cohort / "truth" / "notes.parquet").to_pandas()
    found_kinds: Counter[str] = Counter()
    total: Counter[str] = Counter()
    extra = spans = 0
    for text, truth in zip(notes["text"], notes["phi"], strict=True):
        found = redactor.find(text)
        spans += len(found)
        for item in truth:
            total[item["kind"]] += 1
            found_kinds[item["kind"]] += any(
                s <= item["start"] and e >= item["end"] for s, e, _ in found
            )
        extra += sum(not any(s < t["end"] and e > t["start"] for t in truth) for s, e, _ in found)
    assert set(total) >= {"NAME", "DATE", "ID"}
    for kind, n in total.items():
        assert found_kinds[kind] / n >= 0.99, (kind, found_kinds[kind], n)
    assert 1 - extra / spans >= 0.9  # precision matters less than recall, but not nothing


@pytest.mark.parametrize(
    ("text", "leaked", "kind"),
    [
        ("Seen with her mother, Mrs. Olsen, today.", "Olsen", "NAME"),
        ("Clinician: Dr O'Neil", "O'Neil", "NAME"),
        ("MRN#A1234567 checked at front desk.", "A1234567", "ID"),
        ("Hospital no. 4455667 on file", "4455667", "ID"),
        ("DOB 3.4.1961, lives alone.", "3.4.1961", "DATE"),
        ("Admitted March 4, 2023 after the overdose.", "March 4, 2023", "DATE"),
        ("Call back on +44 7700 900123 or (212) 555-0100.", "7700 900123", "PHONE"),
        ("e-mail: j.doe@nhs.net", "j.doe@nhs.net", "EMAIL"),
        ("Portal: https://patients.example.org/u/8812", "patients.example.org", "URL"),
        ("Address: 12 Elm Street, Leeds", "12 Elm Street", "ADDRESS"),
        ("A 93-year-old widower, lucid.", "93-year-old", "AGE"),
    ],
)
def test_odd_formats__are_redacted(redactor: PhiRedactor, text: str, leaked: str, kind: str):
    result = redactor.redact(text, "p-1")
    assert leaked not in result.text, result.text
    assert kind in result.counts(), result.spans


def test_clinical_words_are_not_phi(redactor: PhiRedactor):
    text = "PHQ-9 15, GAD-7 9. Sertraline 50 mg daily for 2-4 weeks; sleep poor most days."
    assert redactor.redact(text, "p-1").text == text


def test_dates_shift_consistently_per_patient_and_keep_intervals(redactor: PhiRedactor):
    text = "Seen 2024-01-10; next visit 2024-01-24 (DOB 09/15/1960)."
    first = redactor.redact(text, "p-1")
    again = redactor.redact(text, "p-1")
    assert first.text == again.text and "2024-01-10" not in first.text
    shift = redactor.shift_days("p-1")
    assert shift != 0 and -365 <= shift <= 365
    from datetime import date, timedelta

    moved = [s.replacement for s in first.spans if s.kind == "DATE"]
    assert moved[0] == (date(2024, 1, 10) + timedelta(days=shift)).isoformat()
    assert date.fromisoformat(moved[1]) - date.fromisoformat(moved[0]) == timedelta(days=14)
    offsets = {redactor.shift_days(f"p-{i}") for i in range(50)}
    assert len(offsets) > 40  # patients do not share one offset
    assert PhiRedactor(b"another-key-of-16+").shift_days("p-1") != shift


def test_short_key__is_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        PhiRedactor(b"short")

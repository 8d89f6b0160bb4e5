from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from clarity.contracts import INSTRUMENTS, ensure_utc, loinc_check_digit


def test_ensure_utc__naive_datetime_is_rejected_with_guidance():
    with pytest.raises(ValueError, match="must be timezone-aware") as info:
        ensure_utc(datetime(2024, 1, 1, 12, 0))
    assert "2024-01-01T12:00:00" in str(info.value)


def test_ensure_utc__other_zone_is_converted_to_the_same_instant():
    local = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    converted = ensure_utc(local)
    assert converted.tzinfo is UTC
    assert converted == local
    assert converted.hour == 17


@pytest.mark.parametrize("instrument", list(INSTRUMENTS))
def test_loinc_check_digit__every_instrument_code_is_valid(instrument):
    spec = INSTRUMENTS[instrument]
    for code in (spec.panel_loinc, spec.total_loinc, *spec.item_loincs):
        number, check = code.split("-")
        assert loinc_check_digit(number) == int(check), code


def test_loinc_check_digit__detects_a_single_digit_typo():
    # 68509-9 is GAD-7 item 2; a one-digit typo in the number changes the check digit.
    assert loinc_check_digit("68509") == 9
    assert loinc_check_digit("68508") != 9

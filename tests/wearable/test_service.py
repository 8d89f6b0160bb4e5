"""The wearable service on a bus: daily windows, unscored weeks, explanations, replays."""

from __future__ import annotations

import copy
from datetime import timedelta

import numpy as np
import pytest

from clarity.bus import Bus, MemoryTransport
from clarity.contracts import WearableAttention, WearableDailyRisk
from clarity.wearable import WearableService, request_explanation
from tests.wearable.conftest import START, week_arrays, week_record


def _service(model, **options) -> WearableService:
    return WearableService(model, model_name="wearable.pat", model_version="7", **options)


def _daily(bus: Bus) -> list:
    return [d.record for d in bus.replay("wearable.daily_risk")]


def test_run__seven_windows_per_week_reaching_into_the_week_before(tiny_model):
    rng = np.random.default_rng(1)
    with Bus(transport=MemoryTransport()) as bus:
        first, second = (week_record("P001", w, *week_arrays(rng)) for w in (0, 1))
        bus.publish_batch([second, first])  # out of order: the service sorts by time
        report = _service(tiny_model).run(bus)
        days = _daily(bus)
    assert (report.weeks, report.days) == (2, 14)
    ends = [d.payload.window_end for d in days]
    assert sorted(ends) == [START + timedelta(days=k) for k in range(1, 15)]
    by_end = {d.payload.window_end: d for d in days}
    # The first week's early windows reach back before any data: too little wear, with a reason.
    early = by_end[START + timedelta(days=1)].payload
    assert early.risks == () and early.wear_fraction == pytest.approx(1 / 7, abs=1e-3)
    assert "worn 14% of the 7 days; the model needs 70%" in early.reason
    assert early.day_wear_fraction == 1.0
    # From day 5 on, enough of the window is worn; in week two, windows span both weeks.
    assert [h.head for h in by_end[START + timedelta(days=5)].payload.risks] == [
        "depression",
        "poor_sleep",
    ]
    spanning = by_end[START + timedelta(days=9)]
    assert spanning.inputs == (first.event_id, second.event_id)
    assert spanning.payload.wear_fraction == 1.0
    assert spanning.producer.model_version == "7" and spanning.producer.service == "wearable"
    assert report.unscored == 4


def test_run__scores_equal_the_model_on_the_same_window(tiny_model):
    rng = np.random.default_rng(2)
    counts, wear = week_arrays(rng)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish(week_record("P002", 0, counts, wear))
        _service(tiny_model).run(bus)
        last = max(_daily(bus), key=lambda d: d.payload.window_end).payload
    direct = tiny_model.score(counts[None], wear[None])
    for risk in last.risks:
        assert risk.probability == pytest.approx(direct.probabilities[risk.head][0], abs=1e-6)


def test_run__replay_and_restart_publish_nothing_new(tiny_model):
    rng = np.random.default_rng(3)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish(week_record("P003", 0, *week_arrays(rng)))
        assert _service(tiny_model).run(bus).days == 7
        assert _service(tiny_model).run(bus).days == 0  # the group has read it
        again = _service(tiny_model).run(bus, group="wearable-rebuild")
        assert (again.weeks, again.days) == (1, 0)  # same ids: duplicates are no-ops
        assert len(_daily(bus)) == 7


def test_run__low_wear_week_is_reported_not_scored(tiny_model):
    rng = np.random.default_rng(4)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish(week_record("P004", 0, *week_arrays(rng, worn=0.5)))
        report = _service(tiny_model).run(bus)
        days = _daily(bus)
    assert report.unscored == 7
    assert all(d.payload.reason and not d.payload.risks for d in days)


def test_run__skips_patients_without_consent(tiny_model):
    rng = np.random.default_rng(5)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish_batch([week_record(p, 0, *week_arrays(rng)) for p in ("P005", "P006")])
        report = _service(tiny_model, allowed=lambda patient, topic: patient != "P006").run(bus)
        patients = {d.patient_id for d in _daily(bus)}
    assert patients == {"P005"} and report.skipped == 1


def test_explain__answers_with_attention_over_worn_minutes(tiny_model):
    rng = np.random.default_rng(6)
    counts, wear = week_arrays(rng)
    wear[:600] = False
    counts[:600] = 0
    end = START + timedelta(weeks=1)
    with Bus(transport=MemoryTransport()) as bus:
        week = week_record("P007", 0, counts, wear)
        bus.publish(week)
        service = _service(tiny_model)
        service.run(bus)
        request_explanation(bus, "P007", end, head="poor_sleep", requested_by="dr-ruth")
        request_explanation(bus, "P007", end, head="poor_sleep", requested_by="dr-ruth")  # no-op
        assert sum(1 for _ in bus.replay("wearable.explain_request")) == 1
        report = service.run(bus)
        maps = [d.record for d in bus.replay("wearable.attention")]
    assert report.explained == 1 and len(maps) == 1
    attention = maps[0].payload
    assert isinstance(attention, WearableAttention)
    minutes = np.asarray(attention.minutes)
    assert minutes.sum() == pytest.approx(1.0, abs=1e-4)
    assert np.all(minutes[:600] == 0)
    assert attention.head == "poor_sleep" and attention.patch_minutes == 144
    assert maps[0].inputs == (week.event_id,)
    direct = tiny_model.score(counts[None], wear[None]).probabilities["poor_sleep"][0]
    assert attention.probability == pytest.approx(direct, abs=1e-5)


def test_explain__unanswerable_requests_go_to_dead_letters_with_the_reason(tiny_model):
    rng = np.random.default_rng(7)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish(week_record("P008", 0, *week_arrays(rng, worn=0.4)))
        end = START + timedelta(weeks=1)
        request_explanation(bus, "P008", end, requested_by="a")
        request_explanation(bus, "P008", end + timedelta(weeks=5), requested_by="a")
        request_explanation(bus, "P008", end, head="mania", requested_by="a")
        report = _service(tiny_model).run(bus)
        reasons = " | ".join(d.record.reason for d in bus.subscribe_dead_letters(group="t").drain())
    assert report.rejected == 3 and report.explained == 0
    assert "the model has no head 'mania' (heads: depression, poor_sleep)" in reasons
    assert "no actigraphy of P008 covers the 7 days ending 2024-02-12T00:00:00+00:00" in reasons
    assert "ending 2024-01-08T00:00:00+00:00 were worn 40%; a window needs 70%" in reasons


def test_daily_payloads_are_contract_records(tiny_model):
    rng = np.random.default_rng(8)
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish(week_record("P009", 0, *week_arrays(rng), zone="America/New_York"))
        _service(tiny_model).run(bus)
        days = sorted(_daily(bus), key=lambda d: d.payload.window_end)
    assert all(isinstance(d.payload, WearableDailyRisk) for d in days)
    # The window ends at 00:00 UTC on 2 January: its last minute is 18:59 on 1 January in
    # New York, and the next window's is 18:59 on 2 January.
    assert [str(d.payload.day) for d in days[:2]] == ["2024-01-01", "2024-01-02"]
    assert days[0].payload.timezone == "America/New_York"


def test_run__a_week_that_fails_goes_to_dead_letters_and_the_others_are_scored(tiny_model):
    rng = np.random.default_rng(9)
    poison, good = week_arrays(rng), week_arrays(rng)
    poison[0][:10] = 12345.0
    service = _service(tiny_model)
    score = service.model.score

    def fragile(counts, wear, **options):
        if (counts == 12345.0).any():
            raise RuntimeError("the model cannot read this week")
        return score(counts, wear, **options)

    service.model = copy.copy(service.model)
    service.model.score = fragile  # type: ignore[method-assign]
    with Bus(transport=MemoryTransport()) as bus:
        bus.publish_batch([week_record("P009", 0, *poison), week_record("P010", 0, *good)])
        report = service.run(bus)
        again = service.run(bus)  # committed: the bad week is not retried for ever
        days = _daily(bus)
        (letter,) = bus.subscribe_dead_letters(group="t").drain()
    assert (report.days, report.rejected) == (7, 1)
    assert {d.patient_id for d in days} == {"P010"}
    assert "the service failed on it: RuntimeError('the model cannot read this week')" in (
        letter.record.reason
    )
    assert (again.weeks, again.rejected) == (0, 0)

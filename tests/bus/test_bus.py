"""The bus contract, run against every backend (the ``bus`` fixture is parametrised)."""

from __future__ import annotations

import io
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clarity.bus import Bus, MemoryTransport, OutgoingRecord, Rounds, UndecodableRecordWarning
from clarity.contracts import (
    DEAD_LETTER_TOPIC,
    AvroCodec,
    Envelope,
    MoodReport,
    avro_schema,
)
from clarity.errors import BackendError, BusClosedError, ContractViolation, FieldError
from clarity.testing import example_records
from tests.conftest import BUS_BACKENDS, make_transport


def mood(producer, when, value=5, *, patient="P0001", event_id=None, day=0):
    return Envelope.new(
        event_id=event_id or uuid.uuid4(),
        topic="ingest.mood",
        patient_id=patient,
        observed_at=when + timedelta(days=day),
        source="app",
        producer=producer,
        payload=MoodReport(mood=value),
    )


# ----------------------------------------------------------------------------- publishing


def test_publish__returns_increasing_offsets(bus, producer, when):
    first = bus.publish(mood(producer, when))
    second = bus.publish(mood(producer, when))
    assert (first.offset, second.offset) == (1, 2)
    assert not first.duplicate
    assert bus.topics() == {"ingest.mood": 2}
    assert bus.end_offset() == 2


def test_publish__existing_event_id_is_a_reported_no_op(bus, producer, when):
    record = mood(producer, when)
    assert bus.publish(record).offset == 1
    again = bus.publish(record)
    assert again.duplicate and again.offset is None and again.event_id == record.event_id
    assert bus.end_offset() == 1


def test_publish_batch__repeats_within_a_batch_are_duplicates(bus, producer, when):
    a, b = mood(producer, when), mood(producer, when)
    result = bus.publish_batch([a, b, a])
    assert [r.offset for r in result] == [1, 2, None]
    assert (result.accepted, result.duplicates, len(result)) == (2, 1, 3)


def test_publish_batch__accepts_mappings(bus, producer, when):
    data = mood(producer, when).model_dump(mode="json")
    assert bus.publish(data).offset == 1
    (delivery,) = bus.subscribe("ingest.mood", group="g").poll()
    assert delivery.record.payload == MoodReport(mood=5)


def test_publish_batch__one_invalid_record_writes_nothing(bus, producer, when):
    bus.publish(mood(producer, when))
    bad = mood(producer, when).model_dump()
    bad["payload"] = {"mood": 42}
    with pytest.raises(ContractViolation) as info:
        bus.publish_batch([mood(producer, when), bad, mood(producer, when)])
    error = info.value
    assert str(error).startswith(
        f"Record 2 of 3 (event {bad['event_id']}, topic 'ingest.mood') violates the contract; "
        "nothing was published: field 'payload.mood'"
    )
    assert error.topic == "ingest.mood"
    assert error.record_id == str(bad["event_id"])
    assert [e.loc for e in error.errors] == ["payload.mood"]
    assert bus.end_offset() == 1


def test_publish_batch__text_that_is_not_unicode_writes_nothing(bus, producer, when):
    # A lone surrogate cannot be written as UTF-8; the contract refuses it.
    record = mood(producer, when).model_copy(update={"source": "app\ud800"})
    with pytest.raises(ContractViolation, match="field 'source'"):
        bus.publish_batch([mood(producer, when), record])
    assert bus.end_offset() == 0


def test_publish_batch__encoder_failure_writes_nothing(bus, producer, when, monkeypatch):
    records = [mood(producer, when), mood(producer, when)]
    real_encode = bus._codec.encode

    def failing(record):
        if record.event_id == records[1].event_id:
            raise OverflowError("int too big to convert")
        return real_encode(record)

    monkeypatch.setattr(bus._codec, "encode", failing)
    with pytest.raises(ContractViolation, match="Record 2 of 2 cannot be encoded") as info:
        bus.publish_batch(records)
    assert info.value.record_id == str(records[1].event_id)
    assert "OverflowError" in str(info.value)
    assert bus.end_offset() == 0


def test_publish_batch__empty_batch_is_fine(bus):
    assert len(bus.publish_batch([])) == 0
    assert bus.end_offset() == 0


# ----------------------------------------------------------------------------- consuming


def test_subscribe__pattern_selects_topics(bus):
    bus.publish_batch(example_records(n_patients=2))
    with bus.subscribe("ingest.observation", group="g1") as consumer:
        topics = {d.topic for d in consumer.drain()}
    assert topics == {"ingest.observation"}
    ingest = [r for r in example_records(2) if r.topic.startswith("ingest.")]
    with bus.subscribe("ingest.*", group="g2") as consumer:
        assert len(list(consumer)) == len(ingest) < len(example_records(2))
    with bus.subscribe("wearable.*", group="g3") as consumer:
        assert {d.topic for d in consumer.drain()} == {
            "wearable.daily_risk",
            "wearable.explain_request",
            "wearable.attention",
        }


def test_consumer__records_come_in_offset_order_with_log_time(bus):
    before = datetime.now(UTC) - timedelta(seconds=1)
    bus.publish_batch(example_records(n_patients=2))
    deliveries = list(bus.subscribe(">", group="g"))
    offsets = [d.offset for d in deliveries]
    assert offsets == sorted(offsets) == list(range(1, len(example_records(2)) + 1))
    assert all(d.appended_at >= before for d in deliveries)


def test_consumer__committed_records_are_not_delivered_again(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(5)])
    with bus.subscribe("ingest.mood", group="twin") as consumer:
        assert len(consumer.poll()) == 5
        consumer.commit()
    bus.publish(mood(producer, when, day=9))
    with bus.subscribe("ingest.mood", group="twin") as consumer:
        (fresh,) = consumer.poll()
    assert fresh.offset == 6


def test_consumer__uncommitted_records_are_delivered_again(bus, producer, when):
    records = [mood(producer, when, day=d) for d in range(4)]
    bus.publish_batch(records)
    first = bus.subscribe("ingest.mood", group="twin")
    seen = first.poll()
    first.close()  # dies without committing
    again = bus.subscribe("ingest.mood", group="twin").poll()
    assert [d.record for d in again] == [d.record for d in seen] == records


def test_consumer__commit_through_a_delivery_keeps_the_rest(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(4)])
    consumer = bus.subscribe("ingest.mood", group="twin")
    deliveries = consumer.poll()
    consumer.commit(through=deliveries[1])
    consumer.close()
    remaining = bus.subscribe("ingest.mood", group="twin").poll()
    assert [d.offset for d in remaining] == [3, 4]


def test_rounds__reads_every_topic_a_batch_at_a_time_and_commits_each_round(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(5)])
    bus.publish_batch(example_records(n_patients=2))  # 2 patients, 6 more moods
    with Rounds(bus, ["ingest.mood", "ingest.patient"], group="svc", batch_size=4) as rounds:
        sizes = [
            {
                t: sum(d.record.topic == t for _, d in deliveries)
                for t in ("ingest.mood", "ingest.patient")
            }
            for deliveries in rounds
        ]
        groups = [c.group for c in rounds.consumers]
    assert sizes == [
        {"ingest.mood": 4, "ingest.patient": 2},
        {"ingest.mood": 4, "ingest.patient": 0},
        {"ingest.mood": 3, "ingest.patient": 0},
    ]
    assert groups == ["svc-ingest.mood", "svc-ingest.patient"]
    with Rounds(bus, ["ingest.mood", "ingest.patient"], group="svc", batch_size=4) as rounds:
        assert list(rounds) == []


def test_rounds__a_round_that_fails_is_delivered_again(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(6)])
    with (
        pytest.raises(RuntimeError),
        Rounds(bus, ["ingest.mood"], group="svc", batch_size=4) as rounds,
    ):
        for number, _ in enumerate(rounds):
            if number == 1:
                raise RuntimeError("the service crashed while handling the second round")
    with Rounds(bus, ["ingest.mood"], group="svc", batch_size=4) as rounds:
        offsets = [[d.offset for _, d in deliveries] for deliveries in rounds]
    assert offsets == [[5, 6]]


def test_rounds__rejects_a_batch_size_below_one(bus):
    with pytest.raises(ValueError, match="batch_size must be a positive"):
        Rounds(bus, ["ingest.mood"], group="svc", batch_size=0)


def test_consumer__groups_are_independent(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(3)])
    with bus.subscribe("ingest.mood", group="a") as a:
        a.poll()
        a.commit()
    assert len(bus.subscribe("ingest.mood", group="b").poll()) == 3
    assert bus.subscribe("ingest.mood", group="a").poll() == []


def test_consumer__start_latest_skips_the_backlog(bus, producer, when):
    bus.publish(mood(producer, when))
    consumer = bus.subscribe("ingest.*", group="late", start="latest")
    assert consumer.poll() == []
    bus.publish(mood(producer, when))
    bus.publish(example_records(1)[0])  # a topic the log had not seen at subscription
    assert [d.offset for d in consumer.poll()] == [2, 3]


def test_consumer__poll_respects_max_records_and_lag(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(7)])
    consumer = bus.subscribe("ingest.mood", group="g")
    assert consumer.lag() == 7
    assert len(consumer.poll(max_records=3)) == 3
    assert consumer.lag() == 4
    assert consumer.positions() == {"ingest.mood": 3}
    with pytest.raises(ValueError, match="max_records"):
        consumer.poll(max_records=0)


def test_consumer__poll_waits_for_records_until_timeout(bus, producer, when):
    consumer = bus.subscribe("ingest.mood", group="g")
    started = time.monotonic()
    assert consumer.poll(timeout=0.2) == []
    assert time.monotonic() - started >= 0.2
    publisher = threading.Timer(0.1, lambda: bus.publish(mood(producer, when)))
    publisher.start()
    got = consumer.poll(timeout=5)
    publisher.join()
    assert len(got) == 1


def test_consumer__seek_to_offset_and_time(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(3)])
    time.sleep(0.01)
    boundary = datetime.now(UTC)
    time.sleep(0.01)
    bus.publish_batch([mood(producer, when, day=d) for d in range(3, 5)])
    consumer = bus.subscribe("ingest.mood", group="g")
    consumer.seek(offset=2)
    assert [d.offset for d in consumer.poll()] == [2, 3, 4, 5]
    consumer.seek(time=boundary)
    assert [d.offset for d in consumer.poll()] == [4, 5]
    consumer.seek(time=boundary)
    consumer.commit()
    assert [d.offset for d in bus.subscribe("ingest.mood", group="g").poll()] == [4, 5]
    consumer.seek()
    assert len(consumer.poll()) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"offset": 1, "time": datetime.now(UTC)}, "not both"),
        ({"offset": 0}, "must be an int >= 1"),
        ({"time": datetime(2024, 1, 1)}, "timezone-aware"),
    ],
)
def test_consumer__seek_rejects_bad_arguments(bus, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bus.subscribe(">", group="g").seek(**kwargs)


@pytest.mark.parametrize("group", ["", "-x", "has space", "g" * 129])
def test_subscribe__group_names_are_validated(bus, group):
    with pytest.raises(ValueError, match="'group' parameter"):
        bus.subscribe(">", group=group)


def test_subscribe__start_is_validated(bus):
    with pytest.raises(ValueError, match="'start' parameter"):
        bus.subscribe(">", group="g", start="middle")  # type: ignore[arg-type]


def test_replay__from_offset_and_time_without_a_group(bus, producer, when):
    bus.publish_batch([mood(producer, when, day=d) for d in range(3)])
    time.sleep(0.01)
    boundary = datetime.now(UTC)
    bus.publish(mood(producer, when, day=3))
    assert [d.offset for d in bus.replay()] == [1, 2, 3, 4]
    assert [d.offset for d in bus.replay("ingest.mood", from_offset=3)] == [3, 4]
    assert [d.offset for d in bus.replay(from_time=boundary)] == [4]
    assert [d.offset for d in bus.replay(from_time=boundary - timedelta(days=1))] == [1, 2, 3, 4]
    assert list(bus.replay(from_time=datetime.now(UTC) + timedelta(days=1))) == []


# ----------------------------------------------------------------------------- dead letters


def test_reject__keeps_the_record_and_reason_on_the_dead_letter_topic(bus, producer, when):
    record = mood(producer, when)
    bus.publish(record)
    consumer = bus.subscribe("ingest.mood", group="twin")
    (delivery,) = consumer.poll()
    result = consumer.reject(
        delivery, "cannot place on the timeline", [FieldError("payload.mood", "odd")]
    )
    consumer.commit()
    assert not result.duplicate
    assert consumer.reject(delivery, "again").duplicate  # a restart re-rejects idempotently
    (dead,) = bus.subscribe_dead_letters(group="ops").poll()
    letter = dead.record
    assert (letter.source_topic, letter.rejected_by, letter.patient_id) == (
        "ingest.mood",
        "twin",
        "P0001",
    )
    assert letter.rejected_event_id == record.event_id
    assert letter.errors[0].loc == "payload.mood"
    original = AvroCodec().decode("ingest.mood", letter.original)
    assert original == record
    assert letter.original_schema_fingerprint == delivery.schema_fingerprint
    with pytest.raises(ValueError, match="cannot be rejected again"):
        bus.subscribe_dead_letters(group="ops2").reject(dead, "no")


def test_dead_letter__patterns_never_match_the_dead_letter_topic(bus):
    bus.dead_letter(
        source_topic="ingest.fhir",
        original=b"{not json",
        original_format="text",
        reason="malformed bundle",
        rejected_by="ingest",
    )
    assert bus.topics() == {DEAD_LETTER_TOPIC: 1}
    assert bus.subscribe(">", group="g").poll() == []
    assert bus.subscribe("*", group="g2").poll() == []
    (letter,) = bus.subscribe_dead_letters(group="ops").poll()
    assert letter.record.original == b"{not json" and letter.record.patient_id is None


def _inject(bus, topic, data, fingerprint=None, event_id=None):
    """Write bytes straight through the transport, as a foreign or older producer could."""
    codec = AvroCodec()
    if fingerprint is None:
        fingerprint, text = codec.current_schema(
            topic if topic != "legacy.retired" else "ingest.mood"
        )
        bus.transport.register_schema(fingerprint, topic, text)
    bus.transport.append(
        [OutgoingRecord(str(event_id or uuid.uuid4()), topic, "P0001", 0, fingerprint, data)]
    )


def _encode_raw(topic, plain):
    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer, fastavro.parse_schema(avro_schema(topic), named_schemas={}), plain
    )
    return buffer.getvalue()


def test_consumer__undecodable_records_are_dead_lettered_and_skipped(bus, producer, when):
    good = mood(producer, when)
    bad_values = mood(producer, when).model_dump()
    bad_values["payload"]["mood"] = 99  # valid Avro, invalid contract
    _inject(bus, "ingest.mood", b"\xff\xfe garbage")
    _inject(
        bus, "ingest.mood", _encode_raw("ingest.mood", bad_values), event_id=bad_values["event_id"]
    )
    _inject(bus, "legacy.retired", b"")
    bus.publish(good)
    consumer = bus.subscribe("ingest.*", group="twin")
    (delivery,) = consumer.poll(max_records=1)  # reads on past the bad records to the good one
    assert delivery.record == good
    letters = [d.record for d in bus.subscribe_dead_letters(group="ops").poll()]
    assert [letter.rejected_event_id is not None for letter in letters] == [True, True]
    assert "cannot decode the Avro body" in letters[0].reason
    assert "violates the current contract" in letters[1].reason
    assert letters[1].errors[0].loc == "payload.mood"
    assert letters[1].rejected_event_id == bad_values["event_id"]
    assert all(letter.rejected_by == "twin" for letter in letters)
    # A consumer of every topic also meets the topic this contract no longer has.
    assert bus.subscribe(">", group="all").poll()[-1].record == good
    reasons = [d.record.reason for d in bus.subscribe_dead_letters(group="ops2").poll()]
    assert any("'legacy.retired' is not in this version of the contract" in r for r in reasons)


def test_consumer__records_with_an_unknown_writer_schema_are_dead_lettered(bus):
    if not isinstance(bus.transport, MemoryTransport):
        # SQLite's foreign key refuses such a record at the door.
        with pytest.raises(BackendError, match="FOREIGN KEY"):
            _inject(bus, "ingest.mood", b"", fingerprint="f" * 64)
        return
    _inject(bus, "ingest.mood", b"", fingerprint="f" * 64)
    assert bus.subscribe(">", group="g").poll() == []
    (letter,) = bus.subscribe_dead_letters(group="ops").poll()
    assert f"writer schema {'f' * 64} is not registered" in letter.record.reason


def test_consumer__a_corrupt_dead_letter_is_an_error_not_a_loop(bus):
    _inject(bus, DEAD_LETTER_TOPIC, b"\xff")
    consumer = bus.subscribe_dead_letters(group="ops")
    for _ in range(2):  # the consumer does not move past it: it is never skipped
        with pytest.raises(BackendError, match="cannot itself be dead-lettered"):
            consumer.poll()


def test_consumer__a_failed_dead_letter_write_skips_nothing(bus, producer, when, monkeypatch):
    first, last = mood(producer, when), mood(producer, when)
    bus.publish(first)
    _inject(bus, "ingest.mood", b"\xff")
    bus.publish(last)
    consumer = bus.subscribe("ingest.mood", group="twin")
    real = bus.dead_letter
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise BackendError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(bus, "dead_letter", flaky)
    with pytest.raises(BackendError, match="disk full"):
        consumer.poll()
    assert consumer.positions() == {"ingest.mood": 0}
    assert [d.record for d in consumer.poll()] == [first, last]
    assert consumer.dead_lettered == 1
    assert len(bus.subscribe_dead_letters(group="ops").poll()) == 1


def test_consumer__a_record_with_an_invalid_patient_id_is_still_dead_lettered(bus):
    bus.transport.register_schema("a" * 64, "ingest.mood", "{}")
    bus.transport.append(
        [OutgoingRecord(str(uuid.uuid4()), "ingest.mood", "x y", 0, "a" * 64, b"")]
    )
    assert bus.subscribe(">", group="g").poll() == []
    (letter,) = bus.subscribe_dead_letters(group="ops").poll()
    assert letter.record.patient_id is None
    assert "patient id 'x y' is invalid" in letter.record.reason


def test_replay__is_read_only_and_warns_about_what_it_skips(bus, producer, when):
    _inject(bus, "ingest.mood", b"\xff")
    bus.publish(mood(producer, when))
    with pytest.warns(UndecodableRecordWarning, match="Undecodable record at offset 1"):
        replayed = list(bus.replay())
    assert [d.offset for d in replayed] == [2]
    assert DEAD_LETTER_TOPIC not in bus.topics()


def test_replay__bad_arguments_fail_at_the_call(bus):
    with pytest.raises(ValueError, match="'from_offset' parameter must be an int >= 1"):
        bus.replay(from_offset=0)
    with pytest.raises(ValueError, match="Invalid topic pattern"):
        bus.replay("Ingest")


# ----------------------------------------------------------------------------- lifecycle


def test_bus__closed_bus_and_consumer_refuse_work(bus, producer, when):
    consumer = bus.subscribe(">", group="g")
    consumer.close()
    with pytest.raises(BusClosedError, match="consumer of group 'g' is closed"):
        consumer.poll()
    bus.close()
    bus.close()  # idempotent
    with pytest.raises(BusClosedError):
        bus.publish(mood(producer, when))
    with pytest.raises(BusClosedError):
        bus.topics()


def test_replay__cannot_commit(bus, producer, when):
    bus.publish(mood(producer, when))
    from clarity.bus import Consumer

    replay = Consumer(bus, pattern=">", group=None, start="earliest")
    replay.poll()
    with pytest.raises(ValueError, match="no consumer group"):
        replay.commit()


# ----------------------------------------------------------------------------- properties


@given(
    batches=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    commits=st.lists(st.booleans(), min_size=6, max_size=6),
    crashes=st.lists(st.booleans(), min_size=6, max_size=6),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("backend", BUS_BACKENDS)
def test_bus__no_record_is_lost_on_crash_or_replay(
    producer, when, tmp_path_factory, backend, batches, commits, crashes
):
    bus = Bus(transport=make_transport(backend, tmp_path_factory.mktemp(backend)))
    published: list[uuid.UUID] = []
    seen: set[uuid.UUID] = set()
    polled = committed = 0
    consumer = bus.subscribe("ingest.mood", group="g")
    for size, commit, crash in zip(batches, commits, crashes, strict=False):
        records = [mood(producer, when) for _ in range(size)]
        bus.publish_batch(records)
        published += [r.event_id for r in records]
        got = consumer.poll(max_records=4)
        if got:
            assert got[0].offset == polled + 1  # no gap, no repeat within a session
            polled = got[-1].offset
        seen |= {d.record.event_id for d in got}
        if commit:
            consumer.commit()
            committed = polled
        if crash:
            consumer.close()
            consumer = bus.subscribe("ingest.mood", group="g")
            # At-least-once: a new member resumes right after the last commit.
            assert consumer.positions().get("ingest.mood", 0) == committed
            polled = committed
    seen |= {d.record.event_id for d in consumer.drain()}
    assert seen == set(published)
    assert [d.record.event_id for d in bus.replay()] == published
    bus.close()


def test_consumer__empty_log_has_no_lag_and_nothing_to_read(bus):
    consumer = bus.subscribe("ingest.*", group="g")
    assert consumer.lag() == 0
    assert consumer.poll() == []
    assert consumer.positions() == {}


def test_transport__closed_transport_refuses_work(bus):
    transport = bus.transport
    transport.close()
    for call in (
        transport.topics,
        transport.end_offset,
        lambda: transport.schema("a"),
        lambda: transport.register_schema("a", "t", "{}"),
        lambda: transport.append([]),
        lambda: transport.read({"t": 0}, 1),
        lambda: transport.count({"t": 0}),
        lambda: transport.offset_before(0),
        lambda: transport.committed("g"),
        lambda: transport.commit("g", {"t": 1}),
    ):
        with pytest.raises(BusClosedError):
            call()

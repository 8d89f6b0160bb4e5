from __future__ import annotations

import enum
import io
import json
import uuid
from typing import Annotated

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import BaseModel, Field, Strict

from clarity.contracts import (
    DEAD_LETTER_TOPIC,
    TOPICS,
    AvroCodec,
    DeadLetter,
    avro_schema,
    from_avro,
    schema_fingerprint,
    to_avro,
)
from clarity.contracts._avro import _SchemaBuilder
from clarity.testing import example_records
from tests.strategies import envelopes


@given(record=envelopes())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_avro__every_record_round_trips_unchanged(record):
    data = to_avro(record)
    assert from_avro(record.topic, data) == record


def test_avro__examples_of_every_topic_round_trip():
    records = example_records(n_patients=1)
    assert {r.topic for r in records} == set(TOPICS)
    for record in records:
        back = from_avro(record.topic, to_avro(record))
        assert back == record
        assert type(back.payload) is type(record.payload)


def test_avro__dead_letter_round_trips(when):
    letter = DeadLetter(
        event_id=uuid.uuid4(),
        source_topic="ingest.mood",
        reason="bad",
        original=b"\x00\xff raw",
        original_format="binary",
        rejected_by="tests",
        rejected_at=when,
    )
    assert from_avro(DEAD_LETTER_TOPIC, to_avro(letter)) == letter


@pytest.mark.parametrize("topic", [*sorted(TOPICS), DEAD_LETTER_TOPIC])
def test_avro_schema__is_valid_avro_with_docs_and_units(topic):
    schema = avro_schema(topic)
    fastavro.parse_schema(schema, named_schemas={})
    assert schema["namespace"] == f"clarity.topics.{topic}"
    assert _undocumented(schema, topic) == []


def _undocumented(schema, path):
    missing = []
    if isinstance(schema, list):
        for branch in schema:
            missing += _undocumented(branch, path)
    elif isinstance(schema, dict) and schema.get("type") == "record":
        for field in schema["fields"]:
            where = f"{path}.{field['name']}"
            missing += [] if field.get("doc") else [where]
            missing += _undocumented(field["type"], where)
    elif isinstance(schema, dict) and schema.get("type") in ("array", "map"):
        missing += _undocumented(schema.get("items", schema.get("values")), path)
    return missing


def test_avro_schema__optional_fields_default_to_null_and_units_are_kept():
    payload = next(f for f in avro_schema("ingest.medication")["fields"] if f["name"] == "payload")
    dose = next(f for f in payload["type"]["fields"] if f["name"] == "dose_mg")
    assert dose["type"] == ["null", "double"]
    assert dose["default"] is None
    assert dose["unit"] == "mg"


def test_avro_schema__non_null_default_puts_its_branch_first():

    class Colour(enum.Enum):
        red = "red"

    class Inner(BaseModel):
        x: float = 1.0

    class WithDefault(BaseModel):
        count: int | None = 3
        tags: tuple[str, ...] = ()
        kind: str = "x"
        made: list[int] = Field(default_factory=lambda: [1, 2])
        inner: Inner = Inner()
        ident: uuid.UUID = uuid.UUID(int=7)
        colour: Colour = Colour.red
        again: Colour | None = None
        strict: Annotated[int, Strict()] | int | None = None

    schema = _SchemaBuilder().record(WithDefault)
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["count"]["type"] == ["long", "null"] and fields["count"]["default"] == 3
    assert fields["tags"]["default"] == []
    assert fields["made"]["default"] == [1, 2]
    assert fields["inner"]["default"] == {"x": 1.0}
    assert fields["ident"]["default"] == str(uuid.UUID(int=7))
    assert fields["colour"]["type"]["symbols"] == ["red"] and "doc" not in fields["colour"]["type"]
    assert fields["again"]["type"] == ["null", "clarity.contracts.Colour"]  # defined once
    assert fields["strict"]["type"] == ["null", "long"]  # both int branches are one Avro long
    fastavro.parse_schema(schema, named_schemas={})


def test_avro_schema__unsupported_types_are_refused():
    from typing import Any

    class Loose(BaseModel):
        anything: Any

    class Pair(BaseModel):
        pair: tuple[int, str]

    with pytest.raises(TypeError, match="no Avro mapping"):
        _SchemaBuilder().record(Loose)
    with pytest.raises(TypeError, match="variable-length tuples"):
        _SchemaBuilder().record(Pair)


def test_avro_schema__maps_and_nested_records_are_supported():

    class Inner(BaseModel):
        x: float

    class Outer(BaseModel):
        """Outer record."""

        by_name: dict[str, Inner]
        again: list[Inner]

    schema = _SchemaBuilder().record(Outer)
    assert schema["doc"] == "Outer record."
    assert schema["fields"][0]["type"]["type"] == "map"
    assert schema["fields"][1]["type"]["items"] == "clarity.contracts.Inner"  # defined once
    parsed = fastavro.parse_schema(schema, named_schemas={})
    buffer = io.BytesIO()
    fastavro.schemaless_writer(
        buffer, parsed, {"by_name": {"a": {"x": 1.0}}, "again": [{"x": 2.0}]}
    )
    assert buffer.getvalue()


def test_schema_fingerprint__ignores_key_order_but_not_content():
    schema = avro_schema("ingest.mood")
    reordered = json.loads(json.dumps(schema, sort_keys=True))
    assert schema_fingerprint(schema) == schema_fingerprint(reordered)
    schema["fields"][0]["doc"] = "changed"
    assert schema_fingerprint(schema) != schema_fingerprint(reordered)


def test_codec__decodes_data_written_with_an_older_schema(producer, when):
    # The writer schema lacks the newer optional 'comment' field: resolution fills the default.
    codec = AvroCodec()
    old = avro_schema("ingest.mood")
    payload_field = next(f for f in old["fields"] if f["name"] == "payload")
    payload_field["type"]["fields"] = [
        f for f in payload_field["type"]["fields"] if f["name"] != "comment"
    ]
    old_text = json.dumps(old)
    record = next(r for r in example_records(1) if r.topic == "ingest.mood")
    plain = record.model_dump()
    del plain["payload"]["comment"]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(old, named_schemas={}), plain)
    decoded = codec.decode(
        "ingest.mood",
        buffer.getvalue(),
        writer_fingerprint=schema_fingerprint(old),
        writer_schema=old_text,
    )
    assert decoded == record


class Colour(enum.Enum):
    red = "red"


def test_avro_schema__time_bytes_and_nested_defaults_use_avro_encodings():
    from datetime import UTC, date, datetime

    class Stamp(BaseModel):
        at: datetime = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)

    class Defaults(BaseModel):
        when: datetime = datetime(1970, 1, 2, tzinfo=UTC)
        day: date = date(1970, 1, 11)
        blob: bytes = b"\x00\xff"
        stamp: Stamp = Stamp()
        either: int | str = "a"
        listed: tuple[int, ...] | None = (1,)
        mapped: dict[str, int] | None = {"a": 1}
        nested: Stamp | None = Stamp()
        picked: Colour | None = Colour.red

    schema = _SchemaBuilder().record(Defaults)
    fields = {f["name"]: f for f in schema["fields"]}
    assert fields["when"]["default"] == 86_400_000_000
    assert fields["day"]["default"] == 10
    assert fields["blob"]["default"] == "\x00\xff"
    assert fields["stamp"]["default"] == {"at": 1_000_000}
    assert fields["either"]["type"] == ["string", "long"]  # the default's branch comes first
    assert fields["listed"]["type"][0]["type"] == "array"
    assert fields["mapped"]["type"][0]["type"] == "map"
    assert fields["nested"]["type"][0] == "clarity.contracts.Stamp"  # defined above, by name
    assert fields["picked"]["type"][0]["type"] == "enum"
    # Reading data written before any of these fields existed fills in the defaults.
    empty = {"type": "record", "name": "Defaults", "namespace": "clarity.contracts", "fields": []}
    decoded = fastavro.schemaless_reader(
        io.BytesIO(b""),
        fastavro.parse_schema(empty, named_schemas={}),
        fastavro.parse_schema(schema, named_schemas={}),
    )
    assert decoded["either"] == "a"
    assert decoded["day"] == 10  # fastavro fills a default in its Avro (not logical) form
    assert decoded["picked"] == "red" and decoded["mapped"] == {"a": 1}


def test_avro_schema__a_default_outside_the_union_is_refused():
    class Odd(BaseModel):
        value: int | None = "x"  # type: ignore[assignment]

    with pytest.raises(TypeError, match="matches no branch"):
        _SchemaBuilder().record(Odd)


def test_avro_schema__two_types_with_one_name_are_refused():
    def make():
        class Item(BaseModel):
            x: int

        return Item

    first, second = make(), make()

    class Both(BaseModel):
        a: first  # type: ignore[valid-type]
        b: second  # type: ignore[valid-type]

    with pytest.raises(TypeError, match=r"Two types are both named clarity\.contracts\.Item"):
        _SchemaBuilder().record(Both)


def test_avro_schema__enum_values_must_be_avro_names():
    class Scale(enum.Enum):
        phq_9 = "phq-9"

    class WithEnum(BaseModel):
        scale: Scale

    with pytest.raises(TypeError, match=r"values \['phq-9'\] are not Avro names"):
        _SchemaBuilder().record(WithEnum)

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clarity.contracts import (
    DEAD_LETTER_TOPIC,
    TOPICS,
    check_compatibility,
    check_schema_files,
    json_schema,
    release_schemas,
    write_schema_files,
)
from clarity.errors import ContractViolation
from tests.conftest import REPO


def test_checked_in_schemas__match_the_contract():
    problems = check_schema_files(REPO / "schemas")
    assert problems == [], "run `clarity schemas` and commit:\n" + "\n".join(map(str, problems))


def test_checked_in_schemas__stay_compatible_with_the_release():
    assert (REPO / "schemas" / "released" / "avro").is_dir()
    problems = check_compatibility(REPO / "schemas")
    assert problems == [], "\n".join(map(str, problems))


@pytest.fixture
def schema_root(tmp_path: Path) -> Path:
    write_schema_files(tmp_path)
    release_schemas(tmp_path)
    return tmp_path


def test_write_schema_files__one_avro_and_one_json_schema_per_topic(tmp_path):
    written = write_schema_files(tmp_path)
    topics = [*TOPICS, DEAD_LETTER_TOPIC]
    assert len(written) == 2 * len(topics)
    for topic in topics:
        assert json.loads((tmp_path / "avro" / f"{topic}.avsc").read_text())["type"] == "record"
        assert "properties" in json.loads((tmp_path / "json" / f"{topic}.schema.json").read_text())


def test_check_schema_files__reports_drift_missing_and_stale_files(schema_root):
    assert check_schema_files(schema_root) == []
    mood = schema_root / "avro" / "ingest.mood.avsc"
    mood.write_text(mood.read_text().replace("Mood", "Mud"))
    (schema_root / "json" / "ingest.note.schema.json").unlink()
    (schema_root / "avro" / "ingest.gone.avsc").write_text("{}")
    problems = {p.path: p.message for p in check_schema_files(schema_root)}
    assert problems == {
        "avro/ingest.mood.avsc": "differs from the contract; run `clarity schemas`",
        "json/ingest.note.schema.json": "missing; run `clarity schemas` to generate",
        "avro/ingest.gone.avsc": "no topic generates this file",
    }
    write_schema_files(schema_root)
    assert check_schema_files(schema_root) == []
    assert not (schema_root / "avro" / "ingest.gone.avsc").exists()


def _edit_released(root: Path, topic: str, edit) -> None:
    path = root / "released" / "avro" / f"{topic}.avsc"
    schema = json.loads(path.read_text())
    edit(schema)
    path.write_text(json.dumps(schema))


def _payload_fields(schema):
    return next(f for f in schema["fields"] if f["name"] == "payload")["type"]["fields"]


def test_check_compatibility__accepts_a_new_field_with_a_default(schema_root):
    # Released schema without 'comment' (as if the field were added since): still readable.
    _edit_released(
        schema_root,
        "ingest.mood",
        lambda s: _payload_fields(s).remove(
            next(f for f in _payload_fields(s) if f["name"] == "comment")
        ),
    )
    assert check_compatibility(schema_root) == []


def test_check_compatibility__rejects_a_new_field_without_a_default(schema_root):
    # 'mood' has no default: a reader cannot fill it in for data written without it.
    _edit_released(
        schema_root,
        "ingest.mood",
        lambda s: _payload_fields(s).remove(
            next(f for f in _payload_fields(s) if f["name"] == "mood")
        ),
    )
    problems = check_compatibility(schema_root)
    assert [p.path for p in problems] == ["released/avro/ingest.mood.avsc"]
    assert "mood" in problems[0].message


def test_check_compatibility__rejects_type_narrowing(schema_root):
    # Released data wrote birth_year as double; the current reader wants long.
    def widen(schema):
        field = next(f for f in _payload_fields(schema) if f["name"] == "birth_year")
        field["type"] = "double"

    _edit_released(schema_root, "ingest.patient", widen)
    problems = check_compatibility(schema_root)
    assert len(problems) == 1 and "ingest.patient" in problems[0].message
    with pytest.raises(ContractViolation, match="break backward compatibility"):
        release_schemas(schema_root)


def test_check_compatibility__rejects_a_removed_enum_symbol_and_a_removed_topic(schema_root):
    def add_symbol(schema):
        field = next(f for f in _payload_fields(schema) if f["name"] == "sex")
        field["type"]["symbols"].append("intersex")

    _edit_released(schema_root, "ingest.patient", add_symbol)
    shutil.copy(
        schema_root / "released" / "avro" / "ingest.mood.avsc",
        schema_root / "released" / "avro" / "ingest.retired.avsc",
    )
    messages = {p.path: p.message for p in check_compatibility(schema_root)}
    assert set(messages) == {
        "released/avro/ingest.patient.avsc",
        "released/avro/ingest.retired.avsc",
    }
    assert "was removed" in messages["released/avro/ingest.retired.avsc"]


def test_release_schemas__replaces_the_previous_release(schema_root):
    # A compatible edit since the last release (here: a changed doc) becomes the new baseline.
    _edit_released(schema_root, "ingest.mood", lambda s: s.update(doc="older wording"))
    released = release_schemas(schema_root)
    assert len(released) == len(TOPICS) + 1
    assert (
        json.loads((schema_root / "released" / "avro" / "ingest.mood.avsc").read_text())["doc"]
        != "older wording"
    )


def test_check_compatibility__without_a_release_there_is_nothing_to_break(tmp_path):
    assert check_compatibility(tmp_path) == []


def test_json_schema__carries_constraints_the_avro_schema_cannot():
    schema = json_schema("ingest.mood")
    mood = schema["$defs"]["MoodReport"]["properties"]["mood"]
    assert (mood["minimum"], mood["maximum"]) == (0, 10)
    assert schema["properties"]["payload"]["$ref"].endswith("MoodReport")
    assert "DeadLetter" in json_schema(DEAD_LETTER_TOPIC)["title"]

"""Avro schemas generated from the contract models, and the binary codec.

One schema per topic: the envelope with that topic's payload. Types map as
follows, and anything else is refused so the contract stays expressible in
Avro: ``bool``/``int``/``float``/``str``/``bytes`` to ``boolean``/``long``/
``double``/``string``/``bytes``; ``datetime`` to ``timestamp-micros``; ``date``
to ``date``; ``UUID`` to ``uuid``; a ``StrEnum`` to an ``enum``; a tuple or list
to an ``array``; ``dict[str, T]`` to a ``map``; ``T | None`` to a union with
``null`` first; a model to a named ``record``.
"""

from __future__ import annotations

import enum
import hashlib
import inspect
import io
import json
import re
import types
import typing
import uuid
from datetime import date, datetime
from functools import cache
from typing import Any, cast

import fastavro
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from clarity._utils import to_micros
from clarity.contracts._deadletter import DeadLetter
from clarity.contracts._envelope import Envelope
from clarity.contracts._topics import DEAD_LETTER_TOPIC, TOPICS, topic_spec

__all__ = [
    "AvroCodec",
    "Record",
    "avro_schema",
    "from_avro",
    "schema_fingerprint",
    "to_avro",
]

Record = Envelope | DeadLetter
"""Anything the bus carries: an envelope, or a dead letter on the dead-letter topic."""

_NAMESPACE = "clarity.contracts"
_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MISSING = object()


def _first_paragraph(doc: str | None) -> str | None:
    if not doc:
        return None
    return inspect.cleandoc(doc).split("\n\n")[0].replace("\n", " ")


def _default_of(info: FieldInfo) -> Any:
    if info.is_required():
        return _MISSING
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


_EPOCH_DATE = date(1970, 1, 1)


def _avro_default(value: Any) -> Any:
    """Write a Python default as Avro's JSON encoding of it."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_avro_default(item) for item in value]
    if isinstance(value, dict):
        return {key: _avro_default(item) for key, item in value.items()}
    if isinstance(value, BaseModel):
        return _avro_default(value.model_dump())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, date):
        return (value - _EPOCH_DATE).days
    if isinstance(value, bytes):
        return value.decode("latin-1")  # Avro's JSON form of bytes: one code point per byte
    return value


_JSON_BRANCH = {bool: "boolean", int: "long", float: "double", str: "string"}


def _branch_type(branch: Any) -> Any:
    return branch.get("type") if isinstance(branch, dict) else branch


def _matches(branch: Any, default: Any) -> bool:
    kind = str(_branch_type(branch))
    named = "." in kind  # a reference to a record or enum defined earlier
    if default is None:
        return kind == "null"
    if isinstance(default, list):
        return kind == "array"
    if isinstance(default, dict):
        return kind in ("map", "record") or named
    if isinstance(default, str) and (kind == "enum" or named):
        return True
    return kind == _JSON_BRANCH.get(type(default))


def _default_branch_first(avro_type: Any, default: Any, where: str) -> Any:
    # Avro takes a union field's default from its first branch.
    if not isinstance(avro_type, list):
        return avro_type
    first = next((b for b in avro_type if _matches(b, default)), None)
    if first is None:
        raise TypeError(f"{where}: the default {default!r} matches no branch of {avro_type}")
    return [first, *[b for b in avro_type if b is not first]]


class _SchemaBuilder:
    """Turns pydantic models into one self-contained Avro schema."""

    def __init__(self) -> None:
        self._defined: dict[str, type] = {}

    def _define(self, fullname: str, cls: type) -> bool:
        """Claim a named type; False when ``cls`` already defined it."""
        known = self._defined.get(fullname)
        if known is cls:
            return False
        if known is not None:
            raise TypeError(
                f"Two types are both named {fullname}: {known.__module__}.{known.__qualname__} "
                f"and {cls.__module__}.{cls.__qualname__}; Avro names must be unique."
            )
        self._defined[fullname] = cls
        return True

    def record(
        self,
        model: type[BaseModel],
        *,
        name: str | None = None,
        namespace: str = _NAMESPACE,
        doc: str | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> dict[str, Any] | str:
        record_name = name or model.__name__
        fullname = f"{namespace}.{record_name}"
        if not self._define(fullname, model):
            return fullname
        fields = []
        for field_name, info in model.model_fields.items():
            annotation = (overrides or {}).get(field_name, info.annotation)
            avro_type = self.type_of(annotation, where=f"{model.__name__}.{field_name}")
            field: dict[str, Any] = {"name": field_name, "type": avro_type}
            if info.description:
                field["doc"] = info.description
            extra = info.json_schema_extra
            if isinstance(extra, dict) and "unit" in extra:
                field["unit"] = extra["unit"]
            default = _default_of(info)
            if default is not _MISSING:
                field["default"] = _avro_default(default)
                field["type"] = _default_branch_first(
                    avro_type, field["default"], f"{model.__name__}.{field_name}"
                )
            fields.append(field)
        schema: dict[str, Any] = {"type": "record", "name": record_name, "namespace": namespace}
        record_doc = doc or _first_paragraph(model.__doc__)
        if record_doc:
            schema["doc"] = record_doc
        schema["fields"] = fields
        return schema

    def type_of(self, annotation: Any, *, where: str) -> Any:
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is typing.Annotated:
            return self.type_of(args[0], where=where)
        if annotation is type(None):
            return "null"
        if origin in (typing.Union, types.UnionType):
            branches: list[Any] = []
            for arg in args:
                branch = self.type_of(arg, where=where)
                for item in branch if isinstance(branch, list) else [branch]:
                    if item not in branches:
                        branches.append(item)
            return sorted(branches, key=lambda b: b != "null")
        primitive = _PRIMITIVES.get(annotation)
        if primitive is not None:
            return dict(primitive) if isinstance(primitive, dict) else primitive
        if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
            return self._enum(annotation)
        if origin in (tuple, list) and args:
            if origin is tuple and (len(args) != 2 or args[1] is not Ellipsis):
                raise TypeError(f"{where}: only variable-length tuples map to Avro arrays")
            return {"type": "array", "items": self.type_of(args[0], where=where)}
        if origin is dict and args and args[0] is str:
            return {"type": "map", "values": self.type_of(args[1], where=where)}
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            return self.record(annotation)
        raise TypeError(f"{where}: no Avro mapping for {annotation!r}")

    def _enum(self, cls: type[enum.Enum]) -> dict[str, Any] | str:
        fullname = f"{_NAMESPACE}.{cls.__name__}"
        if not self._define(fullname, cls):
            return fullname
        symbols = [member.value for member in cls]
        bad = [s for s in symbols if not isinstance(s, str) or not _SYMBOL.match(s)]
        if bad:
            raise TypeError(
                f"Enum {cls.__name__} cannot be an Avro enum: its values {bad!r} are not Avro "
                "names (letters, digits and '_', not starting with a digit)."
            )
        schema: dict[str, Any] = {"type": "enum", "name": cls.__name__, "namespace": _NAMESPACE}
        doc = _first_paragraph(cls.__doc__)
        if doc:
            schema["doc"] = doc
        schema["symbols"] = symbols
        return schema


_PRIMITIVES: dict[Any, str | dict[str, str]] = {
    bool: "boolean",
    int: "long",
    float: "double",
    str: "string",
    bytes: "bytes",
    datetime: {"type": "long", "logicalType": "timestamp-micros"},
    date: {"type": "int", "logicalType": "date"},
    uuid.UUID: {"type": "string", "logicalType": "uuid"},
}


@cache
def _schema_json(topic: str) -> str:
    builder = _SchemaBuilder()
    namespace = f"clarity.topics.{topic}"
    if topic == DEAD_LETTER_TOPIC:
        schema = builder.record(
            DeadLetter,
            name="DeadLetter",
            namespace=namespace,
            doc="A rejected record kept whole, with the reason it was rejected.",
        )
    else:
        spec = topic_spec(topic)
        schema = builder.record(
            Envelope,
            name="Envelope",
            namespace=namespace,
            doc=f"Topic {topic}: {spec.doc}",
            overrides={"payload": spec.payload},
        )
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def avro_schema(topic: str) -> dict[str, Any]:
    """Return the Avro schema of a topic.

    Parameters
    ----------
    topic
        A registered topic, or ``"deadletter"``.

    Returns
    -------
    dict
        The schema as a JSON-compatible mapping (a fresh copy).

    Raises
    ------
    ContractViolation
        If the topic is not registered.

    Examples
    --------
    >>> avro_schema("ingest.mood")["fields"][0]["name"]
    'event_id'
    """
    result: dict[str, Any] = json.loads(_schema_json(topic))
    return result


def schema_fingerprint(schema: dict[str, Any]) -> str:
    """Return the SHA-256 fingerprint of a schema, over its canonical JSON.

    Unlike Avro's parsing canonical form, this keeps logical types, defaults and
    docs, so two schemas that decode differently never share a fingerprint.

    Parameters
    ----------
    schema
        An Avro schema as a mapping.

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _topic_of(record: Record) -> str:
    return DEAD_LETTER_TOPIC if isinstance(record, DeadLetter) else record.topic


class AvroCodec:
    """Encode records to Avro binary, and decode them with schema resolution.

    Records written under an older schema of a topic are decoded by resolving
    the writer's schema against the current one (Avro's resolution rules), so
    a log keeps its meaning across backward-compatible contract changes.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, Any] = {}
        self._current: dict[str, tuple[str, str]] = {}

    def current_schema(self, topic: str) -> tuple[str, str]:
        """Return ``(fingerprint, schema JSON)`` of the topic's current schema.

        Parameters
        ----------
        topic
            A registered topic, or ``"deadletter"``.

        Returns
        -------
        tuple of str
            The fingerprint and the schema text.
        """
        found = self._current.get(topic)
        if found is None:
            text = _schema_json(topic)
            found = (schema_fingerprint(json.loads(text)), text)
            self._current[topic] = found
        return found

    def _parse(self, fingerprint: str, schema_json: str) -> Any:
        parsed = self._parsed.get(fingerprint)
        if parsed is None:
            # A private name table per schema: two versions of one named type
            # (writer and reader) must not overwrite each other.
            parsed = fastavro.parse_schema(json.loads(schema_json), named_schemas={})
            self._parsed[fingerprint] = parsed
        return parsed

    def encode(self, record: Record) -> tuple[str, bytes]:
        """Encode a record with its topic's current schema.

        Parameters
        ----------
        record
            An envelope or a dead letter.

        Returns
        -------
        tuple
            The writer-schema fingerprint and the Avro binary body.
        """
        fingerprint, text = self.current_schema(_topic_of(record))
        buffer = io.BytesIO()
        # warnings=False skips pydantic's per-field type re-check of an already
        # validated record, which triples the cost of the dump (bench/bus.py).
        plain = record.model_dump(warnings=False)
        fastavro.schemaless_writer(buffer, self._parse(fingerprint, text), plain)
        return fingerprint, buffer.getvalue()

    def decode_dict(
        self, topic: str, data: bytes, *, writer_fingerprint: str, writer_schema: str
    ) -> dict[str, Any]:
        """Decode Avro binary to a mapping in the topic's current shape.

        Parameters
        ----------
        topic
            The topic the bytes were written to.
        data
            The Avro binary body.
        writer_fingerprint, writer_schema
            The schema the bytes were written with.

        Returns
        -------
        dict
            The record as plain data, resolved to the current schema.
        """
        current_fp, current_text = self.current_schema(topic)
        writer = self._parse(writer_fingerprint, writer_schema)
        reader = None if writer_fingerprint == current_fp else self._parse(current_fp, current_text)
        result = fastavro.schemaless_reader(io.BytesIO(data), writer, reader)
        return cast(dict[str, Any], result)  # a record schema always decodes to a dict

    def decode(
        self,
        topic: str,
        data: bytes,
        *,
        writer_fingerprint: str | None = None,
        writer_schema: str | None = None,
    ) -> Record:
        """Decode Avro binary to a validated record.

        Parameters
        ----------
        topic
            The topic the bytes were written to.
        data
            The Avro binary body.
        writer_fingerprint, writer_schema
            The schema the bytes were written with; the current one when omitted.

        Returns
        -------
        Envelope or DeadLetter
            The record, validated against the current contract.
        """
        if writer_schema is None or writer_fingerprint is None:
            writer_fingerprint, writer_schema = self.current_schema(topic)
        plain = self.decode_dict(
            topic, data, writer_fingerprint=writer_fingerprint, writer_schema=writer_schema
        )
        if topic == DEAD_LETTER_TOPIC:
            return DeadLetter.model_validate(plain)
        return Envelope.model_validate(plain)


_DEFAULT_CODEC = AvroCodec()


def to_avro(record: Record) -> bytes:
    """Encode a record as schemaless Avro binary with its topic's current schema.

    Parameters
    ----------
    record
        An envelope or a dead letter.

    Returns
    -------
    bytes
        The Avro body (no container header).
    """
    return _DEFAULT_CODEC.encode(record)[1]


def from_avro(topic: str, data: bytes) -> Record:
    """Decode schemaless Avro binary written with the topic's current schema.

    Parameters
    ----------
    topic
        The topic the bytes were written to.
    data
        The Avro body.

    Returns
    -------
    Envelope or DeadLetter
        The validated record.
    """
    return _DEFAULT_CODEC.decode(topic, data)


def _all_topics() -> list[str]:
    return [*sorted(TOPICS), DEAD_LETTER_TOPIC]

"""The table of bus topics and the payload type each one carries."""

from __future__ import annotations

from dataclasses import dataclass

from clarity.contracts._types import ContractModel
from clarity.errors import ContractViolation, FieldError

__all__ = ["DEAD_LETTER_TOPIC", "TOPICS", "Payload", "TopicSpec", "register_topic", "topic_spec"]

DEAD_LETTER_TOPIC = "deadletter"
"""Topic of rejected records; it carries :class:`DeadLetter`, not an envelope."""


class Payload(ContractModel):
    """Base class of every topic's payload."""


@dataclass(frozen=True)
class TopicSpec:
    """What a topic carries.

    Parameters
    ----------
    name
        The topic, e.g. ``"ingest.observation"``.
    payload
        The payload model of every record on the topic.
    doc
        One sentence on what the topic holds; it becomes the schema's ``doc``.
    """

    name: str
    payload: type[Payload]
    doc: str


TOPICS: dict[str, TopicSpec] = {}
"""Every registered topic by name, filled in when :mod:`clarity.contracts` is imported."""


def register_topic(name: str, payload: type[Payload], doc: str) -> TopicSpec:
    """Declare a topic and its payload type.

    Parameters
    ----------
    name
        Dot-separated lower-case topic name, e.g. ``"wearable.daily_risk"``.
    payload
        The payload model of the topic.
    doc
        One sentence describing the topic.

    Returns
    -------
    TopicSpec
        The registered specification.

    Raises
    ------
    ValueError
        If the name is taken by another payload type or is the dead-letter topic.
    """
    if name == DEAD_LETTER_TOPIC:
        raise ValueError(f"Topic name {name!r} is reserved for dead letters.")
    existing = TOPICS.get(name)
    if existing is not None and existing.payload is not payload:
        raise ValueError(
            f"Topic {name!r} is already registered with payload "
            f"{existing.payload.__name__}; cannot register {payload.__name__}."
        )
    spec = TopicSpec(name=name, payload=payload, doc=doc)
    TOPICS[name] = spec
    return spec


def topic_spec(name: str) -> TopicSpec:
    """Return the specification of a registered topic.

    Parameters
    ----------
    name
        The topic name.

    Returns
    -------
    TopicSpec
        Its specification.

    Raises
    ------
    ContractViolation
        If no such topic is registered.
    """
    try:
        return TOPICS[name]
    except KeyError:
        known = ", ".join(sorted(TOPICS))
        raise ContractViolation(
            "Unknown topic",
            topic=name,
            errors=[FieldError("topic", f"{name!r} is not a registered topic ({known})")],
        ) from None

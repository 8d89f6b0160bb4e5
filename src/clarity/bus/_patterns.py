"""Topic patterns, written as NATS subjects so they map onto JetStream unchanged.

A pattern is dot-separated tokens: ``*`` matches exactly one token and ``>``, as
the last token, matches one or more. ``ingest.*`` matches ``ingest.mood``;
``ingest.>`` also matches ``ingest.mood.v2``; ``>`` matches every topic.
"""

from __future__ import annotations

import re

__all__ = ["check_pattern", "topic_matches"]

_TOKEN = re.compile(r"^[a-z][a-z0-9_]*$")


def check_pattern(pattern: str) -> str:
    """Validate a topic pattern.

    Parameters
    ----------
    pattern
        E.g. ``"ingest.*"``.

    Returns
    -------
    str
        The pattern, unchanged.

    Raises
    ------
    ValueError
        If a token is neither a topic token, ``*``, nor a final ``>``.

    Examples
    --------
    >>> check_pattern("ingest.>")
    'ingest.>'
    """
    tokens = pattern.split(".")
    for index, token in enumerate(tokens):
        if token == "*" or (token == ">" and index == len(tokens) - 1) or _TOKEN.match(token):
            continue
        raise ValueError(
            f"Invalid topic pattern {pattern!r}: token {token!r} must be lower-case letters, "
            "digits and '_', '*' for one token, or a final '>' for the rest."
        )
    return pattern


def topic_matches(pattern: str, topic: str) -> bool:
    """Tell whether a topic matches a pattern.

    Parameters
    ----------
    pattern
        A valid pattern (see :func:`check_pattern`).
    topic
        A topic name.

    Returns
    -------
    bool
        True when the topic matches.

    Examples
    --------
    >>> topic_matches("ingest.*", "ingest.mood"), topic_matches("ingest.*", "wearable.daily_risk")
    (True, False)
    """
    wanted = pattern.split(".")
    tokens = topic.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)

"""The feature bus: one ordered, append-only log of contract records.

:class:`Bus` validates and encodes records and hands them to a transport:
:class:`SqliteTransport` (the embedded default), :class:`MemoryTransport`
(tests), or a scale-out backend named in the settings (:func:`open_bus`).
"""

from clarity.bus._bus import BatchResult, Bus, PublishResult
from clarity.bus._consumer import Consumer, Delivery, UndecodableRecordWarning
from clarity.bus._factory import open_bus
from clarity.bus._memory import MemoryTransport
from clarity.bus._patterns import check_pattern, topic_matches
from clarity.bus._rounds import Round, Rounds
from clarity.bus._sqlite import SqliteTransport
from clarity.bus._transport import LogEntry, OutgoingRecord, Transport

__all__ = [
    "BatchResult",
    "Bus",
    "Consumer",
    "Delivery",
    "LogEntry",
    "MemoryTransport",
    "OutgoingRecord",
    "PublishResult",
    "Round",
    "Rounds",
    "SqliteTransport",
    "Transport",
    "UndecodableRecordWarning",
    "check_pattern",
    "open_bus",
    "topic_matches",
]

"""Several consumer groups polled together and committed a round at a time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Self

from clarity.bus._consumer import Consumer, Delivery
from clarity.contracts import Envelope

if TYPE_CHECKING:
    from clarity.bus._bus import Bus

__all__ = ["Round", "Rounds"]

#: The deliveries of one round, each with the consumer that must reject or commit it.
Round = list[tuple[Consumer[Envelope], Delivery[Envelope]]]


class Rounds:
    """Consume several topics, one consumer group each, in rounds.

    A service that joins a patient's records from several topics reads one
    batch from each, handles them together, then commits every group; a round
    is committed only when the caller asks for the next one, so a failure while
    handling it leaves its records to be delivered again (at-least-once).

    Parameters
    ----------
    bus
        The bus to read.
    topics
        Topics (or patterns); each is read by the group ``f"{group}-{topic}"``.
    group
        Prefix of the consumer groups.
    batch_size
        Records per poll of each topic.

    Examples
    --------
    >>> from clarity.bus import Bus, MemoryTransport
    >>> bus = Bus(transport=MemoryTransport())
    >>> with Rounds(bus, ["ingest.mood", "ingest.patient"], group="doc", batch_size=100) as rounds:
    ...     [len(deliveries) for deliveries in rounds]
    []
    """

    def __init__(self, bus: Bus, topics: Sequence[str], *, group: str, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(
                f"batch_size must be a positive number of records, but got {batch_size!r}."
            )
        self.batch_size = batch_size
        # pop_all only once every topic is subscribed: a failure leaves no group open.
        with ExitStack() as stack:
            self.consumers: list[Consumer[Envelope]] = [
                stack.enter_context(bus.subscribe(topic, group=f"{group}-{topic}"))
                for topic in topics
            ]
            self._stack = stack.pop_all()

    def __iter__(self) -> Iterator[Round]:
        while True:
            batches = [c.poll(max_records=self.batch_size) for c in self.consumers]
            if not any(batches):
                return
            yield [
                (consumer, delivery)
                for consumer, batch in zip(self.consumers, batches, strict=True)
                for delivery in batch
            ]
            for consumer in self.consumers:
                consumer.commit()

    def close(self) -> None:
        """Leave every group; a round that was not finished is not committed."""
        self._stack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

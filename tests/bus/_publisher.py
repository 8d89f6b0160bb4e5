"""Child process for the crash tests: publish batches forever, acknowledging each.

Usage: python _publisher.py DB BATCH_SIZE COMMENT_BYTES [NAME [CLOCK_SHIFT_S]]
Prints the batch number on stdout once publish_batch has returned (committed).
NAME makes the event ids distinct between publishers; CLOCK_SHIFT_S moves this
process's clock, as a machine with a skewed clock would.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from clarity.bus import Bus, SqliteTransport, _sqlite
from clarity.contracts import Envelope, MoodReport, Producer, event_id_for


def main() -> None:
    path, batch_size, comment_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    name = sys.argv[4] if len(sys.argv) > 4 else "crash"
    if len(sys.argv) > 5:
        shift_us = int(float(sys.argv[5]) * 1e6)
        real_now = _sqlite._now_us
        _sqlite._now_us = lambda: real_now() + shift_us
    producer = Producer(service="ingest", model_name="crash", model_version="1", code_version="0")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    bus = Bus(transport=SqliteTransport(path, synchronous="NORMAL"))
    batch = 0
    while True:
        records = [
            Envelope.new(
                event_id=event_id_for(name, str(batch), str(i)),
                topic="ingest.mood",
                patient_id=f"{name}{batch:05d}",
                observed_at=start + timedelta(minutes=i),
                source=f"{name}-batch-{batch}",
                producer=producer,
                payload=MoodReport(mood=i % 11, comment="x" * comment_bytes),
            )
            for i in range(batch_size)
        ]
        bus.publish_batch(records)
        print(batch, flush=True)
        batch += 1


if __name__ == "__main__":
    main()

"""Child process for the crash tests: publish batches forever, acknowledging each.

Usage: python _publisher.py DB BATCH_SIZE COMMENT_BYTES
Prints the batch number on stdout once publish_batch has returned (committed).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from clarity.bus import Bus, SqliteTransport
from clarity.contracts import Envelope, MoodReport, Producer, event_id_for


def main() -> None:
    path, batch_size, comment_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    producer = Producer(service="ingest", model_name="crash", model_version="1", code_version="0")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    bus = Bus(transport=SqliteTransport(path, synchronous="NORMAL"))
    batch = 0
    while True:
        records = [
            Envelope.new(
                event_id=event_id_for("crash", str(batch), str(i)),
                topic="ingest.mood",
                patient_id=f"P{batch:05d}",
                observed_at=start + timedelta(minutes=i),
                source=f"batch-{batch}",
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

"""Child process for the crash tests: consume, commit part, then hang until killed.

Usage: python _consumer.py DB GROUP COMMIT_THROUGH_OFFSET
Prints 'ready N' once it has polled N records and committed through the offset.
"""

from __future__ import annotations

import sys
import time

from clarity.bus import Bus, SqliteTransport


def main() -> None:
    path, group, through = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bus = Bus(transport=SqliteTransport(path))
    consumer = bus.subscribe(">", group=group)
    deliveries = consumer.poll(max_records=10_000)
    consumer.commit(through=next(d for d in deliveries if d.offset == through))
    print(f"ready {len(deliveries)}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()

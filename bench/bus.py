"""Throughput of the embedded bus against plain SQLite inserts of the same bytes.

For each batch size, the bus publishes contract records (validated, Avro-encoded,
appended) and a consumer group reads them back (decoded, validated, committed).
The baseline, measured in the same run on the same disk with the same SQLite
settings, inserts the very same encoded bytes into a bare table and selects
them back. The ratio says what the contract, idempotency and consumer
bookkeeping cost on top of raw SQLite.

Run with ``make bench`` (or ``python bench/bus.py --help``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from clarity.bus import Bus, SqliteTransport
from clarity.contracts import AvroCodec, Envelope, event_id_for
from clarity.testing import example_patient_records

# Clinical traffic: questionnaires, mood reports, medications, notes, demographics,
# PGx and genotype references. Actigraphy weeks (~80 kB each) are a separate workload.
CLINICAL = {
    "ingest.observation",
    "ingest.mood",
    "ingest.medication",
    "ingest.note",
    "ingest.patient",
    "ingest.pgx",
    "ingest.genotype",
}


@dataclass
class Result:
    workload: str
    synchronous: str
    batch: int
    events: int
    mean_bytes: float
    bus_publish_per_s: float
    bus_consume_per_s: float
    sqlite_insert_per_s: float
    sqlite_select_per_s: float

    @property
    def publish_ratio(self) -> float:
        return self.bus_publish_per_s / self.sqlite_insert_per_s

    @property
    def consume_ratio(self) -> float:
        return self.bus_consume_per_s / self.sqlite_select_per_s


def _records(n: int, topics: set[str]) -> list[Envelope]:
    pool: list[Envelope] = []
    patient = 0
    while len(pool) < n:
        pool += [r for r in example_patient_records(patient) if r.topic in topics]
        patient += 1
    # Fresh event ids so that every record is new to the log.
    return [
        r.model_copy(update={"event_id": event_id_for("bench", str(i))})
        for i, r in enumerate(pool[:n])
    ]


def _timed(action: Callable[[], None]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _bus_run(
    records: Sequence[Envelope], batch: int, synchronous: str, folder: Path
) -> tuple[float, float]:
    bus = Bus(transport=SqliteTransport(folder / "bus.sqlite3", synchronous=synchronous))  # type: ignore[arg-type]

    def publish() -> None:
        for start in range(0, len(records), batch):
            bus.publish_batch(records[start : start + batch])

    def consume() -> None:
        consumer = bus.subscribe("ingest.>", group="bench")
        seen = 0
        while deliveries := consumer.poll(max_records=batch):
            consumer.commit()
            seen += len(deliveries)
        assert seen == len(records), (seen, len(records))

    publish_s = _timed(publish)
    consume_s = _timed(consume)
    bus.close()
    return publish_s, consume_s


def _sqlite_run(
    blobs: Sequence[bytes], batch: int, synchronous: str, folder: Path
) -> tuple[float, float]:
    conn = sqlite3.connect(folder / "plain.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")

    def insert() -> None:
        for start in range(0, len(blobs), batch):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO log(data) VALUES (?)", [(b,) for b in blobs[start : start + batch]]
            )
            conn.execute("COMMIT")

    def select() -> None:
        last = seen = 0
        while rows := conn.execute(
            "SELECT id, data FROM log WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
        ).fetchall():
            last = rows[-1][0]
            seen += len(rows)
        assert seen == len(blobs)

    insert_s = _timed(insert)
    select_s = _timed(select)
    conn.close()
    return insert_s, select_s


def run(workload: str, topics: set[str], n: int, batch: int, synchronous: str) -> Result:
    records = _records(n, topics)
    codec = AvroCodec()
    blobs = [codec.encode(r)[1] for r in records]
    with tempfile.TemporaryDirectory(prefix="clarity-bench-") as tmp:
        folder = Path(tmp)
        publish_s, consume_s = _bus_run(records, batch, synchronous, folder)
        insert_s, select_s = _sqlite_run(blobs, batch, synchronous, folder)
    return Result(
        workload=workload,
        synchronous=synchronous,
        batch=batch,
        events=n,
        mean_bytes=sum(map(len, blobs)) / n,
        bus_publish_per_s=n / publish_s,
        bus_consume_per_s=n / consume_s,
        sqlite_insert_per_s=n / insert_s,
        sqlite_select_per_s=n / select_s,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Fewer events (a smoke run).")
    parser.add_argument(
        "--json", type=Path, default=Path("bench/results/bus.json"), help="Where to save results."
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    plan = [
        ("clinical", CLINICAL, 1, "FULL", 1_000),
        ("clinical", CLINICAL, 1, "NORMAL", 2_000),
        ("clinical", CLINICAL, 1_000, "FULL", 50_000),
        ("clinical", CLINICAL, 1_000, "NORMAL", 50_000),
        ("actigraphy", {"ingest.actigraphy"}, 1, "FULL", 200),
        ("actigraphy", {"ingest.actigraphy"}, 100, "FULL", 1_000),
    ]
    results = []
    header = (
        f"{'workload':<11}{'sync':<7}{'batch':>6}{'events':>8}{'bytes':>8}"
        f"{'bus pub/s':>11}{'sqlite ins/s':>14}{'ratio':>7}"
        f"{'bus cons/s':>12}{'sqlite sel/s':>14}{'ratio':>7}"
    )
    print(
        f"Clarity bus benchmark on {platform.node()} ({platform.processor() or platform.machine()})"
    )
    print(header)
    print("-" * len(header))
    for workload, topics, batch, synchronous, n in plan:
        result = run(workload, topics, max(batch, n // scale), batch, synchronous)
        results.append(result)
        print(
            f"{result.workload:<11}{result.synchronous:<7}{result.batch:>6}{result.events:>8}"
            f"{result.mean_bytes:>8.0f}{result.bus_publish_per_s:>11.0f}"
            f"{result.sqlite_insert_per_s:>14.0f}{result.publish_ratio:>7.2f}"
            f"{result.bus_consume_per_s:>12.0f}{result.sqlite_select_per_s:>14.0f}"
            f"{result.consume_ratio:>7.2f}",
            flush=True,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            [
                {**asdict(r), "publish_ratio": r.publish_ratio, "consume_ratio": r.consume_ratio}
                for r in results
            ],
            indent=2,
        )
    )
    print(f"\nratio = bus events/s / plain SQLite events/s on the same bytes; saved to {args.json}")


if __name__ == "__main__":
    main()

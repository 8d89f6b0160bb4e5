"""Timeline endpoint throughput and latency, against the same query on the store directly.

Builds a store with 1,000 patients x 180 days (daily mood, fortnightly PHQ-9
and GAD-7, medications and notes: about 230,000 records), serves the API from
a separate process on loopback, and drives `GET /patients/{id}/timeline?limit=100`
from a pool of client threads for a bounded number of requests and time. The
baseline runs `store.timeline(id, limit=100)` in this process on the same data.

Run with ``make bench`` (or ``python bench/api.py --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from clarity.config import Settings
from clarity.contracts import (
    INSTRUMENTS,
    ClinicalNote,
    Envelope,
    Instrument,
    MedicationStatement,
    MoodReport,
    QuestionnaireObservation,
    event_id_for,
)
from clarity.security import AccessStore, TokenService
from clarity.store import SqliteFeatureStore, record_features
from clarity.testing import example_producer

START = datetime(2024, 1, 1, tzinfo=UTC)


def _records(patient: str, days: int, rng: random.Random) -> list[Envelope]:
    producer = example_producer("bench")
    out = []

    def add(topic, when, payload, key):
        out.append(
            Envelope(
                event_id=event_id_for("bench", patient, key),
                patient_id=patient,
                topic=topic,
                observed_at=when,
                produced_at=when,
                source="bench",
                producer=producer,
                payload=payload,
            )
        )

    for day in range(days):
        add(
            "ingest.mood",
            START + timedelta(days=day, hours=20),
            MoodReport(mood=rng.randint(0, 10), anxiety=rng.randint(0, 10)),
            f"m{day}",
        )
    for visit in range(0, days, 14):
        for instrument in (Instrument.phq9, Instrument.gad7):
            spec = INSTRUMENTS[instrument]
            scores = [rng.randint(0, 3) for _ in spec.item_loincs]
            payload = QuestionnaireObservation(
                instrument=instrument,
                panel_loinc=spec.panel_loinc,
                total_loinc=spec.total_loinc,
                total_score=sum(scores),
                items=[
                    {"loinc": c, "score": s} for c, s in zip(spec.item_loincs, scores, strict=True)
                ],
            )
            add(
                "ingest.observation",
                START + timedelta(days=visit, hours=10),
                payload,
                f"{instrument.value}{visit}",
            )
        add(
            "ingest.note",
            START + timedelta(days=visit, hours=11),
            ClinicalNote(note_id=f"n{visit}", text="S: low mood. Denies SI. P: continue."),
            f"n{visit}",
        )
    add(
        "ingest.medication",
        START + timedelta(days=7),
        MedicationStatement(rxnorm="36437", name="sertraline", status="active", dose_mg=50.0),
        "med",
    )
    return out


def _build(data_dir: Path, patients: int, days: int) -> list[str]:
    store = SqliteFeatureStore(data_dir / "store.sqlite3")
    rng = random.Random(1)
    ids = [f"BENCH-{i:05d}" for i in range(patients)]
    offset = 0
    for pid in ids:
        records = _records(pid, days, rng)
        store.put_records((offset + k, r) for k, r in enumerate(records))
        store.put([v for r in records for v in record_features(r)])
        offset += len(records)
    store.close()
    return ids


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    code = (
        "import uvicorn, sys; from pathlib import Path; from clarity.config import Settings;"
        "from clarity.api import ApiContext, create_app;"
        f"ctx = ApiContext.open(Settings.load(data_dir=Path({str(data_dir)!r})));"
        f"uvicorn.run(create_app(ctx), host='127.0.0.1', port={port}, log_level='error')"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--requests", type=int, default=2000, help="Most requests sent.")
    parser.add_argument("--seconds", type=float, default=60, help="Most seconds of load.")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent client threads.")
    parser.add_argument("--json", type=Path, default=Path("bench/results/api.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clarity-bench-") as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        ids = _build(data, args.patients, args.days)
        print(
            f"store: {args.patients} patients x {args.days} days built in {time.perf_counter() - started:.0f} s"
        )
        settings = Settings.load(data_dir=data)
        access = AccessStore(data / "access.sqlite3")
        user = access.add_user("bench", "admin", password="bench password 1")
        access.close()
        token = TokenService(
            data / "jwt.key", issuer=settings.security.issuer, audience=settings.security.audience
        ).issue(user, minutes=60)

        rng = random.Random(2)
        queries = [rng.choice(ids) for _ in range(args.requests)]
        store = SqliteFeatureStore(data / "store.sqlite3")
        direct = []
        for pid in queries[:500]:
            t0 = time.perf_counter()
            store.timeline(pid, limit=100)
            direct.append(time.perf_counter() - t0)
        store.close()

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = _serve(data, port)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            headers = {"Authorization": f"Bearer {token}"}
            deadline = time.monotonic() + args.seconds
            latencies: list[float] = []

            def worker(share: list[str]) -> list[float]:
                spent = []
                with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                    for pid in share:
                        if time.monotonic() > deadline:
                            break
                        t0 = time.perf_counter()
                        response = client.get(f"/patients/{pid}/timeline", params={"limit": 100})
                        response.raise_for_status()
                        spent.append(time.perf_counter() - t0)
                return spent

            shares = [queries[i :: args.clients] for i in range(args.clients)]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                for result in pool.map(worker, shares):
                    latencies += result
            wall = time.perf_counter() - t0
        finally:
            server.terminate()
            server.wait(timeout=30)

    def pct(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q) - 1] * 1000

    api_rps, store_rps = len(latencies) / wall, len(direct) / sum(direct)
    print(f"{'':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(
        f"{'API timeline (HTTP)':<22}{api_rps:>10.0f}{pct(latencies, 50):>10.1f}{pct(latencies, 99):>10.1f}"
    )
    print(
        f"{'store.timeline direct':<22}{store_rps:>10.0f}{pct(direct, 50):>10.2f}{pct(direct, 99):>10.2f}"
    )
    print(
        f"\nratio API/store throughput = {api_rps / store_rps:.3f} ({len(latencies)} requests, {args.clients} clients, {wall:.1f} s)"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "api_rps": api_rps,
                "api_p50_ms": pct(latencies, 50),
                "api_p99_ms": pct(latencies, 99),
                "store_rps": store_rps,
                "store_p50_ms": pct(direct, 50),
                "store_p99_ms": pct(direct, 99),
                "requests": len(latencies),
                "clients": args.clients,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""What only the embedded SQLite backend has to prove: crash safety across real processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from clarity.bus import Bus, OutgoingRecord, SqliteTransport
from clarity.errors import BackendError, BusClosedError
from clarity.testing import example_records
from tests.conftest import REPO

HERE = Path(__file__).parent
BATCH = 400


def _spawn(script: str, *args: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(HERE / script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("kill_delay_ms", [0, 7, 23])
def test_sqlite__sigkill_mid_batch_leaves_whole_batches_and_loses_no_acknowledged_one(
    tmp_path, kill_delay_ms
):
    db = tmp_path / "bus.sqlite3"
    child = _spawn("_publisher.py", db, BATCH, 600)
    acknowledged: list[int] = []
    try:
        assert child.stdout is not None
        while len(acknowledged) < 3:
            line = child.stdout.readline()
            assert line, f"publisher died: {child.stderr.read() if child.stderr else ''}"
            acknowledged.append(int(line))
        time.sleep(kill_delay_ms / 1000)  # land somewhere inside the next batch
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:  # pragma: no cover - only if an assert fired above
            child.kill()
    acknowledged += [int(x) for x in out.split()]
    assert child.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db)
    per_batch = Counter(source for (source,) in conn.execute("SELECT patient_id FROM log"))
    conn.close()
    assert set(per_batch.values()) == {BATCH}, f"a partial batch was stored: {per_batch}"
    for batch in acknowledged:
        assert per_batch[f"crash{batch:05d}"] == BATCH, f"acknowledged batch {batch} was lost"
    # The log is usable after the crash: it opens, decodes and accepts new records.
    with Bus(transport=SqliteTransport(db)) as bus:
        assert sum(1 for _ in bus.replay()) == len(per_batch) * BATCH
        assert bus.publish_batch(example_records(1)).accepted == len(example_records(1))


def test_sqlite__a_consumer_killed_before_commit_gets_the_rest_again(tmp_path):
    db = tmp_path / "bus.sqlite3"
    with Bus(transport=SqliteTransport(db)) as bus:
        total = bus.publish_batch(example_records(n_patients=2)).accepted
    child = _spawn("_consumer.py", db, "twin", 10)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == f"ready {total}", child.stderr.read() if child.stderr else ""
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    with Bus(transport=SqliteTransport(db)) as bus:
        again = bus.subscribe(">", group="twin").poll(max_records=100)
    assert [d.offset for d in again] == list(range(11, total + 1))


def test_sqlite__failure_inside_a_batch_rolls_the_whole_batch_back(tmp_path):
    transport = SqliteTransport(tmp_path / "bus.sqlite3")
    transport.register_schema("a" * 64, "ingest.mood", "{}")
    good = OutgoingRecord(str(uuid.uuid4()), "ingest.mood", "P001", 0, "a" * 64, b"1")
    orphan = OutgoingRecord(str(uuid.uuid4()), "ingest.mood", "P001", 0, "b" * 64, b"2")
    with pytest.raises(BackendError, match="FOREIGN KEY"):
        transport.append([good, orphan])
    assert transport.end_offset() == 0
    assert transport.topics() == {}
    assert transport.append([good]) == [1]


def test_sqlite__log_is_append_only(tmp_path):
    db = tmp_path / "bus.sqlite3"
    with Bus(transport=SqliteTransport(db)) as bus:
        bus.publish_batch(example_records(1))
    conn = sqlite3.connect(db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE log SET topic = 'x'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM log")
    conn.close()


def test_sqlite__concurrent_publishers_get_contiguous_offsets_and_monotonic_time(tmp_path):
    db = tmp_path / "bus.sqlite3"
    # The second publisher's clock runs an hour behind: log time must still never go back.
    children = [
        _spawn("_publisher.py", db, 50, 10, "a"),
        _spawn("_publisher.py", db, 50, 10, "b", -3600),
    ]
    try:
        for child in children:
            assert child.stdout is not None
            for _ in range(5):
                assert child.stdout.readline(), child.stderr.read() if child.stderr else ""
    finally:
        for child in children:
            child.kill()
            child.communicate(timeout=30)
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT log_offset, appended_at_us, patient_id FROM log ORDER BY log_offset"
    ).fetchall()
    conn.close()
    offsets = [r[0] for r in rows]
    times = [r[1] for r in rows]
    assert offsets == list(range(1, len(rows) + 1))
    assert times == sorted(times)
    sources = Counter(r[2][0] for r in rows)
    assert sources["a"] >= 250 and sources["b"] >= 250  # both wrote, interleaved in one log


def test_sqlite__refuses_a_database_of_another_format(tmp_path):
    db = tmp_path / "bus.sqlite3"
    SqliteTransport(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    conn.commit()
    conn.close()
    with pytest.raises(BackendError, match="format version 99"):
        SqliteTransport(db)


def test_sqlite__unopenable_path_is_a_backend_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BackendError, match="Cannot open the bus database"):
        SqliteTransport(tmp_path / "file" / "bus.sqlite3")


def test_sqlite__not_a_database_is_a_backend_error(tmp_path):
    path = tmp_path / "bus.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BackendError, match="Cannot open the bus database"):
        SqliteTransport(path)


def test_sqlite__synchronous_is_validated(tmp_path):
    with pytest.raises(ValueError, match="'synchronous' parameter"):
        SqliteTransport(tmp_path / "bus.sqlite3", synchronous="OFF")  # type: ignore[arg-type]


def test_sqlite__closed_transport_refuses_work(tmp_path):
    transport = SqliteTransport(tmp_path / "bus.sqlite3")
    transport.close()
    transport.close()
    with pytest.raises(BusClosedError, match="is closed"):
        transport.topics()
    with pytest.raises(BusClosedError):
        transport.append([OutgoingRecord("x", "t", None, None, "a", b"")])
    with pytest.raises(BusClosedError):
        transport.commit("g", {"t": 1})
    with pytest.raises(BusClosedError):
        transport.register_schema("a", "t", "{}")


def test_sqlite__read_only_database_fails_writes_with_backend_errors(tmp_path):
    db = tmp_path / "bus.sqlite3"
    SqliteTransport(db).close()
    transport = SqliteTransport(db)
    transport._connection().execute("PRAGMA query_only = ON")
    record = OutgoingRecord("x", "ingest.mood", None, None, "a" * 64, b"")
    with pytest.raises(BackendError, match="Cannot register a schema"):
        transport.register_schema("a" * 64, "ingest.mood", "{}")
    with pytest.raises(BackendError, match="Cannot append"):
        transport.append([record])
    with pytest.raises(BackendError, match="Cannot commit positions"):
        transport.commit("g", {"ingest.mood": 1})


def test_sqlite__a_damaged_database_gives_backend_errors_on_read(tmp_path):
    db = tmp_path / "bus.sqlite3"
    transport = SqliteTransport(db)
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE topics")
    conn.commit()
    conn.close()
    with pytest.raises(BackendError, match="Bus query failed"):
        transport.topics()


def test_sqlite__a_foreign_database_is_refused_unchanged(tmp_path):
    path = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE patients (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(BackendError, match=r"not a Clarity bus \(tables: patients"):
        SqliteTransport(path)
    assert path.read_bytes() == before


def test_sqlite__a_transaction_sqlite_already_ended_is_not_rolled_back_twice(tmp_path):
    # SQLite ends a transaction by itself on some errors (e.g. a full disk); the
    # cleanup must then not fail with "no transaction is active".
    transport = SqliteTransport(tmp_path / "bus.sqlite3")
    with pytest.raises(RuntimeError, match="after an automatic rollback"):
        with transport._write() as conn:
            conn.execute("ROLLBACK")
            raise RuntimeError("after an automatic rollback")
    assert transport.append([]) == []
    transport.close()

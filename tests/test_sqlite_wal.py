"""Opening a SQLite file in WAL mode while another process holds it."""

import sqlite3
import threading

import pytest

from clarity._utils import enable_wal


def _locked_by_another(path):
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_enable_wal__waits_for_an_exclusive_lock_to_go(tmp_path):
    path = tmp_path / "db.sqlite3"
    holder = _locked_by_another(path)
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    enable_wal(conn, timeout_s=10)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    holder.close()


def test_enable_wal__gives_up_after_its_timeout(tmp_path):
    path = tmp_path / "db.sqlite3"
    holder = _locked_by_another(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(conn, timeout_s=0.1)
    conn.close()
    holder.execute("COMMIT")
    holder.close()

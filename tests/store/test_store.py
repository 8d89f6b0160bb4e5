from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from clarity.config import Settings
from clarity.errors import BackendError, ConfigurationError
from clarity.store import FeatureValue, SqliteFeatureStore, open_store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def value(feature="phq9.total", v=10, day=0, patient="P001", event=None):
    return FeatureValue(
        patient, feature, v, T0 + timedelta(days=day), event or uuid.uuid4(), {"service": "t"}
    )


@pytest.fixture
def store(tmp_path):
    instance = SqliteFeatureStore(tmp_path / "store.sqlite3")
    yield instance
    instance.close()


def test_latest__newest_observation_wins_not_newest_write(store):
    store.put([value(v=20, day=5), value(v=5, day=1), value("gad7.total", 7, day=2)])
    latest = store.latest("P001")
    assert {k: v.value for k, v in latest.items()} == {"phq9.total": 20, "gad7.total": 7}
    assert latest["phq9.total"].producer == {"service": "t"}
    assert latest["phq9.total"].written_at is not None


def test_latest__as_of_and_feature_filter(store):
    store.put([value(v=1, day=1), value(v=2, day=3), value("gad7.total", 9, day=0)])
    assert (
        store.latest("P001", ["phq9.total"], as_of=T0 + timedelta(days=2))["phq9.total"].value == 1
    )
    assert set(store.latest("P001", ["gad7.total"])) == {"gad7.total"}
    assert store.latest("P001", []) == {}
    assert store.latest("P999") == {}


def test_latest__same_observation_time_keeps_the_later_write(store):
    store.put([value(v=1)])
    store.put([value(v=2)])
    assert store.latest("P001")["phq9.total"].value == 2


def test_put__is_idempotent_on_event_so_replays_add_nothing(store):
    values = [value(v=d, day=d) for d in range(3)]
    assert store.put(values) == 3
    assert store.put(values) == 0
    assert len(store.history("P001", "phq9.total")) == 3


def test_history__half_open_time_range_oldest_first(store):
    store.put([value(v=d, day=d) for d in (3, 0, 2, 1)])
    window = store.history(
        "P001", "phq9.total", start=T0 + timedelta(days=1), end=T0 + timedelta(days=3)
    )
    assert [v.value for v in window] == [1, 2]
    assert [v.value for v in store.history("P001", "phq9.total")] == [0, 1, 2, 3]


def test_values__json_types_round_trip_and_patients_are_listed(store):
    payloads = [None, True, 3, 2.5, "text", [1, 2], {"a": {"b": [1]}}]
    store.put([value(f"f.v{i}", v, patient=f"P{i:03d}") for i, v in enumerate(payloads)])
    assert [store.latest(f"P{i:03d}")[f"f.v{i}"].value for i in range(len(payloads))] == payloads
    assert store.patients() == [f"P{i:03d}" for i in range(len(payloads))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature": "PHQ9 total"}, "'feature' name"),
        ({"v": float("nan")}, "JSON-serialisable and finite"),
        ({"v": object()}, "JSON-serialisable"),
    ],
)
def test_feature_value__invalid_name_or_value_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        value(**kwargs)


def test_feature_value__naive_time_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        FeatureValue("P001", "x", 1, datetime(2024, 1, 1), uuid.uuid4())


def test_store__errors_are_backend_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackendError, match="Cannot open the feature store"):
        SqliteFeatureStore(tmp_path / "file" / "store.sqlite3")
    store = SqliteFeatureStore(tmp_path / "store.sqlite3")
    store._conn.execute("PRAGMA query_only = ON")
    with pytest.raises(BackendError, match="Cannot write"):
        store.put([value()])
    store.close()
    with pytest.raises(BackendError, match="query failed"):
        store.patients()


def test_open_store__sqlite_default_and_bad_backends(tmp_path):
    store = open_store(Settings.load(data_dir=tmp_path))
    assert isinstance(store, SqliteFeatureStore) and store.path == tmp_path / "store.sqlite3"
    store.close()
    custom = open_store(
        Settings.load(
            store={
                "backend": "clarity.store:SqliteFeatureStore",
                "options": {"path": str(tmp_path / "s.db")},
            }
        )
    )
    assert custom.path == tmp_path / "s.db"  # type: ignore[attr-defined]
    custom.close()
    with pytest.raises(ConfigurationError, match="Allowed values are 'sqlite'"):
        open_store(Settings.load(store={"backend": "postgres"}))
    with pytest.raises(ConfigurationError, match="does not implement FeatureStore"):
        open_store(Settings.load(store={"backend": "clarity.errors:ClarityError"}))


def test_open_store__unknown_options_are_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not take the options"):
        open_store(Settings.load(data_dir=tmp_path, store={"options": {"colour": 1}}))

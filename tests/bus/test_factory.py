from __future__ import annotations

import pytest

from clarity.bus import MemoryTransport, SqliteTransport, open_bus
from clarity.config import Settings
from clarity.errors import ConfigurationError


def test_open_bus__embedded_default_is_sqlite_in_the_data_dir(tmp_path):
    settings = Settings.load(data_dir=tmp_path)
    with open_bus(settings) as bus:
        assert isinstance(bus.transport, SqliteTransport)
        assert bus.transport.path == tmp_path / "bus.sqlite3"
        assert bus.transport.synchronous == "FULL"
    assert (tmp_path / "bus.sqlite3").is_file()


def test_open_bus__memory_and_dotted_class_path(tmp_path):
    with open_bus(Settings.load(data_dir=tmp_path, bus={"backend": "memory"})) as bus:
        assert isinstance(bus.transport, MemoryTransport)
    custom = Settings.load(
        data_dir=tmp_path,
        bus={"backend": "clarity.bus:SqliteTransport", "options": {"path": str(tmp_path / "x.db")}},
    )
    with open_bus(custom) as bus:
        assert bus.transport.path == tmp_path / "x.db"


@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("kafka", "Allowed values are 'sqlite', 'memory'"),
        ("clarity.errors:ClarityError", "does not implement Transport"),
        ("nowhere.module:Thing", "Cannot import module 'nowhere.module'"),
        ("clarity.bus:Nothing", "has no attribute 'Nothing'"),
        (":x", "must look like"),
    ],
)
def test_open_bus__bad_backend_is_a_configuration_error(tmp_path, backend, message):
    with pytest.raises(ConfigurationError, match=message):
        open_bus(Settings.load(data_dir=tmp_path, bus={"backend": backend}))


def test_open_bus__unknown_options_are_a_configuration_error(tmp_path):
    for backend in ("memory", "sqlite"):
        settings = Settings.load(
            data_dir=tmp_path, bus={"backend": backend, "options": {"colour": 1}}
        )
        with pytest.raises(ConfigurationError, match=r"does not take the options \['colour'\]"):
            open_bus(settings)
    tuned = Settings.load(data_dir=tmp_path, bus={"options": {"busy_timeout_s": 1.0}})
    with open_bus(tuned) as bus:
        assert isinstance(bus.transport, SqliteTransport)

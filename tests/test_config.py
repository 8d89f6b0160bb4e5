from __future__ import annotations

from pathlib import Path

import pytest

from clarity.config import Settings
from clarity.errors import ConfigurationError


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith("CLARITY_"):
            monkeypatch.delenv(key)


def test_settings__defaults_derive_paths_from_the_data_dir():
    settings = Settings.load()
    assert settings.data_dir == Path(".clarity")
    assert settings.bus_path == Path(".clarity/bus.sqlite3")
    assert settings.store_path == Path(".clarity/store.sqlite3")
    assert settings.tracking_uri == f"sqlite:///{Path('.clarity/mlflow.db').resolve()}"
    assert settings.artifact_root == Path(".clarity/artifacts").resolve()


def test_settings__toml_then_environment_then_arguments(tmp_path, monkeypatch):
    (tmp_path / "clarity.toml").write_text(
        'data_dir = "from-toml"\n[bus]\nbackend = "memory"\nsynchronous = "NORMAL"\n'
        '[registry]\ntracking_uri = "sqlite:///x.db"\n'
    )
    settings = Settings.load()
    assert (settings.data_dir, settings.bus.backend, settings.bus.synchronous) == (
        Path("from-toml"),
        "memory",
        "NORMAL",
    )
    assert settings.tracking_uri == "sqlite:///x.db"
    monkeypatch.setenv("CLARITY_DATA_DIR", "from-env")
    monkeypatch.setenv("CLARITY_BUS__BACKEND", "sqlite")
    settings = Settings.load()
    assert (settings.data_dir, settings.bus.backend, settings.bus.synchronous) == (
        Path("from-env"),
        "sqlite",
        "NORMAL",
    )
    assert Settings.load(data_dir="from-arg").data_dir == Path("from-arg")


def test_settings__config_file_from_argument_or_environment(tmp_path, monkeypatch):
    config = tmp_path / "site.toml"
    config.write_text('data_dir = "/srv/clarity"\n[store]\npath = "/srv/features.db"\n')
    assert Settings.load(config).data_dir == Path("/srv/clarity")
    monkeypatch.setenv("CLARITY_CONFIG", str(config))
    assert Settings.load().store_path == Path("/srv/features.db")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[bus]\nsynchronous = "OFF"\n', "bus.synchronous"),
        ("[bus]\nbakend = 'sqlite'\n", "bus.bakend: Extra inputs"),  # codespell:ignore
        ("data_dir = [1]\n", "data_dir"),
        ("this is not toml", "Cannot read the configuration file"),
    ],
)
def test_settings__invalid_values_name_the_setting_and_the_file(tmp_path, toml, message):
    (tmp_path / "clarity.toml").write_text(toml)
    with pytest.raises(ConfigurationError, match=message):
        Settings.load()


def test_settings__missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml")


def test_settings__a_bad_environment_variable_is_named_as_such(monkeypatch):
    monkeypatch.setenv("CLARITY_BUS", "not json")
    with pytest.raises(ConfigurationError, match="CLARITY_\\* environment variables"):
        Settings.load()

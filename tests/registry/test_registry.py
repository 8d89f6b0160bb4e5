from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from clarity.config import Settings
from clarity.errors import RegistryError
from clarity.registry import ModelRegistry, fingerprint_data


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> ModelRegistry:
    root = tmp_path_factory.mktemp("registry")
    return ModelRegistry.from_settings(Settings.load(data_dir=root))


def _model_dir(tmp_path: Path, content: bytes) -> Path:
    folder = tmp_path / f"model-{content.hex()}"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(content)
    (folder / "config.json").write_text('{"depth": 2}')
    return folder


def test_register__records_params_metrics_fingerprint_and_code_version(registry, tmp_path):
    fingerprint = fingerprint_data(np.arange(10))
    version = registry.register(
        "wearable.toy",
        _model_dir(tmp_path, b"v1"),
        params={"depth": 2, "lr": 0.01},
        metrics={"auc": 0.81},
        data_fingerprint=fingerprint,
        description="first",
    )
    assert version.version == 1
    assert version.params == {"depth": "2", "lr": "0.01"}
    assert version.metrics == {"auc": pytest.approx(0.81)}
    assert version.data_fingerprint == fingerprint
    assert version.code_version
    assert version.created_at is not None
    loaded = registry.load("wearable.toy", version=1)
    assert (loaded.path / "weights.bin").read_bytes() == b"v1"


def test_load__by_alias_and_newest(registry, tmp_path):
    fp = fingerprint_data(b"data")
    registry.register(
        "mood.toy",
        _model_dir(tmp_path, b"a"),
        params={},
        metrics={},
        data_fingerprint=fp,
        alias="production",
    )
    registry.register(
        "mood.toy", _model_dir(tmp_path, b"b"), params={}, metrics={}, data_fingerprint=fp
    )
    assert (registry.load("mood.toy", alias="production").path / "weights.bin").read_bytes() == b"a"
    assert (registry.load("mood.toy").path / "weights.bin").read_bytes() == b"b"
    registry.set_alias("mood.toy", "production", 2)
    newest = registry.get("mood.toy", alias="production")
    assert (newest.version, newest.aliases) == (2, ("production",))
    assert [v.version for v in registry.versions("mood.toy")] == [1, 2]
    assert "mood.toy" in registry.models()


def test_load__copies_to_a_destination_when_asked(registry, tmp_path):
    registry.register(
        "copy.toy", _model_dir(tmp_path, b"c"), params={}, metrics={}, data_fingerprint="x"
    )
    loaded = registry.load("copy.toy", dst=tmp_path / "copy")
    assert loaded.path.is_relative_to(tmp_path / "copy")
    assert (loaded.path / "weights.bin").read_bytes() == b"c"


def test_get__missing_model_version_or_alias_is_a_clear_error(registry, tmp_path):
    registry.register(
        "err.toy", _model_dir(tmp_path, b"e"), params={}, metrics={}, data_fingerprint="x"
    )
    with pytest.raises(RegistryError, match=r"No model named 'nope' .*err\.toy"):
        registry.get("nope")
    with pytest.raises(RegistryError, match=r"has no version 7 \(versions: 1\)"):
        registry.get("err.toy", version=7)
    with pytest.raises(RegistryError, match=r"has no alias 'staging' \(aliases: none\)"):
        registry.get("err.toy", alias="staging")
    with pytest.raises(ValueError, match="either 'version' or 'alias'"):
        registry.get("err.toy", version=1, alias="production")
    with pytest.raises(RegistryError, match="has no version 3"):
        registry.set_alias("err.toy", "production", 3)


def test_register__bad_inputs_are_refused(registry, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RegistryError, match="missing or empty"):
        registry.register("x.toy", empty, params={}, metrics={}, data_fingerprint="x")
    with pytest.raises(ValueError, match="'name' parameter"):
        registry.register("bad name", empty, params={}, metrics={}, data_fingerprint="x")
    for alias in ("latest", "v3", "Prod"):
        with pytest.raises(ValueError, match="'alias' parameter"):
            registry.register(
                "x.toy", empty, params={}, metrics={}, data_fingerprint="x", alias=alias
            )


def test_register__mlflow_refusals_become_registry_errors(registry, tmp_path):
    with pytest.raises(RegistryError, match="MLflow refused"):
        registry.register(
            "nan.toy",
            _model_dir(tmp_path, b"n"),
            params={"bad!key": 1},
            metrics={},
            data_fingerprint="x",
        )


def test_fingerprint_data__depends_on_content_dtype_shape_and_order(tmp_path):
    a = np.arange(6)
    assert fingerprint_data(a).startswith("sha256:") and len(fingerprint_data(a)) == 71
    assert fingerprint_data(a) != fingerprint_data(a.reshape(2, 3))
    assert fingerprint_data(a) != fingerprint_data(a.astype("int32"))
    assert fingerprint_data(a, b"x") != fingerprint_data(b"x", a)
    assert fingerprint_data("x") == fingerprint_data(b"x")
    assert fingerprint_data({"b": 1, "a": 2}) == fingerprint_data({"a": 2, "b": 1})
    assert fingerprint_data([a, a]) != fingerprint_data(a, a)
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.csv").write_text("1,2")
    first = fingerprint_data(folder)
    assert fingerprint_data(folder / "sub" / "f.csv") != first
    (folder / "sub" / "f.csv").write_text("1,3")
    assert fingerprint_data(folder) != first
    with pytest.raises(TypeError, match="Got object instead"):
        fingerprint_data(object())


def test_log_evaluation__keeps_metrics_params_and_report_per_family(registry, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "table.md").write_text("| arm | AUC |\n")
    first = registry.log_evaluation(
        "wearable.pat",
        params={"sizes": "50,100"},
        metrics={"synthetic.pat_ft.50.auc": 0.71},
        report_dir=report,
        data_fingerprint="sha256:" + "1" * 64,
    )
    second = registry.log_evaluation("wearable.pat", params={}, metrics={"x": 1.0})
    registry.log_evaluation("other.model", params={}, metrics={"y": 2.0})
    found = registry.evaluations("wearable.pat")
    assert [e.run_id for e in found] == [first.run_id, second.run_id]
    assert found[0].metrics == {"synthetic.pat_ft.50.auc": 0.71}
    assert found[0].params == {"sizes": "50,100"}
    assert found[0].artifact_uri.endswith("/report")
    copied = Path(unquote(urlparse(found[0].artifact_uri).path)) / "table.md"
    assert copied.read_text() == "| arm | AUC |\n"
    assert registry.evaluations("never.evaluated") == []
    assert "wearable.pat" not in registry.models()  # evaluations are runs, not versions

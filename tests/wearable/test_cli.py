"""``clarity wearable`` and ``clarity eval wearable`` on an ingested synthetic cohort."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clarity.bus import open_bus
from clarity.cli import app
from clarity.cli._wearable import serve_forever, train_and_register
from clarity.config import Settings
from clarity.registry import ModelRegistry

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(cohort, tmp_path_factory) -> Path:
    """The session cohort ingested once, with a wearable model trained (tiny budgets)."""
    folder = tmp_path_factory.mktemp("wearable-cli")
    ingested = runner.invoke(app, ["--data-dir", str(folder), "ingest", str(cohort)])
    assert ingested.exit_code == 0, ingested.output
    trained = runner.invoke(
        app,
        [
            "--data-dir",
            str(folder),
            "wearable",
            "train",
            "--pretrain-epochs",
            "1",
            "--finetune-epochs",
            "2",
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "wearable.pat v1 (production)" in trained.output
    return folder


def test_train__registers_the_model_with_metrics_and_lineage(data_dir):
    registry = ModelRegistry.from_settings(Settings.load(data_dir=data_dir))
    version = registry.get("wearable.pat", alias="production")
    assert version.params["size"] == "S" and version.params["heads"]
    assert version.data_fingerprint.startswith("sha256:")
    assert "depression.train_weeks" in version.metrics
    files = {p.name for p in registry.load("wearable.pat").path.iterdir()}
    assert {"wearable.json", "scaler.npz", "depression.pt", "depression.onnx"} <= files
    # Trained again on the same records, the demo keeps the version it has.
    kept, _ = train_and_register(Settings.load(data_dir=data_dir), reuse=True)
    assert kept.version == version.version


def test_run_and_explain__publish_daily_risk_then_an_attention_map(data_dir):
    ran = runner.invoke(app, ["--data-dir", str(data_dir), "wearable", "run"])
    assert ran.exit_code == 0, ran.output
    assert "weeks read" in ran.output and "daily risks published" in ran.output
    with open_bus(Settings.load(data_dir=data_dir)) as bus:
        days = [d.record for d in bus.replay("wearable.daily_risk")]
    assert days and len(days) % 7 == 0
    scored = [d for d in days if d.payload.risks]
    patient = scored[-1].patient_id
    explained = runner.invoke(app, ["--data-dir", str(data_dir), "wearable", "explain", patient])
    assert explained.exit_code == 0, explained.output
    assert "1 attention maps" in explained.output.replace("\n", " ")
    missing = runner.invoke(app, ["--data-dir", str(data_dir), "wearable", "explain", "nobody-01"])
    assert missing.exit_code == 1 and "no scored window for nobody-01" in missing.output


def test_eval_quick__writes_the_report_and_logs_the_figures(cohort, tmp_path):
    out = tmp_path / "report.md"
    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "data"),
            "eval",
            "wearable",
            "--quick",
            "--cohort",
            str(cohort),
            "--sizes",
            "2,3",
            "--no-real",
            "--arm",
            "PAT (LP)",
            "--arm",
            "CNN-1D",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = out.read_text()
    assert "## Synthetic cohort: label efficiency" in report and "| PAT (LP) |" in report
    assert "--quick" in report and "--no-real" in report
    assert "--arm 'PAT (LP)' --arm CNN-1D" in report  # the command can be pasted back
    figures = json.loads(out.with_suffix(".json").read_text())
    assert set(figures) == {
        "synthetic.pat_lp.2.auc",
        "synthetic.pat_lp.3.auc",
        "synthetic.cnn1d.2.auc",
        "synthetic.cnn1d.3.auc",
    }
    logged = ModelRegistry.from_settings(Settings.load(data_dir=tmp_path / "data")).evaluations(
        "wearable.pat"
    )
    assert len(logged) == 1 and logged[0].params["quick"] == "True"


def test_serve_forever__the_worker_scores_and_answers_requests_until_stopped(data_dir):
    from clarity.wearable import request_explanation

    settings = Settings.load(data_dir=data_dir)
    stop = threading.Event()
    worker = threading.Thread(
        target=serve_forever, args=(settings, stop), kwargs={"interval": 0.05}, daemon=True
    )
    worker.start()
    try:
        with open_bus(settings) as bus:
            scored = _wait(
                lambda: [
                    d.record for d in bus.replay("wearable.daily_risk") if d.record.payload.risks
                ]
            )
            window = scored[0]
            request_explanation(
                bus, window.patient_id, window.payload.window_end, requested_by="worker-test"
            )
            answers = _wait(
                lambda: [
                    d.record
                    for d in bus.replay("wearable.attention")
                    if d.record.payload.window_end == window.payload.window_end
                    and d.record.patient_id == window.patient_id
                ]
            )
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    assert answers[0].payload.head == "depression" and len(answers[0].payload.minutes) == 10080


def _wait(found, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.1)
    raise AssertionError("the worker did not publish in time")

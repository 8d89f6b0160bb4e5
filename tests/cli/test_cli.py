from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from clarity.bus import open_bus
from clarity.cli import app
from clarity.config import Settings
from clarity.registry import ModelRegistry
from clarity.security import AuditLog
from clarity.testing import example_records
from tests.conftest import REPO

runner = CliRunner(env={"COLUMNS": "240"})


def _command_paths(command, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    if hasattr(command, "commands"):  # a group (typer vendors its own click)
        for name, sub in command.commands.items():
            paths += _command_paths(sub, (*prefix, name))
    return paths


COMMANDS = _command_paths(typer.main.get_command(app))


def test_cli__has_the_commands_of_the_readme():
    assert {
        ("demo",),
        ("schemas",),
        ("bus", "topics"),
        ("bus", "tail"),
        ("registry", "list"),
    } <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "clarity")
def test_cli__every_command_has_help(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3


def test_cli__version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("clarity ")


def test_demo__generates_ingests_consumes_and_is_idempotent(tmp_path):
    args = [
        "--data-dir",
        str(tmp_path / "data"),
        "demo",
        "--patients",
        "2",
        "--days",
        "14",
        "--no-serve",
        "--pgx-training-patients",
        "40",
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert (tmp_path / "data" / "cohort" / "manifest.json").is_file()
    assert (tmp_path / "data" / "bus.sqlite3").is_file()
    row = next(line for line in first.output.splitlines() if "ingest.observation" in line)
    ingested, consumed, in_log = row.replace("│", " ").split()[1:4]
    assert ingested == consumed == in_log != "0"
    assert "0 rejected" in first.output
    # The PGx service ran: every patient has gene results and drug guidance.
    notes = next(line for line in first.output.splitlines() if line.startswith("Notes service:"))
    assert "notes read" in notes and "redacted" in notes and "2 fact-checked summaries" in notes
    pgx = next(line for line in first.output.splitlines() if "drug guidance records" in line)
    assert pgx.strip().startswith("2 patients:")
    # The genotype service: trained on the reference panel, every patient scored on each trait.
    genotype = next(line for line in first.output.splitlines() if "trait risks published" in line)
    assert "2 patients scored, 8 trait risks published (0 not scored)" in genotype
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "reusing it" in second.output
    assert (
        "Ingest: 0 new records" in second.output
        and "Feature store: 0 records read" in second.output
    )
    reset = runner.invoke(app, [*args, "--reset"])
    assert "Generating the synthetic cohort" in reset.output


def test_notes_summarise__prints_a_cited_summary_publishes_it_and_audits_the_read(tmp_path):
    data = ["--data-dir", str(tmp_path)]
    records = [r for r in example_records(1) if r.topic != "notes.summary"]
    with open_bus(Settings.load(data_dir=tmp_path)) as bus:
        bus.publish_batch(records)
    run = runner.invoke(app, [*data, "notes", "run"])
    assert run.exit_code == 0 and "1 summaries" in run.output, run.output
    patient = records[0].patient_id
    result = runner.invoke(
        app,
        [*data, "notes", "summarise", patient, "--since", "2000-01-01", "--backend", "extractive"],
    )
    assert result.exit_code == 0, result.output
    assert "Plan" in result.output and "Start " in result.output and "note-0000-1[" in result.output
    as_json = runner.invoke(
        app,
        [*data, "notes", "summarise", patient, "--since", "2000-01-01", "--json", "--no-publish"],
    )
    assert '"backend": "extractive"' in as_json.output and '"dropped": 0' in as_json.output
    with open_bus(Settings.load(data_dir=tmp_path)) as bus:
        summaries = [d.record for d in bus.replay("notes.summary")]
    # The service's summary (90-day window) and the one drafted since 2000-01-01.
    assert len(summaries) == 2 and {str(s.payload.since) for s in summaries} >= {"2000-01-01"}
    audit = AuditLog(tmp_path / "audit.sqlite3")
    try:
        entries = [e for e in audit.entries() if e.resource.startswith("cli:notes summarise")]
    finally:
        audit.close()
    assert len(entries) == 2 and {e.outcome for e in entries} == {"ok"}
    assert all(e.patient_id == patient for e in entries)
    empty = runner.invoke(app, [*data, "notes", "summarise", patient, "--since", "2999-01-01"])
    assert empty.exit_code == 1 and "no redacted notes since 2999-01-01" in empty.output
    bad = runner.invoke(app, [*data, "notes", "summarise", patient, "--since", "yesterday"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_bus_commands__show_topics_records_and_dead_letters(tmp_path):
    data = ["--data-dir", str(tmp_path)]
    with open_bus(Settings.load(data_dir=tmp_path)) as bus:
        bus.publish_batch(example_records(1))
    topics = runner.invoke(app, [*data, "bus", "topics"])
    assert topics.exit_code == 0 and "ingest.actigraphy" in topics.output
    assert f"end offset {len(example_records(1))}" in topics.output
    tail = runner.invoke(
        app, [*data, "bus", "tail", "ingest.actigraphy", "--limit", "1", "--from-offset", "1"]
    )
    assert tail.exit_code == 0 and '"counts"' in tail.output and "more" in tail.output
    full = runner.invoke(app, [*data, "bus", "tail", "ingest.mood", "--full", "--limit", "2"])
    assert full.output.count('"topic": "ingest.mood"') == 2
    with open_bus(Settings.load(data_dir=tmp_path)) as bus:
        bus.dead_letter(
            source_topic="ingest.fhir",
            original=b"{",
            original_format="text",
            reason="truncated JSON",
            rejected_by="ingest",
        )
    letters = runner.invoke(app, [*data, "bus", "dead-letters"])
    assert "truncated JSON" in letters.output


def test_registry_commands__list_and_show(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(b"1")
    ModelRegistry.from_settings(Settings.load(data_dir=tmp_path)).register(
        "toy",
        model,
        params={"depth": 3},
        metrics={"auc": 0.75},
        data_fingerprint="sha256:abc",
        alias="production",
    )
    listed = runner.invoke(app, ["--data-dir", str(tmp_path), "registry", "list"])
    assert listed.exit_code == 0 and "toy" in listed.output and "production" in listed.output
    shown = runner.invoke(
        app, ["--data-dir", str(tmp_path), "registry", "show", "toy", "--alias", "production"]
    )
    assert shown.exit_code == 0, shown.output
    assert "sha256:abc" in shown.output and "0.75" in shown.output and "param depth" in shown.output


def test_schemas_command__check_write_and_release(tmp_path):
    assert runner.invoke(app, ["schemas", "--check", "--dir", str(REPO / "schemas")]).exit_code == 0
    target = tmp_path / "schemas"
    missing = runner.invoke(app, ["schemas", "--check", "--dir", str(target)])
    assert missing.exit_code == 1 and "missing" in missing.output
    assert runner.invoke(app, ["schemas", "--dir", str(target)]).exit_code == 0
    released = runner.invoke(app, ["schemas", "--release", "--dir", str(target)])
    assert released.exit_code == 0 and "released" in released.output
    assert runner.invoke(app, ["schemas", "--check", "--dir", str(target)]).exit_code == 0
    both = runner.invoke(app, ["schemas", "--check", "--release", "--dir", str(target)])
    assert both.exit_code != 0


def test_schemas_command__warns_when_a_regeneration_breaks_the_release(tmp_path):
    target = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", target)
    broken = target / "released" / "avro" / "ingest.retired.avsc"
    broken.write_text((target / "released" / "avro" / "ingest.mood.avsc").read_text())
    result = runner.invoke(app, ["schemas", "--dir", str(target)])
    assert "warning" in result.output and "was removed" in result.output


def test_main__clarity_errors_print_one_line_and_exit_1(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "clarity",
            "--config",
            # Longer than a terminal line: the message must not be wrapped.
            str(tmp_path / ("d" * 100) / "missing.toml"),
            "bus",
            "topics",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and "does not exist" in lines[0]
    assert "Traceback" not in result.stderr


def test_synth_then_ingest__round_trip_and_exit_codes(tmp_path):
    out = tmp_path / "cohort"
    data = ["--data-dir", str(tmp_path / "data")]
    made = runner.invoke(
        app, ["synth", "--out", str(out), "--patients", "2", "--days", "14", "--workers", "1"]
    )
    assert made.exit_code == 0, made.output
    assert "ingest.observation" in made.output
    again = runner.invoke(app, ["synth", "--out", str(out), "--patients", "2", "--days", "14"])
    assert again.exit_code != 0 and "not empty" in again.output
    first = runner.invoke(app, [*data, "ingest", str(out)])
    assert first.exit_code == 0, first.output
    assert "ingest.actigraphy" in first.output
    bad = tmp_path / "mood.csv"
    bad.write_text("participant_id,date,mood\nA1,2025-01-01,5\nA1,2025-01-02,12\n")
    second = runner.invoke(app, [*data, "ingest", str(bad)])
    assert second.exit_code == 1
    assert "rejected" in second.output and "line 3" in second.output
    assert (tmp_path / "data" / "pseudonym.key").stat().st_mode & 0o777 == 0o600

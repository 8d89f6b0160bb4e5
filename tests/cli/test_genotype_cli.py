"""``clarity genotype``: train and register the panel, run the service, score a file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from clarity.bus import open_bus
from clarity.cli import app
from clarity.cli._genotype import PANEL_MODEL, train_and_register
from clarity.config import Settings
from clarity.registry import ModelRegistry

runner = CliRunner(env={"COLUMNS": "240"})
TRAITS = ["--trait", "additive", "--trait", "depression_liability"]
QUICK = ["--bootstrap", "3", "--pcs", "2"]


def test_genotype_cli__train_register_run_and_score(cohort: Path, tmp_path: Path):
    data = ["--data-dir", str(tmp_path / "data")]
    genotypes = cohort / "genotypes"
    train = runner.invoke(
        app,
        [
            *data,
            "genotype",
            "train",
            "--genotypes",
            str(genotypes / "reference.bed"),
            "--phenotypes",
            str(genotypes / "phenotypes.tsv"),
            *TRAITS,
            *QUICK,
        ],
    )
    assert train.exit_code == 0, train.output
    assert "registered genotype.traits version 1" in train.output
    assert (
        "additive" in train.output and "ensemble" in train.output and "* the model" in train.output
    )
    settings = Settings.load(data_dir=tmp_path / "data")
    version = ModelRegistry.from_settings(settings).get(PANEL_MODEL, alias="production")
    assert {"additive.ensemble.r2", "depression_liability.prs_ct.auc"} <= set(version.metrics)
    # The same files and settings: the registered version is reused, not retrained.
    said: list[str] = []
    again, _ = train_and_register(
        settings,
        genotypes / "reference.bed",
        genotypes / "phenotypes.tsv",
        traits=["additive", "depression_liability"],
        n_pcs=2,
        n_bootstrap=3,
        reuse=True,
        say=said.append,
    )
    assert again.version == version.version and "reusing it" in said[0]

    ingest = runner.invoke(app, [*data, "ingest", str(genotypes / "cohort.bed")])
    assert ingest.exit_code == 0, ingest.output
    run = runner.invoke(app, [*data, "genotype", "run"])
    assert run.exit_code == 0, run.output
    assert "8 patients: 16 trait risks (0 not scored); 0 rejected" in run.output
    assert "read 0 records" in runner.invoke(app, [*data, "genotype", "run"]).output
    with open_bus(settings) as bus:
        risks = [d.record for d in bus.replay("genotype.trait_risk")]
    assert {r.producer.model_version for r in risks} == {"1"}
    assert all(r.payload.sample_id.startswith("SYN-") for r in risks)

    out = tmp_path / "risks.json"
    scored = runner.invoke(
        app,
        [
            *data,
            "genotype",
            "score",
            str(genotypes / "cohort.vcf.gz"),
            "--sample",
            "SYN-00003",
            "--json",
            str(out),
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert "SYN-00003: genetic risk" in scored.output and "depression_liability" in scored.output
    body = json.loads(out.read_text())
    assert list(body) == ["SYN-00003"] and len(body["SYN-00003"]) == 2
    # The file's scores are the service's for the same patient (the VCF holds the same calls).
    by_trait = {r["trait"]: r["score"] for r in body["SYN-00003"]}
    served = {r.payload.trait: r.payload.score for r in risks if r.payload.sample_id == "SYN-00003"}
    assert by_trait == served


def test_genotype_cli__bad_inputs_fail_with_one_clear_line(cohort: Path, tmp_path: Path):
    data = ["--data-dir", str(tmp_path / "data")]
    genotypes = cohort / "genotypes"
    base = [
        *data,
        "genotype",
        "train",
        "--genotypes",
        str(genotypes / "reference.bed"),
        "--phenotypes",
        str(genotypes / "phenotypes.tsv"),
        *QUICK,
    ]
    missing = runner.invoke(app, [*base, "--trait", "height"])
    assert missing.exit_code == 1
    assert "no column ['height']" in str(missing.exception) + missing.output
    covariates = tmp_path / "cov.tsv"
    covariates.write_text("FID IID bmi\nREF-000000 REF-000000 22.5\n")
    foreign = runner.invoke(app, [*base, "--trait", "additive", "--covariates", str(covariates)])
    assert foreign.exit_code == 1
    assert "cannot be supplied for a patient" in str(foreign.exception) + foreign.output
    unregistered = runner.invoke(app, [*data, "genotype", "run"])
    assert unregistered.exit_code == 1


def test_eval_genotype__an_unknown_architecture_is_refused():
    result = runner.invoke(app, ["eval", "genotype", "--trait", "polygenic"])
    assert result.exit_code != 0 and "the architectures are additive" in result.output


def test_eval_genotype__a_tiny_run_writes_the_report_and_the_figures(tmp_path: Path):
    out, figures = tmp_path / "report.md", tmp_path / "figures.json"
    result = runner.invoke(
        app,
        [
            "--data-dir",
            str(tmp_path / "data"),
            "eval",
            "genotype",
            "--samples",
            "600",
            "--length",
            "150000",
            "--replicates",
            "1",
            "--bootstrap",
            "2",
            "--trait",
            "additive",
            "--trait",
            "dominance",
            "--no-fastlmm",
            "--out",
            str(out),
            "--json",
            str(figures),
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for heading in (
        "### Held-out accuracy",
        "### Against the better linear model",
        "### SNPs each model uses",
        "### The selector against the truth",
        "### Bootstrap intervals",
    ):
        assert heading in text
    data = json.loads(figures.read_text())
    [replicate] = data["replicates"]
    assert set(replicate["traits"]) == {"additive", "dominance"}
    assert "| dominance |" in text and "| epistasis |" not in text
    dominance = replicate["traits"]["dominance"]
    assert set(dominance["scores"]) == {"prs_ct", "elastic_net", "xgboost", "ensemble"}
    difference, low, high = dominance["differences"]["xgboost"]
    assert low < high and np.isfinite(difference)
    assert 0 <= dominance["recovery"]["sequential tree selector"][1] <= 1
    assert dominance["snps_used"]["xgboost"] <= dominance["snps_read"]["xgboost"] == 50
    # The figures are kept in the registry too, with the report.
    assert "Figures in the registry under genotype.traits" in result.output
    [kept] = ModelRegistry.from_settings(Settings.load(data_dir=tmp_path / "data")).evaluations(
        PANEL_MODEL
    )
    assert kept.metrics["dominance.xgboost.held_out"] == pytest.approx(
        dominance["scores"]["xgboost"]
    )
    assert kept.params["traits"] == "additive,dominance"

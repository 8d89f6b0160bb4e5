"""``clarity pgx call``: a VCF with outside calls and medications to tables and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from clarity.cli import app
from tests.conftest import REPO, needs

EXAMPLES = REPO.parent / "shared" / "reference" / "pharmcat" / "examples"
needs_examples = needs(EXAMPLES)
runner = CliRunner(env={"COLUMNS": "240"})


@needs_examples
def test_pgx_call__prints_tables_and_writes_json_and_html(tmp_path: Path):
    result = runner.invoke(
        app,
        [
            "pgx",
            "call",
            str(EXAMPLES / "pharmcat.example.vcf"),
            "--outside",
            str(EXAMPLES / "pharmcat.example.outsideCall.tsv"),
            "--medication",
            "paroxetine",
            "--json",
            str(tmp_path / "report.json"),
            "--html",
            str(tmp_path / "report.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "*38/*38" in result.output and "carbamazepine" in result.output
    report = json.loads((tmp_path / "report.json").read_text())
    genes = {g["gene"]: g for g in report["genes"]}
    assert genes["CYP2D6"]["diplotypes"] == ["*1/*3"]
    assert genes["CYP2D6"]["adjusted_phenotype"] == "Poor Metabolizer"
    assert "paroxetine" in genes["CYP2D6"]["phenoconversion"]
    assert {d["drug"] for d in report["drugs"]} >= {"citalopram", "paroxetine", "carbamazepine"}
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page


def test_pgx_call__a_grch37_file_fails_with_one_clear_line(tmp_path: Path):
    vcf = tmp_path / "b37.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##reference=GRCh37\n##contig=<ID=10>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
        "10\t96521657\t.\tC\tT\t.\tPASS\t.\tGT\t0/1\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "clarity", "pgx", "call", str(vcf)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "GRCh37" in done.stderr and "Traceback" not in done.stderr

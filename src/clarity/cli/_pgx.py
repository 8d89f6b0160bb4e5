"""``clarity pgx``: call a VCF, run the PGx service, train the response model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from clarity.cli._app import app, console, settings_of
from clarity.cli._services import service_context
from clarity.config import Settings

if TYPE_CHECKING:
    from clarity.pgx import PgxServiceReport
    from clarity.registry import ModelVersion

pgx_app = typer.Typer(
    help="The PGx service: star alleles, phenotypes and CPIC guidance.", no_args_is_help=True
)
app.add_typer(pgx_app, name="pgx")

RESPONSE_MODEL = "pgx.response"
"""Registry name of the research-grade drug-response model."""


@pgx_app.command("call")
def call(
    vcf: Annotated[Path, typer.Argument(help="VCF or BCF on GRCh38.", exists=True)],
    sample: Annotated[list[str] | None, typer.Option(help="Sample to call (repeatable).")] = None,
    outside: Annotated[
        Path | None, typer.Option(help="Outside calls (GENE<TAB>diplotype).", exists=True)
    ] = None,
    medication: Annotated[
        list[str] | None, typer.Option(help="A current medication (repeatable).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the JSON report.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write the HTML report.")] = None,
) -> None:
    """Call pharmacogenes in a VCF and print phenotypes and CPIC guidance."""
    from clarity.pgx import call_vcf, guidance_for, read_outside_calls, report_html, report_json

    calls = read_outside_calls(outside) if outside else []
    results = call_vcf(vcf, samples=sample, outside=calls, medications=medication or [])
    reports: dict[str, Any] = {}
    for name, genes in results.items():
        guidance = guidance_for(genes)
        table = Table(title=f"{name}: pharmacogenes")
        for column in ("gene", "diplotype", "activity", "phenotype", "with medications"):
            table.add_column(column)
        for gene, p in sorted(genes.items()):
            table.add_row(
                gene + (" (provisional)" if p.provisional else ""),
                " or ".join(p.diplotypes) or "not called",
                "" if p.activity_score is None else f"{p.activity_score:g}",
                p.phenotype,
                p.adjusted_phenotype + (f" ({p.phenoconversion})" if p.phenoconversion else ""),
            )
        console.print(table)
        advice = Table(title=f"{name}: CPIC guidance")
        for column in ("drug", "population", "action", "strength", "status"):
            advice.add_column(column)
        for g in guidance:
            for r in g.recommendations:
                advice.add_row(
                    g.drug, r.population, r.action.value, r.strength or "", g.status.value
                )
        console.print(advice)
        reports[name] = report_json(name, genes, guidance)
        if html_out is not None:
            target = html_out if len(results) == 1 else html_out.with_name(f"{name}.html")
            target.write_text(report_html(name, genes, guidance), encoding="utf-8")
    if json_out is not None:
        payload = next(iter(reports.values())) if len(reports) == 1 else reports
        json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")


def train_and_register(
    settings: Settings, cohort: Path, *, alias: str = "production", seed: int = 0
) -> tuple[ModelVersion, dict[str, float]]:
    """Train the drug-response model on a synthetic cohort and register it.

    Returns
    -------
    tuple
        The registered version and the held-out evaluation (model vs prior AUC).
    """
    from clarity.pgx._response import DrugResponseModel, evaluate, training_frame
    from clarity.registry import ModelRegistry, fingerprint_data

    frame = training_frame(cohort)
    metrics = evaluate(frame, seed=seed)
    model = DrugResponseModel(random_state=seed).fit(frame)
    registry = ModelRegistry.from_settings(settings)
    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model.skops")
        version = registry.register(
            RESPONSE_MODEL,
            tmp,
            params={"seed": seed, "courses": len(frame), "research_grade": True},
            metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
            data_fingerprint=fingerprint_data(frame.to_csv(index=False)),
            alias=alias,
            tags={"trained_on": "clarity synthetic cohort", "research_grade": "true"},
        )
    return version, metrics


@pgx_app.command("train")
def train(
    ctx: typer.Context,
    cohort: Annotated[Path, typer.Option(help="A synthetic cohort directory.", exists=True)],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Train the research-grade drug-response model on a synthetic cohort and register it."""
    version, metrics = train_and_register(settings_of(ctx), cohort, seed=seed)
    console.print(f"registered {RESPONSE_MODEL} version {version.version}")
    for key, value in sorted(metrics.items()):
        console.print(f"  {key}: {value:.3f}" if isinstance(value, float) else f"  {key}: {value}")


def run_service(settings: Settings) -> PgxServiceReport:
    """Run the PGx service over new bus records, then bring the store up to date.

    The response model is used when one is registered (alias ``production``);
    otherwise guidance is published without response estimates.
    """
    from clarity.pgx import PgxService
    from clarity.pgx._response import DrugResponseModel
    from clarity.pgx._service import clinical_features, response_from_model
    from clarity.registry import ModelRegistry

    with service_context(settings) as (bus, store, allowed):
        registry = ModelRegistry.from_settings(settings)
        response = None
        lineage: tuple[str, str, str | None] = ("pgx.cpic", "tables", None)
        if RESPONSE_MODEL in registry.models():
            found = registry.load(RESPONSE_MODEL, alias="production")
            model = DrugResponseModel.load(Path(found.path) / "model.skops")
            response = response_from_model(model, lambda patient: clinical_features(store, patient))
            lineage = (RESPONSE_MODEL, str(found.version.version), found.version.run_id)
        service = PgxService(
            response=response, response_lineage=lineage, store=store, allowed=allowed
        )
        report = service.run(bus)
    return report


@pgx_app.command("run")
def run(ctx: typer.Context) -> None:
    """Publish phenotypes and guidance for every patient with new PGx inputs."""
    report = run_service(settings_of(ctx))
    console.print(
        f"read {report.records_read} records; {report.patients} patients: "
        f"{report.phenotypes} phenotypes, {report.guidance} guidance records; "
        f"{report.rejected} rejected, {report.skipped} skipped (no consent)"
    )

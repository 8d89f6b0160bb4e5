"""``clarity genotype``: train the panel of trait models, run the service, score a file."""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from clarity.cli._app import app, console, settings_of
from clarity.cli._services import service_context
from clarity.config import Settings

if TYPE_CHECKING:
    from clarity.genotype import GenotypeServiceReport, TraitPanel
    from clarity.registry import ModelVersion

genotype_app = typer.Typer(
    help="The genotype service: per-trait genetic risk from VCF or PLINK.", no_args_is_help=True
)
app.add_typer(genotype_app, name="genotype")

PANEL_MODEL = "genotype.traits"
"""Registry name of the panel of per-trait genetic risk models."""
SERVICE_COVARIATES = ("age", "sex")
"""Covariates besides the principal components that the service can supply per patient."""

Say = Callable[[str], None]


@contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """Yield a Dask client for ``address`` (``"local"`` starts a LocalCluster), or None.

    Parameters
    ----------
    address
        A scheduler address (``tcp://host:8786``), ``"local"``, or None.

    Yields
    ------
    distributed.Client or None
        The client, closed on exit (with the local cluster it started).
    """
    if address is None:
        yield None
        return
    from distributed import Client, LocalCluster

    # The scheduler and nannies log every start and stop at INFO; the CLI shows results.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if address == "local":
        with (
            LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=2,
                threads_per_worker=1,
                dashboard_address=None,
                silence_logs=logging.WARNING,
            ) as cluster,
            Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            yield client
        return
    with Client(address) as client:  # type: ignore[no-untyped-call]
        yield client


def _flat_metrics(panel: TraitPanel) -> dict[str, float]:
    return {
        f"{trait}.{kind}.{name}": float(value)
        for trait, kinds in panel.metrics.items()
        for kind, values in kinds.items()
        for name, value in values.items()
    }


def train_and_register(
    settings: Settings,
    genotypes: Path,
    phenotypes: Path,
    *,
    traits: list[str] | None = None,
    covariates: Path | None = None,
    kind: str = "ensemble",
    n_pcs: int = 4,
    n_bootstrap: int = 30,
    seed: int = 0,
    alias: str = "production",
    reuse: bool = False,
    say: Say | None = None,
) -> tuple[ModelVersion, TraitPanel]:
    """Train the panel on a reference cohort's genotypes and phenotypes and register it.

    Parameters
    ----------
    settings
        Where the registry is, and ``[genotype] dask_scheduler``.
    genotypes
        The reference cohort's VCF/BCF or PLINK ``.bed``.
    phenotypes
        Its PLINK-style phenotype file (one column per trait).
    traits
        Traits to model; None for every column.
    covariates
        A PLINK-style file of ``age`` and/or ``sex`` (0 female, 1 male) per
        sample, or None.
    kind
        The kind served per trait.
    n_pcs
        Principal components as covariates.
    n_bootstrap
        Bootstrap replicates per model.
    seed
        Seed of the split, selection and models.
    alias
        The alias to point at the new version.
    reuse
        Keep the version under ``alias`` when it was trained on the same
        files with the same settings.
    say
        Progress lines.

    Returns
    -------
    tuple
        The registered version and the panel.

    Raises
    ------
    InputError
        If the covariates file has columns the service cannot supply for a
        patient, or training refuses the data.
    """
    from clarity._utils import sha256_file
    from clarity.errors import InputError, RegistryError
    from clarity.genotype import TraitPanel, read_genotypes, read_phenotypes, train_panel
    from clarity.registry import ModelRegistry, fingerprint_data

    extra = None
    if covariates is not None:
        extra = read_phenotypes(covariates)
        unknown = [c for c in extra.columns if c not in SERVICE_COVARIATES]
        if unknown:
            raise InputError(
                f"{covariates.name}: the columns {unknown} cannot be supplied for a patient; "
                f"the service knows {list(SERVICE_COVARIATES)} (sex as 0 female, 1 male)."
            )
    options = {
        "traits": traits,
        "kind": kind,
        "n_pcs": n_pcs,
        "n_bootstrap": n_bootstrap,
        "seed": seed,
    }
    files = [genotypes, phenotypes, *([covariates] if covariates else [])]
    if genotypes.suffix == ".bed":
        files += [genotypes.with_suffix(".bim"), genotypes.with_suffix(".fam")]
    fingerprint = fingerprint_data(*(sha256_file(f) for f in files), json.dumps(options))
    registry = ModelRegistry.from_settings(settings)
    if reuse and PANEL_MODEL in registry.models():
        try:
            current = registry.get(PANEL_MODEL, alias=alias)
        except RegistryError:
            current = None
        if current is not None and current.data_fingerprint == fingerprint:
            if say is not None:
                say(f"{PANEL_MODEL} v{current.version} was trained on these files; reusing it")
            found = registry.load(PANEL_MODEL, alias=alias)
            return current, TraitPanel.load(found.path)
    matrix = read_genotypes(genotypes)
    table = read_phenotypes(phenotypes)
    with dask_client(settings.genotype.dask_scheduler) as client:
        panel = train_panel(
            matrix,
            table,
            traits=traits,
            kind=kind,
            covariates=extra,
            n_pcs=n_pcs,
            n_bootstrap=n_bootstrap,
            random_state=seed,
            client=client,
            progress=say,
        )
    with tempfile.TemporaryDirectory() as scratch:
        panel.save(Path(scratch) / "panel")
        version = registry.register(
            PANEL_MODEL,
            Path(scratch) / "panel",
            params={
                **{k: ",".join(v) if isinstance(v, list) else v for k, v in options.items()},
                "panel_version": panel.version,
                "samples": matrix.n_samples,
                "variants": matrix.n_variants,
                "genotypes": genotypes.name,
            },
            metrics=_flat_metrics(panel),
            data_fingerprint=fingerprint,
            alias=alias,
            description="Per-trait genetic risk: SNP selection plus XGBoost, against a linear "
            "polygenic score (Medvedev et al. 2022).",
        )
    return version, panel


def load_panel(settings: Settings, *, alias: str = "production") -> tuple[TraitPanel, Any]:
    """Return the registered panel under ``alias`` and its registry version.

    Raises
    ------
    RegistryError
        If no panel is registered under the alias.
    """
    from clarity.genotype import TraitPanel
    from clarity.registry import ModelRegistry

    found = ModelRegistry.from_settings(settings).load(PANEL_MODEL, alias=alias)
    return TraitPanel.load(found.path), found.version


def run_service(settings: Settings, *, alias: str = "production") -> GenotypeServiceReport:
    """Run the genotype service over new bus records, then bring the store up to date."""
    from clarity.genotype import GenotypeService, patient_covariates

    panel, version = load_panel(settings, alias=alias)
    with service_context(settings) as (bus, store, allowed):
        year = date.today().year
        service = GenotypeService(
            panel,
            lineage=(PANEL_MODEL, str(version.version), version.run_id),
            store=store,
            allowed=allowed,
            covariates=lambda patient: patient_covariates(store, patient, year=year),
            top=settings.genotype.top_snps,
            max_missing=settings.genotype.max_missing,
        )
        return service.run(bus)


@genotype_app.command("train")
def train(
    ctx: typer.Context,
    genotypes: Annotated[
        Path, typer.Option(help="Reference cohort: VCF/BCF or PLINK .bed.", exists=True)
    ],
    phenotypes: Annotated[
        Path, typer.Option(help="PLINK-style phenotype file (FID IID trait...).", exists=True)
    ],
    trait: Annotated[list[str] | None, typer.Option(help="A trait to model (repeatable).")] = None,
    covariates: Annotated[
        Path | None, typer.Option(help="PLINK-style file of age and/or sex.", exists=True)
    ] = None,
    kind: Annotated[str, typer.Option(help="Kind served: ensemble, xgboost, ...")] = "ensemble",
    pcs: Annotated[int, typer.Option(min=0, max=50, help="Principal components.")] = 4,
    bootstrap: Annotated[int, typer.Option(min=0, max=1_000, help="Bootstrap replicates.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(help="Train on a Dask cluster: an address, or 'local'."),
    ] = None,
) -> None:
    """Train the per-trait models on a reference cohort and register the panel."""
    settings = settings_of(ctx)
    if dask_scheduler is not None:
        settings = settings.model_copy(
            update={
                "genotype": settings.genotype.model_copy(update={"dask_scheduler": dask_scheduler})
            }
        )
    version, panel = train_and_register(
        settings,
        genotypes,
        phenotypes,
        traits=trait,
        covariates=covariates,
        kind=kind,
        n_pcs=pcs,
        n_bootstrap=bootstrap,
        seed=seed,
        say=lambda line: console.print(f"  {line}"),
    )
    console.print(metrics_table(panel))
    console.print(
        f"registered {PANEL_MODEL} version {version.version} (panel {panel.version[:12]})"
    )


def metrics_table(panel: TraitPanel) -> Table:
    """Return a table of every kind's held-out metric per trait, the served kind marked."""
    from clarity.genotype import KINDS

    table = Table(title="Held-out metrics (R² or AUC), per trait and model")
    table.add_column("trait")
    table.add_column("SNPs selected", justify="right")
    for kind in KINDS:
        table.add_column(kind, justify="right")
    for trait in panel.traits:
        served = panel.models[trait].kind
        row = []
        for kind in KINDS:
            values = panel.metrics[trait].get(kind, {})
            value = values.get("auc", values.get("r2"))
            text = "-" if value is None else f"{value:.3f}"
            row.append(f"[bold]{text}*[/]" if kind == served else text)
        selected = panel.snp_sets.get(trait)
        table.add_row(trait, str(len(selected.variants)) if selected else "-", *row)
    table.caption = "* the model served"
    return table


@genotype_app.command("run")
def run(ctx: typer.Context) -> None:
    """Publish genotype.trait_risk for every patient with a new genotype call set."""
    report = run_service(settings_of(ctx))
    console.print(
        f"read {report.records_read} records; {report.patients} patients: {report.risks} trait "
        f"risks ({report.unscored} not scored); {report.rejected} rejected, "
        f"{report.skipped} skipped (no consent)"
    )


@genotype_app.command("score")
def score(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="VCF/BCF or PLINK .bed.", exists=True)],
    sample: Annotated[list[str] | None, typer.Option(help="Sample to score (repeatable).")] = None,
    panel_dir: Annotated[
        Path | None,
        typer.Option("--panel", help="A saved panel directory (default: the registered one)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the risks as JSON.")
    ] = None,
) -> None:
    """Score the samples of a genotype file on every trait of the panel (no bus)."""
    from clarity.genotype import TraitPanel, read_genotypes

    settings = settings_of(ctx)
    panel = TraitPanel.load(panel_dir) if panel_dir else load_panel(settings)[0]
    if panel.covariates:
        raise typer.BadParameter(
            f"this panel needs {list(panel.covariates)} per patient; score through the service",
            param_hint="--panel",
        )
    matrix = read_genotypes(path, samples=sample, positions=panel.positions)
    scores = panel.score(
        matrix, top=settings.genotype.top_snps, max_missing=settings.genotype.max_missing
    )
    for name, risks in scores.items():
        table = Table(title=f"{name}: genetic risk (panel {panel.version[:12]})")
        for column in ("trait", "model", "score", "90% interval", "percentile", "top SNPs"):
            table.add_column(column)
        for r in risks:
            if r.score is None:
                table.add_row(r.trait, r.model_kind.value, "-", "-", "-", r.reason or "")
                continue
            interval = (
                "-"
                if r.interval_lower is None
                else f"{r.interval_lower:.3f}-{r.interval_upper:.3f}"
            )
            snps = ", ".join(f"{s.variant_id} ({s.contribution:+.3f})" for s in r.top_snps[:3])
            percentile = f"{r.percentile:.0f}" if r.percentile is not None else "-"
            table.add_row(r.trait, r.model_kind.value, f"{r.score:.3f}", interval, percentile, snps)
        console.print(table)
    if json_out is not None:
        body = {s: [r.model_dump(mode="json") for r in risks] for s, risks in scores.items()}
        json_out.write_text(json.dumps(body, indent=2), encoding="utf-8")

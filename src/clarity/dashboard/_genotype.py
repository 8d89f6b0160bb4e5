"""The genotype panel of a patient's page: genetic risk per trait, with the SNPs behind it.

The panel shows the API's newest ``genotype.trait_risk`` of each trait: the
score (a probability, or the predicted value on the training cohort's scale),
its bootstrap interval, where it falls in the reference cohort, the model that
produced it with its held-out accuracy beside the linear polygenic score's,
and the variants that moved it most, each with the patient's dosage and the
direction it pushed. A trait that could not be scored says why.
"""

from __future__ import annotations

from typing import Any

from dash import html

from clarity.sdk import ApiError, ClarityClient

__all__ = ["genotype_panel"]

_KIND = {
    "prs_ct": "linear score (C+T)",
    "elastic_net": "elastic net",
    "xgboost": "XGBoost",
    "ensemble": "linear + XGBoost ensemble",
}
_METRIC = {"r2": "R²", "auc": "AUC"}


def _score(risk: dict[str, Any]) -> str:
    value = risk["score"]
    return f"{value:.1%}" if risk["binary"] else f"{value:+.2f}"


def _interval(risk: dict[str, Any]) -> str:
    low, high = risk.get("interval_lower"), risk.get("interval_upper")
    if low is None or high is None:
        return "-"
    if risk["binary"]:
        return f"{low:.1%} to {high:.1%}"
    return f"{low:+.2f} to {high:+.2f}"


def _percentile(risk: dict[str, Any]) -> Any:
    value = risk.get("percentile")
    if value is None:
        return "-"
    return html.Div(
        [
            html.Div(
                className="percentile-bar",
                style={"width": f"{value:.0f}%"},
                role="presentation",
            ),
            html.Span(f"{_ordinal(round(value))} of {risk['reference_size']}"),
        ],
        className="percentile",
        title=f"Higher than {value:.0f}% of the reference cohort's scores",
    )


def _ordinal(number: int) -> str:
    """Return 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ..."""
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


def _model(risk: dict[str, Any]) -> Any:
    metric = _METRIC.get(risk.get("held_out_metric") or "", "")
    parts: list[Any] = [_KIND.get(risk["model_kind"], risk["model_kind"])]
    if risk.get("held_out_value") is not None:
        held = f"held-out {metric} {risk['held_out_value']:.2f}"
        if risk.get("baseline_held_out_value") is not None:
            held += f" (linear score {risk['baseline_held_out_value']:.2f})"
        parts += [html.Br(), html.Small(held)]
    return parts


def _snps(risk: dict[str, Any]) -> Any:
    items = []
    for snp in risk.get("top_snps", []):
        count = snp.get("dosage")
        allele = snp["effect_allele"]
        dosage = (
            f"not called (average {allele} dosage used)"
            if count is None
            else f"{count} cop{'y' if count == 1 else 'ies'} of {allele}"
        )
        sign = "raises" if snp["contribution"] > 0 else "lowers"
        items.append(
            html.Li(
                f"{snp['variant_id']}: {dosage}, {sign} ({snp['contribution']:+.3f})",
                className="snp-up" if snp["contribution"] > 0 else "snp-down",
            )
        )
    return html.Ul(items, className="snps") if items else "-"


def _row(risk: dict[str, Any]) -> Any:
    if risk.get("score") is None:
        return html.Tr(
            [
                html.Td(risk["trait"]),
                html.Td(html.Em(f"Not scored: {risk['reason']}"), colSpan=5),
            ],
            className="unscored",
        )
    return html.Tr(
        [
            html.Td(risk["trait"]),
            html.Td(_score(risk)),
            html.Td(_interval(risk)),
            html.Td(_percentile(risk)),
            html.Td(_model(risk)),
            html.Td(_snps(risk)),
        ]
    )


def genotype_panel(api: ClarityClient, patient_id: str) -> html.Section | None:
    """Build the genotype panel, or None when the genotype service has no result.

    Parameters
    ----------
    api
        The signed-in client.
    patient_id
        The patient.

    Returns
    -------
    dash.html.Section or None
        A table of the newest risk per trait, with a caption naming the model.
    """
    try:
        report = api.genotype_risks(patient_id)
    except ApiError as error:
        if error.status in (404, 409):  # nothing published yet, or no genomic consent
            return None
        raise
    risks = [r.risk for r in report.risks]
    producer = report.risks[0].producer if report.risks else {}
    head = ("Trait", "Score", "90% interval", "Percentile", "Model", "Variants that moved it")
    versions = sorted({r["panel_version"][:12] for r in risks})
    return html.Section(
        [
            html.H3("Genetic risk"),
            html.Table(
                [
                    html.Thead(html.Tr([html.Th(h, scope="col") for h in head])),
                    html.Tbody([_row(r) for r in risks]),
                ],
                className="table",
                id="genotype-risks",
            ),
            html.P(
                "Research-grade decision support. A score is a probability for a yes/no trait "
                "and the predicted value on the training cohort's scale otherwise; the interval "
                "shows the model's estimation uncertainty, not the spread of the trait. "
                f"Model {producer.get('model_name', '-')} v{producer.get('model_version', '-')} "
                f"(panel {', '.join(versions)}); percentiles are among the held-out people of "
                "the reference cohort it was trained on.",
                className="caption",
            ),
        ],
        className="panel wide",
        id="panel-genotype",
        title="Genetic risk",
    )

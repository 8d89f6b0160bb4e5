"""The PGx panel of a patient's page: genes, phenotypes with co-medication, CPIC guidance.

The panel shows the API's PGx report, which holds only the latest result set
(the records sharing the newest record's inputs and producer). Actionable drugs (anything but a
standard dose) come first; every row keeps its citation, and response-model
estimates are marked research-grade.
"""

from __future__ import annotations

from html import unescape
from typing import Any

from dash import html

from clarity.sdk import ApiError, ClarityClient

__all__ = ["pgx_panel"]

_ACTIONS = {
    "standard_dose": "Standard dose",
    "reduce_starting_dose": "Reduce starting dose",
    "dose_cap": "Dose cap / reduced maintenance dose",
    "increase_dose": "Increase dose / titrate",
    "avoid": "Avoid",
    "use_alternative": "Use an alternative",
    "no_recommendation": "No recommendation",
    "indeterminate": "Indeterminate",
}
_QUIET = {"standard_dose", "no_recommendation", "indeterminate"}


def _gene_rows(genes: list[dict[str, Any]]) -> list[Any]:
    rows = []
    for p in sorted(genes, key=lambda g: g["gene"]):
        adjusted = p["adjusted_phenotype"]
        changed = p.get("phenoconversion")
        notes = [*p.get("conflicts", []), *p.get("messages", [])[:3]]
        if p.get("missing_positions"):
            notes.append(f"missing loci: {', '.join(p['missing_positions'][:8])}")
        rows.append(
            html.Tr(
                [
                    html.Td(p["gene"] + (" (provisional)" if p.get("provisional") else "")),
                    html.Td(" or ".join(p.get("diplotypes", [])) or "not called"),
                    html.Td("" if p.get("activity_score") is None else f"{p['activity_score']:g}"),
                    html.Td(p["phenotype"]),
                    html.Td(
                        [html.Strong(adjusted), html.Br(), html.Small(changed)]
                        if changed
                        else adjusted,
                        className="phenoconverted" if changed else None,
                    ),
                    html.Td(html.Small("; ".join(notes)) if notes else ""),
                ]
            )
        )
    return rows


def _drug_rows(drugs: list[dict[str, Any]]) -> list[Any]:
    def rank(g: dict[str, Any]) -> tuple[int, str]:
        actions = {r["action"] for r in g["recommendations"]}
        return (0 if actions - _QUIET else 1, g["drug"])

    rows = []
    for g in sorted(drugs, key=rank):
        response = g.get("response")
        estimate = (
            f"{response['response_probability']:.0%} response, "
            f"{response['adverse_event_probability']:.0%} adverse events "
            f"({response['source'].replace('_', ' ')}; research-grade)"
            if response
            else ""
        )
        lookup = ", ".join(f"{k}: {v or 'missing'}" for k, v in g["phenotypes"].items())
        # Every population with its name: a child must not read the adult dosing.
        advice = []
        for r in g["recommendations"]:
            basis = (
                unescape(r["text"])
                if r.get("text")
                else "Action class from the CPIC table; CPIC's wording is not shipped."
            )
            advice += [
                html.Strong(f"{r['population']}: {_ACTIONS[r['action']]}"),
                html.Br(),
                html.Small(basis),
                html.Br(),
            ]
        advice += [html.Small(html.Em(n)) for n in g.get("notes", [])]
        actionable = any(r["action"] not in _QUIET for r in g["recommendations"])
        strengths = ", ".join(sorted({r.get("strength") or "-" for r in g["recommendations"]}))
        rows.append(
            html.Tr(
                [
                    html.Td(g["drug"]),
                    html.Td(advice),
                    html.Td(lookup + (" (after co-medication)" if g["phenoconverted"] else "")),
                    html.Td(strengths),
                    html.Td(html.Small("; ".join(g.get("citations", [])[:2]))),
                    html.Td(html.Small(estimate)),
                ],
                className="actionable" if actionable else None,
            )
        )
    return rows


def pgx_panel(api: ClarityClient, patient_id: str) -> html.Section | None:
    """Build the PGx panel, or None when the PGx service has no result for the patient.

    Parameters
    ----------
    api
        The signed-in client.
    patient_id
        The patient.

    Returns
    -------
    dash.html.Section or None
        A gene table and a drug table.
    """
    try:
        # The API's report already holds the newest result set (one inputs, one producer).
        report = api.pgx_report(patient_id)
    except ApiError as error:
        if error.status in (404, 409):  # no results yet, or no genomic consent
            return None
        raise
    genes, drugs = report["genes"], report["drugs"]
    producer = report["producer"] or {"model_name": "-", "model_version": "-"}
    head = ("Gene", "Diplotype", "Activity", "Phenotype", "With current medications", "Notes")
    drug_head = ("Drug", "CPIC recommendation", "Phenotypes used", "Strength", "Citation", "Model")
    return html.Section(
        [
            html.H3("Pharmacogenomics"),
            html.Table(
                [
                    html.Thead(html.Tr([html.Th(h, scope="col") for h in head])),
                    html.Tbody(_gene_rows(genes)),
                ],
                className="table",
                id="pgx-genes",
            ),
            html.Table(
                [
                    html.Thead(html.Tr([html.Th(h, scope="col") for h in drug_head])),
                    html.Tbody(_drug_rows(drugs)),
                ],
                className="table",
                id="pgx-drugs",
            ),
            html.P(
                f"CPIC guidance is the clinical output. Response estimates: model "
                f"{producer['model_name']} v{producer['model_version']}, research-grade "
                "(trained on synthetic patients).",
                className="caption",
            ),
        ],
        className="panel wide",
        id="panel-pgx",
        title="Pharmacogenomics",
    )

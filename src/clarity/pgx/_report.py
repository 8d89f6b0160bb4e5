"""The patient PGx report, as JSON and as a standalone HTML page.

It shows, per gene, the diplotype, activity score, the genotype phenotype and
the phenotype after co-medication with the reason, the loci that were missing
and any conflict; and per drug, each CPIC recommendation with its strength,
evidence level and citation. The response model's estimates are labelled
research-grade wherever they appear.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from clarity.contracts import PGxGuidance, PGxPhenotype

__all__ = ["report_html", "report_json"]

_ACTION_LABELS = {
    "standard_dose": "Standard dose",
    "reduce_starting_dose": "Reduce starting dose",
    "dose_cap": "Dose cap / reduced maintenance dose",
    "increase_dose": "Increase dose / titrate to effect",
    "avoid": "Avoid",
    "use_alternative": "Use an alternative",
    "no_recommendation": "No recommendation",
    "indeterminate": "Indeterminate (phenotype unknown)",
}


def report_json(
    patient_id: str,
    phenotypes: Mapping[str, PGxPhenotype],
    guidance: Sequence[PGxGuidance],
    *,
    generated_at: datetime | None = None,
    producer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the report as a JSON-ready dictionary.

    Parameters
    ----------
    patient_id
        Pseudonymous patient id.
    phenotypes
        Gene to phenotype payload.
    guidance
        One payload per drug.
    generated_at
        Time stamp of the report; now when omitted.
    producer
        Lineage of the result set (the bus records' producer), when known.

    Returns
    -------
    dict
        ``patient_id``, ``generated_at``, ``producer``, ``genes`` and ``drugs``.
    """
    when = generated_at or datetime.now(UTC)
    return {
        "patient_id": patient_id,
        "generated_at": when.isoformat(),
        "producer": dict(producer) if producer is not None else None,
        "genes": [phenotypes[g].model_dump(mode="json") for g in sorted(phenotypes)],
        "drugs": [g.model_dump(mode="json") for g in sorted(guidance, key=lambda g: g.drug)],
        "notice": (
            "CPIC guidance is the clinical output. Drug-response estimates come from a "
            "research-grade model trained on synthetic patients and must not guide treatment."
        ),
    }


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _gene_rows(phenotypes: Mapping[str, PGxPhenotype]) -> str:
    rows = []
    for gene in sorted(phenotypes):
        p = phenotypes[gene]
        diplotype = " or ".join(p.diplotypes) if p.diplotypes else "not called"
        adjusted = p.adjusted_phenotype
        if p.phenoconversion:
            adjusted = f"{adjusted} <small>({_e(p.phenoconversion)})</small>"
        else:
            adjusted = _e(adjusted)
        notes = [*p.conflicts, *p.messages]
        if p.missing_positions:
            notes.append(f"{len(p.missing_positions)} defined loci missing")
        rows.append(
            "<tr>"
            f"<td>{_e(gene)}{' (provisional)' if p.provisional else ''}</td>"
            f"<td>{_e(diplotype)}</td><td>{_e(p.source.value)}</td>"
            f"<td>{_e(p.activity_score)}</td><td>{_e(p.phenotype)}</td><td>{adjusted}</td>"
            f"<td>{'<br>'.join(_e(n) for n in notes)}</td>"
            "</tr>"
        )
    return "\n".join(rows)


def _drug_rows(guidance: Sequence[PGxGuidance]) -> str:
    rows = []
    for g in sorted(guidance, key=lambda g: g.drug):
        for r in g.recommendations:
            # CPIC's wording keeps HTML entities (e.g. "&lt;200 ng/mL"): show the characters.
            text = (
                _e(html.unescape(r.text))
                if r.text
                else "<i>wording not shipped; see the citation</i>"
            )
            lookup = ", ".join(f"{k}: {v or 'missing'}" for k, v in g.phenotypes.items())
            response = ""
            if g.response is not None:
                response = (
                    f"{g.response.response_probability:.0%} response, "
                    f"{g.response.adverse_event_probability:.0%} adverse events "
                    f"({_e(g.response.source.value)}; research-grade)"
                )
            rows.append(
                "<tr>"
                f"<td>{_e(g.drug)}</td><td>{_e(r.population)}</td><td>{_e(lookup)}</td>"
                f"<td><b>{_e(_ACTION_LABELS[r.action.value])}</b><br>{text}</td>"
                f"<td>{_e(r.strength)}</td><td>{_e(r.evidence_level)}</td>"
                f"<td>{_e('; '.join(g.citations))}</td><td>{response}</td>"
                "</tr>"
            )
    return "\n".join(rows)


def report_html(
    patient_id: str,
    phenotypes: Mapping[str, PGxPhenotype],
    guidance: Sequence[PGxGuidance],
    *,
    generated_at: datetime | None = None,
) -> str:
    """Return the report as a standalone HTML page (no scripts, no remote assets).

    Parameters
    ----------
    patient_id, phenotypes, guidance, generated_at
        As for :func:`report_json`.

    Returns
    -------
    str
        The page.
    """
    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;"
        "width:100%;margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px;vertical-align:top;"
        "text-align:left;font-size:0.9em}th{background:#eef}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>PGx report {_e(patient_id)}</title>
<style>{style}</style></head><body>
<h1>Pharmacogenomic report</h1>
<p>Patient {_e(patient_id)} &middot; generated {_e(when)}</p>
<h2>Genes</h2>
<table><tr><th>Gene</th><th>Diplotype</th><th>Source</th><th>Activity score</th>
<th>Phenotype (genotype)</th><th>Phenotype (with current medications)</th><th>Notes</th></tr>
{_gene_rows(phenotypes)}
</table>
<h2>Drugs (CPIC)</h2>
<table><tr><th>Drug</th><th>Population</th><th>Phenotypes used</th><th>Recommendation</th>
<th>Strength</th><th>Level</th><th>Citation</th><th>Response model</th></tr>
{_drug_rows(guidance)}
</table>
<p><small>CPIC guidance is the clinical output. Drug-response estimates come from a
research-grade model trained on synthetic patients and must not guide treatment.</small></p>
</body></html>
"""

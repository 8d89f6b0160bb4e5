"""Pharmacogenomic lab reports: one row per patient and gene call."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from functools import cache

from pydantic import ValidationError

from clarity.contracts import GeneCall, PGxPanelResult
from clarity.errors import FieldError
from clarity.ingest._core import (
    Accepted,
    Item,
    ReadContext,
    Rejected,
    content_digest,
    rejection_from,
)
from clarity.ingest._csv import read_rows
from clarity.reference import PHARMCAT_GENES, allele_definitions

__all__ = ["KNOWN_GENES", "read_pgx_panel"]

KNOWN_GENES = (*PHARMCAT_GENES, "HLA-A", "HLA-B")
"""Genes whose calls Clarity accepts from a lab panel."""

_HLA = re.compile(r"^\*\d{2,3}:\d{2,3}(:\d{2,3}){0,2}[A-Z]?$")
_ID_COLUMNS = ("patient_id", "participant_id", "subject_id")


@cache
def _alleles(gene: str) -> frozenset[str]:
    names = {a["name"] for a in allele_definitions(gene)["namedAlleles"]}
    if gene == "CYP2D6":
        names |= {"*5", "*13", "*36", "*68"}  # structural alleles, called from copy number
    return frozenset(names)


def _check_allele(gene: str, allele: str) -> None:
    if gene.startswith("HLA-"):
        if not _HLA.match(allele):
            raise ValueError(f"diplotype: {allele!r} is not an HLA allele such as *15:02")
        return
    base = allele.split("x")[0]
    copies = allele.partition("x")[2]
    if base not in _alleles(gene) or (copies and copies not in ("2", "3", "4", "N")):
        raise ValueError(f"diplotype: {allele!r} is not a known {gene} allele")


def read_pgx_panel(context: ReadContext) -> Iterator[Item]:
    """Read a PGx panel report, one row per gene call.

    Columns: patient_id, gene, diplotype, and optional phenotype, activity_score,
    lab, test, reported_date. Rows of one patient, lab, test and date make one
    panel result. A row with an unknown gene or allele rejects that call; the
    patient's other calls are still ingested.

    Parameters
    ----------
    context
        The file and how to name its records.

    Yields
    ------
    Accepted or Rejected
        One per panel, and one per refused row.
    """
    panels: dict[tuple[str, str, str, str], list[tuple[int, GeneCall, str]]] = {}
    for number, row, line in read_rows(context.path):
        location = f"line {number}"
        patient = next((row[c] for c in _ID_COLUMNS if row.get(c)), None) or context.patient
        gene = row.get("gene", "").upper()
        try:
            if not patient:
                raise ValueError("patient_id: missing")
            if gene not in KNOWN_GENES:
                raise ValueError(f"gene: {gene!r} is not one of {', '.join(KNOWN_GENES)}")
            diplotype = row.get("diplotype", "")
            if diplotype.count("/") != 1:
                raise ValueError(f"diplotype: {diplotype!r} is not two alleles separated by '/'")
            for allele in diplotype.split("/"):
                _check_allele(gene, allele)
            score_text = row.get("activity_score", "")
            try:
                score = float(score_text) if score_text else None
            except ValueError:
                raise ValueError(f"activity_score: {score_text!r} is not a number") from None
            call = GeneCall(
                gene=gene,
                diplotype=diplotype,
                phenotype=row.get("phenotype") or None,
                activity_score=score,
            )
            reported = row.get("reported_date", "")
            if reported:
                try:
                    date.fromisoformat(reported)
                except ValueError:
                    raise ValueError(
                        f"reported_date: {reported!r} is not a date (YYYY-MM-DD)"
                    ) from None
        except ValidationError as error:
            yield rejection_from(error, location, line.encode(), topic="ingest.pgx")
            continue
        except ValueError as error:
            field, _, reason = str(error).partition(": ")
            yield Rejected(
                location=location,
                reason=str(error),
                original=line.encode(),
                topic="ingest.pgx",
                errors=(FieldError(field if reason else "", reason or str(error)),),
                patient_id=context.pseudonym(patient) if patient else None,
            )
            continue
        key = (patient, row.get("lab") or "unknown lab", row.get("test") or "PGx panel", reported)
        earlier = next((n for n, c, _ in panels.get(key, []) if c.gene == gene), None)
        if earlier is not None:
            yield Rejected(
                location=location,
                reason=f"gene: {gene} is called again in the same report (first at line {earlier})",
                original=line.encode(),
                topic="ingest.pgx",
                errors=(FieldError("gene", "repeated call", "duplicate"),),
                patient_id=context.pseudonym(patient),
            )
            continue
        panels.setdefault(key, []).append((number, call, line))
    for (patient, lab, test, reported), calls in panels.items():
        lines = [n for n, _, _ in calls]
        location = f"lines {min(lines)}-{max(lines)}" if len(lines) > 1 else f"line {lines[0]}"
        try:
            payload = PGxPanelResult(lab=lab, panel=test, calls=[c for _, c, _ in calls])
        except ValidationError as error:
            yield rejection_from(
                error,
                location,
                "\n".join(t for _, _, t in calls).encode(),
                topic="ingest.pgx",
                patient_id=context.pseudonym(patient),
            )
            continue
        when = (
            datetime.combine(date.fromisoformat(reported), time(12), tzinfo=UTC)
            if reported
            else context.now
        )
        yield Accepted(
            context.envelope(
                reader="pgx-panel",
                topic="ingest.pgx",
                source_patient=patient,
                observed_at=when,
                locator=location,
                identity=(lab, test, reported, content_digest("\n".join(t for _, _, t in calls))),
                payload=payload,
            )
        )

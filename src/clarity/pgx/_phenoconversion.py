"""Phenoconversion: current medications that inhibit an enzyme change the phenotype.

PharmCAT reports the genotype's phenotype only; a CYP2D6 normal metaboliser
who takes fluoxetine behaves as a poor one. The inhibitor table is data
(``data/inhibitors.json``) with its source. Only the strongest inhibitor
counts: inhibitors do not compound below zero, and a second moderate one is
not evidence of a strong effect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from clarity.pgx._phenotype import INDETERMINATE, phenotype_from_activity

__all__ = ["Conversion", "convert", "inhibitor_table"]

_LADDER = (
    "Poor Metabolizer",
    "Intermediate Metabolizer",
    "Normal Metabolizer",
    "Rapid Metabolizer",
    "Ultrarapid Metabolizer",
)


@cache
def inhibitor_table() -> dict[str, Any]:
    """Return the inhibitor table with its version and source."""
    text = files("clarity.pgx").joinpath("data/inhibitors.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


@dataclass(frozen=True)
class Conversion:
    """The phenotype after co-medication, and why.

    Parameters
    ----------
    phenotype
        The phenotype after co-medication; the genotype's phenotype, unchanged,
        when no inhibitor is taken.
    activity_score
        The activity score after co-medication (the genotype's times the
        inhibitor's multiplier); None where the gene or the step down has none.
    inhibitors
        The ingredients of the current medications that inhibit the gene at
        ``strength``, sorted; empty when none does.
    strength
        ``"strong"`` or ``"moderate"``, the strongest inhibition found; None
        when no inhibitor is taken.
    reason
        Why the phenotype changed, naming the inhibitors; None when it did not.
    """

    phenotype: str
    activity_score: float | None
    inhibitors: tuple[str, ...]
    strength: str | None  # "strong", "moderate" or None
    reason: str | None


def _ingredients(medications: Iterable[str]) -> set[str]:
    """Return the words of each medication as coded ("Fluoxetine 20 MG Oral Capsule")."""
    return {w for m in medications for w in re.findall(r"[a-z]+", m.lower())}


def _strongest(gene: str, medications: Iterable[str]) -> tuple[str | None, tuple[str, ...]]:
    table = inhibitor_table()["inhibitors"].get(gene, {})
    words = _ingredients(medications)
    for strength in ("strong", "moderate"):
        found = tuple(sorted(words & set(table.get(strength, ()))))
        if found:
            return strength, found
    return None, ()


def convert(
    gene: str, phenotype: str, activity_score: float | None, medications: Iterable[str]
) -> Conversion:
    """Return the phenotype adjusted for the patient's current medications.

    Parameters
    ----------
    gene
        The enzyme's gene.
    phenotype, activity_score
        The genotype's phenotype and activity score (None where the gene has none).
    medications
        Generic names of the drugs the patient takes now.

    Returns
    -------
    Conversion
        Unchanged, with no reason, when no listed inhibitor is taken.

    Examples
    --------
    >>> c = convert("CYP2D6", "Normal Metabolizer", 2.0, ["fluoxetine"])
    >>> c.phenotype, c.activity_score
    ('Poor Metabolizer', 0.0)
    """
    strength, found = _strongest(gene, medications)
    if strength is None:
        return Conversion(phenotype, activity_score, (), None, None)
    multiplier = float(inhibitor_table()["multipliers"][strength])
    drugs = ", ".join(found)
    scored = gene in ("CYP2D6", "CYP2C9")
    if strength == "strong":
        # Multiplying by zero needs no genotype: even an indeterminate one ends at zero.
        reason = f"{drugs}: strong {gene} inhibitor; activity x 0"
        return Conversion("Poor Metabolizer", 0.0 if scored else None, found, strength, reason)
    if activity_score is not None and scored:
        adjusted = activity_score * multiplier
        new = phenotype_from_activity(gene, adjusted)
        reason = (
            f"{drugs}: {strength} {gene} inhibitor; activity score {activity_score:g} x "
            f"{multiplier:g} = {adjusted:g}"
        )
        return Conversion(new, adjusted, found, strength, reason)
    # CPIC applies the IM/PM guidance to "Likely" phenotypes; so does the step down.
    phenotype = phenotype.removeprefix("Likely ")
    ladder = _LADDER if gene != "CYP2D6" else tuple(p for p in _LADDER if p != _LADDER[3])
    if phenotype not in ladder:
        reason = f"{drugs}: {strength} {gene} inhibitor; the genotype phenotype is {phenotype}"
        return Conversion(INDETERMINATE, None, found, strength, reason)
    new = ladder[max(0, ladder.index(phenotype) - 1)]
    reason = f"{drugs}: moderate {gene} inhibitor, which moves the phenotype one step down"
    return Conversion(new, None, found, strength, reason)

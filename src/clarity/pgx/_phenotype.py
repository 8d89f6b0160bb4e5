"""From a diplotype to allele function, activity score and metaboliser phenotype.

CYP2C19 and CYP2B6 use CPIC's diplotype-to-phenotype tables (function pairs);
CYP2C9 and CYP2D6 use activity scores: the sum of the alleles' activity values,
counted once per copy. CYP2D6's cut-offs are CPIC's (2019 consensus): poor 0,
intermediate 0.25-1, normal 1.25-2.25, ultrarapid above 2.25.

HLA calls give carrier status of the alleles that CPIC guidance uses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from clarity.errors import InputError
from clarity.reference import phenotype_table

__all__ = [
    "HLA_ALLELES",
    "INDETERMINATE",
    "PHENOTYPES",
    "AllelePhenotype",
    "GenePhenotype",
    "allele_function",
    "cyp2d6_activity_table",
    "hla_status",
    "normalise_phenotype",
    "phenotype_from_activity",
    "phenotype_of_diplotype",
    "split_copies",
]

INDETERMINATE = "Indeterminate"
_PM, _IM, _NM, _RM, _UM = (
    "Poor Metabolizer",
    "Intermediate Metabolizer",
    "Normal Metabolizer",
    "Rapid Metabolizer",
    "Ultrarapid Metabolizer",
)
PHENOTYPES: dict[str, tuple[str, ...]] = {
    "CYP2D6": (_PM, _IM, _NM, _UM, INDETERMINATE),
    "CYP2C19": (
        _PM,
        "Likely Poor Metabolizer",
        _IM,
        "Likely Intermediate Metabolizer",
        _NM,
        _RM,
        _UM,
        INDETERMINATE,
    ),
    "CYP2C9": (_PM, _IM, _NM, INDETERMINATE),
    "CYP2B6": (_PM, _IM, _NM, _RM, _UM, INDETERMINATE),
}
"""The phenotypes CPIC defines for each gene."""
HLA_ALLELES = {"HLA-A": ("*31:01",), "HLA-B": ("*15:02", "*57:01", "*58:01")}
"""HLA alleles whose carrier status Clarity reports (PharmCAT reports the same)."""

_FUNCTION_PHENOTYPE_GENES = ("CYP2C19", "CYP2B6")


@dataclass(frozen=True)
class AllelePhenotype:
    """One allele's function and activity value (None where CPIC gives none)."""

    name: str
    function: str | None
    activity: float | None


@dataclass(frozen=True)
class GenePhenotype:
    """A diplotype's phenotype, with the activity score where the gene uses one.

    Parameters
    ----------
    gene
        The gene symbol, e.g. ``"CYP2D6"``.
    diplotype
        The diplotype as ``allele1/allele2``, e.g. ``"*1/*4"``.
    phenotype
        CPIC's phenotype name (one of :data:`PHENOTYPES` for the gene), or
        ``"Indeterminate"`` where an allele's function is unknown or uncertain.
    activity_score
        The sum of the two alleles' activity values (copies counted) for
        CYP2C9 and CYP2D6; None for the other genes and when indeterminate.
    alleles
        Each allele's function and activity value, in diplotype order.
    note
        Why the call is qualified (a CYP2D6 copy number given as ``xN``);
        None when it is not.
    """

    gene: str
    diplotype: str
    phenotype: str
    activity_score: float | None
    alleles: tuple[AllelePhenotype, AllelePhenotype]
    note: str | None = None


@cache
def cyp2d6_activity_table() -> dict[str, Any]:
    """Return the CYP2D6 activity-value table shipped with Clarity, with its source."""
    text = files("clarity.pgx").joinpath("data/cyp2d6_activity.json").read_text("utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def split_copies(allele: str) -> tuple[str, int]:
    """Split ``*2x2`` into ``("*2", 2)``; ``xN`` (unknown count) counts as 2."""
    found = re.fullmatch(r"(\*\d+[A-Z]?(?:\.\d+)?)(?:x(\d+|N))?", allele)
    if not found:
        return allele, 1
    copies = found.group(2)
    return found.group(1), 1 if copies is None else 2 if copies == "N" else int(copies)


def _activity_value(gene: str, base: str) -> float | None:
    if gene == "CYP2D6":
        value = cyp2d6_activity_table()["activity"].get(base)
        return None if value is None else float(value)
    if gene == "CYP2C9":
        raw = phenotype_table(gene)["activityValues"].get(base)
        return None if raw in (None, "n/a") else float(raw)
    return None


def allele_function(gene: str, allele: str) -> AllelePhenotype:
    """Return an allele's function and activity value (copies counted).

    Examples
    --------
    >>> allele_function("CYP2D6", "*2x2").activity
    2.0
    >>> allele_function("CYP2C19", "*17").function
    'Increased function'
    """
    base, copies = split_copies(allele)
    activity = _activity_value(gene, base)
    if gene == "CYP2D6":
        # The label follows one copy's value: two decreased copies are still decreased.
        function = (
            None
            if activity is None
            else "No function"
            if activity == 0
            else "Decreased function"
            if activity < 1
            else "Increased function"
            if copies > 1
            else "Normal function"
        )
    else:
        function = phenotype_table(gene)["haplotypes"].get(base)
    return AllelePhenotype(allele, function, None if activity is None else activity * copies)


def phenotype_from_activity(gene: str, score: float) -> str:
    """Return the metaboliser phenotype of an activity score (CYP2D6 or CYP2C9).

    Examples
    --------
    >>> phenotype_from_activity("CYP2D6", 1.0)
    'Intermediate Metabolizer'
    >>> phenotype_from_activity("CYP2D6", 3.0)
    'Ultrarapid Metabolizer'
    """
    if gene == "CYP2D6":
        if score == 0:
            return "Poor Metabolizer"
        if score <= 1.0:
            return "Intermediate Metabolizer"
        if score <= 2.25:
            return "Normal Metabolizer"
        return "Ultrarapid Metabolizer"
    if gene == "CYP2C9":
        if score <= 0.5:
            return "Poor Metabolizer"
        if score <= 1.5:
            return "Intermediate Metabolizer"
        return "Normal Metabolizer"
    raise ValueError(f"{gene} has no activity score")


@cache
def _diplotype_index(gene: str) -> dict[tuple[tuple[str, int], ...], str]:
    return {
        tuple(sorted((k, int(v)) for k, v in row["diplotypekey"].items())): row["generesult"]
        for row in phenotype_table(gene)["diplotypes"]
    }


def phenotype_of_diplotype(gene: str, allele1: str, allele2: str) -> GenePhenotype:
    """Return the phenotype of one diplotype.

    Parameters
    ----------
    gene
        ``CYP2B6``, ``CYP2C19``, ``CYP2C9`` or ``CYP2D6``.
    allele1, allele2
        Star alleles; CYP2D6 may carry copies (``*1x2``).

    Returns
    -------
    GenePhenotype
        ``Indeterminate`` where an allele's function is unknown or uncertain.

    Examples
    --------
    >>> phenotype_of_diplotype("CYP2C19", "*2", "*2").phenotype
    'Poor Metabolizer'
    >>> phenotype_of_diplotype("CYP2D6", "*1", "*4").activity_score
    1.0
    """
    if gene not in ("CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6"):
        raise ValueError(
            "Invalid value for the 'gene' parameter. Allowed values are 'CYP2B6', 'CYP2C19', "
            f"'CYP2C9' and 'CYP2D6', but got {gene!r} instead."
        )
    first, second = allele_function(gene, allele1), allele_function(gene, allele2)
    diplotype = f"{allele1}/{allele2}"
    if gene in _FUNCTION_PHENOTYPE_GENES:
        key: dict[str, int] = {}
        for allele in (allele1, allele2):
            key[allele] = key.get(allele, 0) + 1
        phenotype = _diplotype_index(gene).get(tuple(sorted(key.items())), INDETERMINATE)
        return GenePhenotype(gene, diplotype, phenotype, None, (first, second))
    if first.activity is None or second.activity is None:
        return GenePhenotype(gene, diplotype, INDETERMINATE, None, (first, second))
    score = first.activity + second.activity
    phenotype = phenotype_from_activity(gene, score)
    unknown_copies = [a for a in (allele1, allele2) if a.endswith("xN")]
    if unknown_copies:
        # "xN" is at least two copies; a third may change the phenotype.
        extra = sum(
            allele_function(gene, a.removesuffix("xN")).activity or 0.0 for a in unknown_copies
        )
        upper = phenotype_from_activity(gene, score + extra)
        if upper != phenotype:
            note = (
                f"{', '.join(unknown_copies)}: copy number unknown; 2 copies give {phenotype} "
                f"(score {score:g}), 3 give {upper}: phenotype Indeterminate"
            )
            return GenePhenotype(gene, diplotype, INDETERMINATE, None, (first, second), note)
        note = f"{', '.join(unknown_copies)}: copy number unknown; {phenotype} at 2 or more copies"
        return GenePhenotype(gene, diplotype, phenotype, score, (first, second), note)
    return GenePhenotype(gene, diplotype, phenotype, score, (first, second))


def normalise_phenotype(gene: str, text: str) -> str:
    """Return CPIC's name of a reported phenotype (``"pm"`` and ``"poor metabolizer"`` alike).

    Raises
    ------
    InputError
        When the phenotype is not one CPIC defines for the gene.
    """
    allowed = PHENOTYPES.get(gene)
    if allowed is None:
        raise InputError(f"{gene}: Clarity reads no metaboliser phenotype for this gene")
    short = {"PM": _PM, "IM": _IM, "NM": _NM, "RM": _RM, "UM": _UM}
    wanted = short.get(text.strip().upper(), text.strip())
    for name in allowed:
        if name.lower() == wanted.lower().replace("metaboliser", "metabolizer"):
            return name
    raise InputError(
        f"{gene} phenotype {text!r} is not one CPIC defines for {gene}; allowed: "
        + ", ".join(repr(a) for a in allowed)
    )


def hla_status(gene: str, diplotype: str) -> dict[str, str]:
    """Return carrier status (``positive``/``negative``) of the reported HLA alleles.

    Parameters
    ----------
    gene
        ``"HLA-A"`` or ``"HLA-B"``.
    diplotype
        The HLA diplotype, two alleles separated by ``/`` (e.g.
        ``"*15:02/*57:01"``); fields past the second are ignored.

    Returns
    -------
    dict
        Each allele of :data:`HLA_ALLELES` for the gene to ``"positive"``
        when the diplotype carries it, else ``"negative"``.

    Raises
    ------
    InputError
        If ``gene`` is not one Clarity reports on.

    Examples
    --------
    >>> hla_status("HLA-B", "*15:02/*57:01")
    {'*15:02': 'positive', '*57:01': 'positive', '*58:01': 'negative'}
    """
    if gene not in HLA_ALLELES:
        raise InputError(f"{gene} is not an HLA gene Clarity reports on (HLA-A, HLA-B)")
    alleles = diplotype.split("/")
    # Two-field resolution decides carriage; extra fields (e.g. *15:02:01) still carry it.
    carried = {":".join(a.split(":")[:2]) for a in alleles}
    return {a: "positive" if a in carried else "negative" for a in HLA_ALLELES[gene]}

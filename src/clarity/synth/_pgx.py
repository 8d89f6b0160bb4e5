"""Pharmacogene diplotypes drawn from population frequencies, and their VCF calls.

Allele frequencies are rounded from the CPIC allele-frequency tables
(cpicpgx.org, "<GENE> frequency table", biogeographic groups), restricted to the
alleles common enough to matter in a cohort of a thousand; the remainder of
each group is the normal-function reference allele. They drive the simulation;
the ground truth records exactly what was drawn, so nothing depends on these
numbers being current.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clarity.reference import allele_definitions

__all__ = [
    "ACTIVITY",
    "FREQUENCIES",
    "PGX_GENES",
    "PHENOTYPE_NAMES",
    "PgxCall",
    "draw_pgx",
    "phenotype_of",
    "vcf_alleles",
]

PGX_GENES = ("CYP2D6", "CYP2C19", "CYP2B6", "CYP2C9")

# Allele -> frequency, per CPIC biogeographic group (ours: three groups simulated).
FREQUENCIES: dict[str, dict[str, dict[str, float]]] = {
    "CYP2D6": {
        "european": {
            "*2": 0.27,
            "*4": 0.185,
            "*41": 0.09,
            "*5": 0.03,
            "*9": 0.027,
            "*3": 0.013,
            "*6": 0.011,
            "*10": 0.016,
            "*1x2": 0.01,
            "*2x2": 0.01,
        },
        "east_asian": {
            "*10": 0.43,
            "*2": 0.13,
            "*5": 0.06,
            "*41": 0.02,
            "*1x2": 0.005,
            "*4": 0.005,
        },
        "sub_saharan_african": {
            "*17": 0.19,
            "*29": 0.09,
            "*2": 0.17,
            "*4": 0.03,
            "*5": 0.06,
            "*10": 0.04,
            "*2x2": 0.03,
            "*41": 0.02,
        },
    },
    "CYP2C19": {
        "european": {"*2": 0.147, "*3": 0.002, "*17": 0.215},
        "east_asian": {"*2": 0.284, "*3": 0.089, "*17": 0.015},
        "sub_saharan_african": {"*2": 0.152, "*3": 0.003, "*17": 0.235},
    },
    "CYP2B6": {
        "european": {"*6": 0.24, "*5": 0.1, "*4": 0.03, "*9": 0.01},
        "east_asian": {"*6": 0.18, "*4": 0.05, "*5": 0.01},
        "sub_saharan_african": {"*6": 0.36, "*18": 0.06, "*5": 0.02},
    },
    "CYP2C9": {
        "european": {"*2": 0.127, "*3": 0.076},
        "east_asian": {"*3": 0.034},
        "sub_saharan_african": {"*2": 0.01, "*3": 0.01, "*8": 0.05, "*11": 0.02},
    },
}
PHENOTYPE_NAMES = {
    "PM": "Poor Metabolizer",
    "IM": "Intermediate Metabolizer",
    "NM": "Normal Metabolizer",
    "RM": "Rapid Metabolizer",
    "UM": "Ultrarapid Metabolizer",
}
"""How labs write each phenotype."""

_REFERENCE = {"CYP2D6": "*1", "CYP2C19": "*1", "CYP2B6": "*1", "CYP2C9": "*1"}

# Activity value per allele (CPIC): CYP2D6 and CYP2C9 by activity score;
# CYP2C19 and CYP2B6 by function (2 = increased, 1 = normal, 0.5 = decreased, 0 = none).
ACTIVITY: dict[str, dict[str, float]] = {
    "CYP2D6": {
        "*1": 1,
        "*2": 1,
        "*3": 0,
        "*4": 0,
        "*5": 0,
        "*6": 0,
        "*9": 0.5,
        "*10": 0.25,
        "*17": 0.5,
        "*29": 0.5,
        "*41": 0.5,
    },
    "CYP2C9": {"*1": 1, "*2": 0.5, "*3": 0, "*8": 0.5, "*11": 0.5},
    "CYP2C19": {"*1": 1, "*2": 0, "*3": 0, "*17": 2},
    "CYP2B6": {"*1": 1, "*4": 2, "*5": 1, "*6": 0.5, "*9": 0.5, "*18": 0},
}


@dataclass(frozen=True)
class PgxCall:
    """One simulated gene call with its true phenotype."""

    gene: str
    allele1: str
    allele2: str
    activity_score: float
    phenotype: str

    @property
    def diplotype(self) -> str:
        """The diplotype as labs write it, e.g. ``*1/*4``."""
        return f"{self.allele1}/{self.allele2}"


def _allele_activity(gene: str, allele: str) -> float:
    base, _, copies = allele.partition("x")
    return ACTIVITY[gene][base] * (int(copies) if copies else 1)


def phenotype_of(gene: str, allele1: str, allele2: str) -> tuple[float, str]:
    """Return the activity score and metaboliser phenotype of a diplotype.

    Parameters
    ----------
    gene
        One of :data:`PGX_GENES`.
    allele1, allele2
        Star alleles, e.g. ``"*1"`` or ``"*2x2"`` (a duplication).

    Returns
    -------
    tuple
        Activity score (sum over alleles) and phenotype: ``"PM"``, ``"IM"``,
        ``"NM"``, ``"RM"`` or ``"UM"``.

    Examples
    --------
    >>> phenotype_of("CYP2D6", "*4", "*10")
    (0.25, 'IM')
    >>> phenotype_of("CYP2C19", "*1", "*17")
    (3.0, 'RM')
    """
    a1, a2 = _allele_activity(gene, allele1), _allele_activity(gene, allele2)
    score = float(a1 + a2)
    if gene == "CYP2D6":
        label = "PM" if score == 0 else "IM" if score <= 1 else "NM" if score <= 2.25 else "UM"
    elif gene == "CYP2C9":
        label = "PM" if score <= 0.5 else "IM" if score <= 1.5 else "NM"
    else:  # function-pair rules of CYP2C19 and CYP2B6
        low = min(a1, a2)
        if score == 0 or (low == 0 and max(a1, a2) <= 0.5) or (a1 == a2 == 0.5):
            label = "PM"
        elif low == 0 or low == 0.5:
            label = "IM"
        elif a1 == a2 == 2:
            label = "UM"
        elif score > 2:
            label = "RM"
        else:
            label = "NM"
    return score, label


def draw_pgx(rng: np.random.Generator, ancestry: str) -> list[PgxCall]:
    """Draw a diplotype of every pharmacogene for a person of the given group.

    Parameters
    ----------
    rng
        Random generator.
    ancestry
        ``"european"``, ``"east_asian"`` or ``"sub_saharan_african"``.

    Returns
    -------
    list of PgxCall
        One call per gene of :data:`PGX_GENES`, alleles in sorted order.
    """
    calls = []
    for gene in PGX_GENES:
        table = FREQUENCIES[gene][ancestry]
        alleles = [_REFERENCE[gene], *table]
        weights = np.array([1 - sum(table.values()), *table.values()])
        pair = sorted(
            (str(a) for a in rng.choice(alleles, size=2, p=weights / weights.sum())),
            key=lambda a: (int(a[1:].split("x")[0]), a),
        )
        score, label = phenotype_of(gene, pair[0], pair[1])
        calls.append(PgxCall(gene, pair[0], pair[1], score, label))
    return calls


_IUPAC = {
    "R": "AG",
    "Y": "CT",
    "S": "GC",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}


def vcf_alleles(gene: str, allele: str) -> dict[int, str] | None:
    """Return the VCF allele at each defining position of a named allele.

    Parameters
    ----------
    gene
        A gene with PharmCAT definitions.
    allele
        A star allele; structural ones (``*5``, ``x2``) return None, since a
        VCF of SNVs cannot carry them.

    Returns
    -------
    dict or None
        Position (GRCh38) to the allele written in the VCF, for every variant
        position of the gene; None for structural alleles. Definitions are in
        VCF space already (indels included); where one is an ambiguity code
        (either base defines the allele) the non-reference base is written,
        which is the allele's fullest form.
    """
    if "x" in allele or (gene == "CYP2D6" and allele == "*5"):
        return None
    definitions = allele_definitions(gene)
    named = {a["name"]: a for a in definitions["namedAlleles"]}
    alleles = named[allele]["alleles"]
    result = {}
    for variant, value in zip(definitions["variants"], alleles, strict=True):
        written = variant["ref"]
        if value in _IUPAC:
            written = next((b for b in _IUPAC[value] if b in variant["alts"]), written)
        elif value is not None and value in variant["alts"]:
            written = value
        result[variant["position"]] = written
    return result

"""CPIC recommendations for psychiatric drugs, looked up in versioned package data.

The recommendations live in ``clarity/pgx/data/cpic_guidance.json``; this module only
validates the caller's phenotypes and finds the matching rows. Keeping the guideline content
in data rather than code means a CPIC update is a reviewed data change with its own version
(``Recommendation.data_version``), and ``SOURCES_guidance.md`` next to the data says where
every row came from.

Only wording that could be checked against a source held offline is stored: rows copied from
PharmCAT's CPIC annotations carry the exact ``text``, ``implications`` and
``other_considerations``; every other row carries its action class, citation and guideline
only, with the text fields empty, because a paraphrase of a clinical guideline must never be
passed off as the guideline.

References
----------
.. [1] Bousman CA, et al. Clinical Pharmacogenetics Implementation Consortium (CPIC)
   Guideline for CYP2D6, CYP2C19, CYP2B6, SLC6A4, and HTR2A Genotypes and Serotonin Reuptake
   Inhibitor Antidepressants. Clin Pharmacol Ther. 2023. PMID 37032427.
.. [2] Hicks JK, et al. CPIC guideline for CYP2D6 and CYP2C19 genotypes and dosing of
   tricyclic antidepressants: 2016 update. Clin Pharmacol Ther. 2017. PMID 27997040.
.. [3] Brown JT, et al. CPIC Guideline for Cytochrome P450 (CYP)2D6 Genotype and Atomoxetine
   Therapy. Clin Pharmacol Ther. 2019. PMID 30801677.
.. [4] Phillips EJ, et al. CPIC Guideline for HLA Genotype and Use of Carbamazepine and
   Oxcarbazepine: 2017 Update. Clin Pharmacol Ther. 2018. PMID 29392710.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any

from clarity.errors import InputError

__all__ = [
    "Action",
    "Citation",
    "Recommendation",
    "guidance_drugs",
    "guidance_version",
    "guideline_genes",
    "recommend",
]

_DATA_FILE = "data/cpic_guidance.json"
_INDETERMINATE = "Indeterminate"
# Of the genes used here, only CYP2D6 has an activity score. Scores are not required to be
# multiples of 0.25: phenoconversion by an inhibitor multiplies them by 0.5 (e.g. 0.625).
_ACTIVITY_GENES = ("CYP2D6",)


class Action(StrEnum):
    """Class of prescribing action a CPIC recommendation asks for.

    The class is a coarse summary for sorting and alerting; the recommendation's ``text``
    (where present) is what a prescriber reads.
    """

    #: Initiate therapy with the recommended (label) dose.
    STANDARD_DOSE = "standard_dose"
    #: Start lower and/or titrate more slowly than for normal metabolizers.
    REDUCE_STARTING_DOSE = "reduce_starting_dose"
    #: Lower the maintenance dose (e.g. by 50 %) or cap the maximum dose.
    DOSE_CAP = "dose_cap"
    #: Titrate to a higher dose than usual, guided by response or drug levels.
    INCREASE_DOSE = "increase_dose"
    #: Do not use the drug (or avoid it unless it is warranted despite the risk).
    AVOID = "avoid"
    #: Consider a clinically appropriate alternative drug first.
    USE_ALTERNATIVE = "use_alternative"
    #: CPIC gives no recommendation for this phenotype (insufficient evidence).
    NO_RECOMMENDATION = "no_recommendation"
    #: The phenotypes given do not determine a recommendation.
    INDETERMINATE = "indeterminate"


@dataclass(frozen=True)
class Citation:
    """A publication a guideline rests on.

    Parameters
    ----------
    pmid : str
        PubMed identifier.
    title : str
        Title as PubMed gives it.
    journal : str
        Journal name as PubMed gives it.
    year : int
        Year of the journal issue.
    """

    pmid: str
    title: str
    journal: str
    year: int


@dataclass(frozen=True)
class Recommendation:
    """One CPIC recommendation for one drug, phenotype combination and population.

    Parameters
    ----------
    drug : str
        Drug name, lower case.
    genes : tuple of str
        Genes (for HLA, the alleles) the guideline uses for this drug.
    phenotypes : dict
        The phenotype used for the lookup, per gene; None where it was missing or
        indeterminate.
    action : Action
        Class of the prescribing action.
    strength : str or None
        CPIC classification of the recommendation ("Strong", "Moderate", "Optional" or
        "No recommendation"); None where it could not be verified offline.
    evidence_level : str or None
        Strongest CPIC level (e.g. "A") among the gene-drug pairs that informed this
        recommendation; None where no such level is recorded with confidence.
    population : str
        Population the recommendation applies to ("general", "adults", "pediatrics",
        "CBZ naive", ...).
    text : str or None
        Exact CPIC wording of the recommendation, without its "Other Considerations"
        part; None where the wording is not available offline.
    implications : tuple of str
        Exact CPIC wording of the phenotypic implications, one per gene; empty where
        not available offline.
    other_considerations : str or None
        Exact CPIC "Other Considerations" text, if any.
    citations : tuple of Citation
        Guideline publications.
    guideline : str
        Guideline name and version year.
    status : str
        "complete" when every gene had a phenotype; "partial" when a gene is missing but
        the recommendation follows from the others, as the CPIC tables allow;
        "no_recommendation" when the missing information leaves it undetermined (the
        action is then ``Action.INDETERMINATE``).
    missing_genes : tuple of str
        Genes of the guideline without a usable phenotype.
    data_version : str
        Version of the guidance data the recommendation was read from.
    """

    drug: str
    genes: tuple[str, ...]
    phenotypes: dict[str, str | None]
    action: Action
    strength: str | None
    evidence_level: str | None
    population: str
    text: str | None
    implications: tuple[str, ...]
    other_considerations: str | None
    citations: tuple[Citation, ...]
    guideline: str
    status: str
    missing_genes: tuple[str, ...]
    data_version: str


@dataclass(frozen=True)
class _Row:
    # Genes absent from ``match`` accept any phenotype, a missing one included.
    match: Mapping[str, frozenset[str | None]]
    activity_score: Mapping[str, tuple[float, float]]
    populations: tuple[str, ...]
    action: Action
    strength: str | None
    text: str | None
    implications: tuple[str, ...]
    other_considerations: str | None

    def matches(
        self,
        population: str,
        keys: Mapping[str, str | None],
        scores: Mapping[str, float | None],
    ) -> bool:
        if population not in self.populations:
            return False
        if any(keys[gene] not in allowed for gene, allowed in self.match.items()):
            return False
        for gene, (low, high) in self.activity_score.items():
            score = scores.get(gene)
            if score is None or not low <= score <= high:
                return False
        return True


@dataclass(frozen=True)
class _DrugGuidance:
    genes: tuple[str, ...]
    populations: tuple[str, ...]
    evidence_levels: Mapping[str, str | None]
    citations: tuple[Citation, ...]
    guideline: str
    rows: tuple[_Row, ...]


@dataclass(frozen=True)
class _Guidance:
    version: str
    vocabulary: Mapping[str, tuple[str, ...]]
    drugs: Mapping[str, _DrugGuidance]


def guidance_version() -> str:
    """Return the version of the CPIC guidance table (``data/cpic_guidance.json``)."""
    return _load().version


def guidance_drugs() -> tuple[str, ...]:
    """Return the drugs with CPIC guidance in the data, sorted.

    Returns
    -------
    tuple of str
        Drug names, lower case.

    Examples
    --------
    >>> from clarity.pgx._guidance import guidance_drugs
    >>> "sertraline" in guidance_drugs()
    True
    """
    return tuple(_load().drugs)


def guideline_genes(drug: str) -> tuple[str, ...]:
    """Return the genes the CPIC guideline uses for a drug.

    Parameters
    ----------
    drug : str
        Drug name, lower case, one of :func:`guidance_drugs`.

    Returns
    -------
    tuple of str
        Gene names; for HLA genes, the alleles tested ("HLA-B*15:02", "HLA-A*31:01").

    Raises
    ------
    InputError
        If the drug is not covered.

    Examples
    --------
    >>> from clarity.pgx._guidance import guideline_genes
    >>> guideline_genes("amitriptyline")
    ('CYP2D6', 'CYP2C19')
    """
    return _drug_guidance(_load(), drug).genes


def recommend(
    drug: str,
    phenotypes: Mapping[str, str | None],
    activity_scores: Mapping[str, float | None] | None = None,
) -> list[Recommendation]:
    """Look up the CPIC recommendations for a drug given a patient's phenotypes.

    Parameters
    ----------
    drug : str
        Drug name, lower case, one of :func:`guidance_drugs`.
    phenotypes : Mapping
        Phenotype per gene. CYP genes take PharmCAT's labels ("Poor Metabolizer",
        "Intermediate Metabolizer", "Normal Metabolizer", "Rapid Metabolizer",
        "Ultrarapid Metabolizer", "Indeterminate"); "HLA-B*15:02" and "HLA-A*31:01" take
        "positive" or "negative". None, "Indeterminate" or an absent key mean the gene
        could not be called. Genes the drug's guideline does not use are validated and
        otherwise ignored, so one mapping can serve every drug.
    activity_scores : Mapping, optional
        CYP2D6 activity score. Atomoxetine's guideline splits intermediate metabolizers by
        it, and the exact CPIC wording for CYP2D6 intermediate metabolizers is keyed to a
        score (1.0). A score given without a CYP2D6 phenotype sets the phenotype (CPIC
        2019: 0 is poor, above 0 up to 1 intermediate, above 1 up to 2.25 normal, above 2.25
        ultrarapid); a score given with a phenotype must agree with it. Phenoconverted
        scores (e.g. 0.625) are accepted.

    Returns
    -------
    list of Recommendation
        One per population the guideline distinguishes (e.g. adults and pediatrics for
        atomoxetine), in the guideline's order.

    Raises
    ------
    InputError
        If the drug, a gene or a phenotype label is unknown, if an activity score is not a
        non-negative number, or if it contradicts the CYP2D6 phenotype given.

    Examples
    --------
    >>> from clarity.pgx._guidance import recommend
    >>> [rec] = recommend("citalopram", {"CYP2C19": "Poor Metabolizer"})
    >>> rec.action.value, rec.strength, rec.status
    ('use_alternative', 'Strong', 'complete')
    >>> [rec] = recommend("amitriptyline", {"CYP2D6": "Intermediate Metabolizer"})
    >>> rec.action.value, rec.status, rec.missing_genes, rec.text
    ('reduce_starting_dose', 'partial', ('CYP2C19',), None)
    """
    guidance = _load()
    entry = _drug_guidance(guidance, drug)
    _check_phenotypes(guidance, phenotypes)
    scores = _check_activity_scores(activity_scores)
    given = dict(phenotypes)
    for gene, score in scores.items():
        if score is not None:
            given[gene] = _phenotype_from_score(gene, score, given.get(gene))

    keys: dict[str, str | None] = {}
    for gene in entry.genes:
        value = given.get(gene)
        keys[gene] = None if value == _INDETERMINATE else value
    missing = tuple(gene for gene in entry.genes if keys[gene] is None)
    levels = sorted(
        level
        for gene, level in entry.evidence_levels.items()
        if level is not None and keys[gene] is not None
    )

    recommendations = []
    for population in entry.populations:
        row = next((r for r in entry.rows if r.matches(population, keys, scores)), None)
        if row is None or len(missing) == len(entry.genes):
            action, row = Action.INDETERMINATE, None
        else:
            action = row.action
        if action is Action.INDETERMINATE:
            status = "no_recommendation"
        else:
            status = "partial" if missing else "complete"
        recommendations.append(
            Recommendation(
                drug=drug,
                genes=entry.genes,
                phenotypes=dict(keys),
                action=action,
                strength=row.strength if row is not None else None,
                evidence_level=levels[0] if levels else None,
                population=population,
                text=row.text if row is not None else None,
                implications=row.implications if row is not None else (),
                other_considerations=row.other_considerations if row is not None else None,
                citations=entry.citations,
                guideline=entry.guideline,
                status=status,
                missing_genes=missing,
                data_version=guidance.version,
            )
        )
    return recommendations


def _drug_guidance(guidance: _Guidance, drug: str) -> _DrugGuidance:
    if drug not in guidance.drugs:
        raise InputError(_invalid("drug", guidance.drugs, drug))
    return guidance.drugs[drug]


def _check_phenotypes(guidance: _Guidance, phenotypes: Mapping[str, str | None]) -> None:
    for gene, value in phenotypes.items():
        if gene not in guidance.vocabulary:
            raise InputError(
                "Invalid gene in the 'phenotypes' parameter. Allowed values are "
                f"{_enumerate(guidance.vocabulary)}, but got {gene!r} instead."
            )
        allowed = guidance.vocabulary[gene]
        if value is not None and value not in allowed:
            raise InputError(_invalid("phenotypes", [*allowed, None], value, key=gene))


def _check_activity_scores(
    activity_scores: Mapping[str, float | None] | None,
) -> dict[str, float | None]:
    scores: dict[str, float | None] = {}
    for gene, score in (activity_scores or {}).items():
        if gene not in _ACTIVITY_GENES:
            raise InputError(
                "Invalid gene in the 'activity_scores' parameter. Allowed values are "
                f"{_enumerate(_ACTIVITY_GENES)}, but got {gene!r} instead."
            )
        if score is not None:
            # bool is an int, and True is not an activity score.
            number = math.nan if isinstance(score, bool) else score
            if not isinstance(number, int | float) or not math.isfinite(number) or number < 0:
                raise InputError(
                    f"The 'activity_scores' parameter at key '{gene}' must be a non-negative "
                    f"number or None. Got {score!r} instead."
                )
            score = float(number)
        scores[gene] = score
    return scores


def _phenotype_from_score(gene: str, score: float, phenotype: str | None) -> str:
    # CPIC's 2019 CYP2D6 thresholds; a phenoconverted score between two of CPIC's steps
    # (e.g. 1.125) goes up, as clarity.pgx's phenotyper does, so the two never disagree.
    if score == 0:
        implied = "Poor Metabolizer"
    elif score <= 1:
        implied = "Intermediate Metabolizer"
    elif score <= 2.25:
        implied = "Normal Metabolizer"
    else:
        implied = "Ultrarapid Metabolizer"
    if phenotype is not None and phenotype != implied:
        raise InputError(
            f"The {gene} activity score {score} implies {implied!r}, but the 'phenotypes' "
            f"parameter gives {phenotype!r} for {gene}."
        )
    return implied


def _invalid(
    parameter: str,
    allowed: Sequence[object] | Mapping[str, Any],
    got: object,
    *,
    key: str | None = None,
) -> str:
    where = f"the '{parameter}' parameter" + ("" if key is None else f" at key '{key}'")
    return (
        f"Invalid value for {where}. Allowed values are {_enumerate(allowed)}, "
        f"but got {got!r} instead."
    )


def _enumerate(values: Sequence[object] | Mapping[str, Any]) -> str:
    shown = [repr(value) for value in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


@cache
def _load() -> _Guidance:
    raw = json.loads(files("clarity.pgx").joinpath(_DATA_FILE).read_text(encoding="utf-8"))
    citations = {
        pmid: Citation(pmid=c["pmid"], title=c["title"], journal=c["journal"], year=c["year"])
        for pmid, c in raw["citations"].items()
    }
    vocabulary = {gene: tuple(labels) for gene, labels in raw["vocabulary"].items()}
    drugs = {
        name: _parse_drug(name, spec, citations, vocabulary)
        for name, spec in sorted(raw["drugs"].items())
    }
    return _Guidance(version=raw["version"], vocabulary=vocabulary, drugs=drugs)


def _parse_drug(
    name: str,
    spec: Mapping[str, Any],
    citations: Mapping[str, Citation],
    vocabulary: Mapping[str, tuple[str, ...]],
) -> _DrugGuidance:
    genes = tuple(spec["genes"])
    populations = tuple(spec["populations"])
    rows = []
    for raw_row in spec["rows"]:
        match = {gene: frozenset(values) for gene, values in raw_row["match"].items()}
        for gene, values in match.items():
            # Fail at load, not at lookup, when the data names something the code cannot match.
            allowed = {*vocabulary[gene], None} - {_INDETERMINATE}
            if gene not in genes or not values <= allowed:
                raise ValueError(f"{name}: bad match {raw_row['match']!r} in {_DATA_FILE}")
        row_populations = tuple(raw_row.get("populations") or populations)
        if not set(row_populations) <= set(populations):
            raise ValueError(f"{name}: unknown population in {row_populations!r}")
        rows.append(
            _Row(
                match=match,
                activity_score={
                    gene: (float(low), float(high))
                    for gene, (low, high) in raw_row.get("activity_score", {}).items()
                },
                populations=row_populations,
                action=Action(raw_row["action"]),
                strength=raw_row["strength"],
                text=raw_row["text"],
                implications=tuple(raw_row["implications"]),
                other_considerations=raw_row["other_considerations"],
            )
        )
    return _DrugGuidance(
        genes=genes,
        populations=populations,
        evidence_levels=dict(spec["evidence_levels"]),
        citations=tuple(citations[pmid] for pmid in spec["citations"]),
        guideline=spec["guideline"],
        rows=tuple(rows),
    )

"""From a patient's gene results to one ``pgx.guidance`` payload per drug.

The lookup uses the phenotype after phenoconversion: a CYP2D6 normal
metaboliser on fluoxetine gets the poor metaboliser's recommendation, and the
record says the phenotype was converted. HLA genes enter as carrier status
of each allele CPIC uses (``HLA-B*15:02: positive``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from clarity.contracts import (
    GuidanceAction,
    GuidanceBasis,
    GuidanceRecommendation,
    GuidanceStatus,
    PGxGuidance,
    PGxPhenotype,
    ResponseEstimate,
)
from clarity.pgx._guidance import Recommendation, guidance_drugs, guideline_genes, recommend

__all__ = ["guidance_for", "lookup_keys"]

_NOT_A_PHENOTYPE = {"No Result", ""}


def lookup_keys(
    phenotypes: Mapping[str, PGxPhenotype],
) -> tuple[dict[str, str | None], dict[str, float | None], set[str], dict[str, str]]:
    """Return the guidance lookup keys: phenotype per gene, HLA status per allele.

    - A provisional call (CYP2D6 from SNVs only) is not used: copy number can
      turn a normal metaboliser into a poor or ultrarapid one.
    - CPIC applies the intermediate and poor metaboliser recommendations to
      "Likely" intermediate and poor metabolisers.
    - A phenotype that missing loci leave uncertain is used, with a note.

    Returns
    -------
    tuple
        Phenotypes (None where unusable), activity scores, the genes whose
        phenotype was changed by a medication, and a note per gene on what
        limits its use.
    """
    keys: dict[str, str | None] = {}
    scores: dict[str, float | None] = {}
    converted: set[str] = set()
    notes: dict[str, str] = {}
    for gene, result in phenotypes.items():
        if result.hla:
            for carrier in result.hla:
                keys[f"{gene}{carrier.allele}"] = carrier.status.value
            continue
        usable = result.called and result.adjusted_phenotype not in _NOT_A_PHENOTYPE
        phenotype = result.adjusted_phenotype if usable else None
        if usable and result.provisional:
            notes[gene] = (
                f"{gene} {', '.join(result.diplotypes)} ({result.phenotype}) is provisional: "
                "a VCF cannot show copy number, so it is not used; supply an outside call."
            )
            phenotype = None
        elif phenotype is not None and phenotype.startswith("Likely "):
            notes[gene] = f"{gene} {phenotype}: CPIC's {phenotype.removeprefix('Likely ')} row."
            phenotype = phenotype.removeprefix("Likely ")
        elif phenotype is not None and result.possible_phenotypes:
            notes[gene] = (
                f"{gene} {phenotype} assumes the missing loci carry no variant; "
                f"{', '.join(result.possible_phenotypes)} also possible."
            )
        keys[gene] = phenotype
        scores[gene] = result.adjusted_activity_score if phenotype is not None else None
        if result.phenoconversion and phenotype is not None:
            converted.add(gene)
    return keys, scores, converted, notes


def _recommendation(r: Recommendation) -> GuidanceRecommendation:
    return GuidanceRecommendation(
        population=r.population,
        action=GuidanceAction(r.action.value),
        strength=r.strength,
        evidence_level=r.evidence_level,
        text=r.text,
        implications=r.implications,
        other_considerations=r.other_considerations,
        basis=GuidanceBasis.cpic_text if r.text else GuidanceBasis.action_class,
    )


def guidance_for(
    phenotypes: Mapping[str, PGxPhenotype],
    *,
    drugs: Sequence[str] | None = None,
    responses: Mapping[str, ResponseEstimate] | None = None,
) -> list[PGxGuidance]:
    """Return CPIC guidance for each drug, from the patient's gene results.

    Parameters
    ----------
    phenotypes
        Gene to result; genes without data are simply absent.
    drugs
        Drugs to advise on; every drug with CPIC guidance when None.
    responses
        Drug to the response model's estimate, attached to the drug's record.

    Returns
    -------
    list of PGxGuidance
        One per drug: complete, partial (a gene missing but the others decide)
        or no recommendation (a required gene uncallable).
    """
    keys, scores, converted, limits = lookup_keys(phenotypes)
    result = []
    for drug in drugs or guidance_drugs():
        genes = guideline_genes(drug)
        # HLA keys name the allele ("HLA-B*15:02"), CYP keys the gene.
        wanted = {k: v for k, v in keys.items() if k in genes}
        # Only CYP2D6 guidance (atomoxetine) splits a phenotype by activity score.
        found = recommend(
            drug, wanted, {"CYP2D6": scores.get("CYP2D6")} if "CYP2D6" in genes else {}
        )
        if not found:
            continue
        first = found[0]
        # Populations can differ (carbamazepine: HLA-A decides for some, not others).
        statuses = {r.status for r in found}
        status = statuses.pop() if len(statuses) == 1 else "partial"
        genes_used = {g.split("*")[0] for g in genes}
        notes = tuple(note for gene, note in sorted(limits.items()) if gene in genes_used)
        uncertain = any(phenotypes[g].possible_phenotypes for g in genes_used if g in phenotypes)
        if status == "complete" and uncertain:
            status = "partial"  # the call rests on loci the data lack
        missing = tuple(dict.fromkeys(g for r in found for g in r.missing_genes))
        citations = tuple(f"PMID {c.pmid}: {c.title} ({c.year})" for c in first.citations)
        used = set(first.phenotypes)
        result.append(
            PGxGuidance(
                drug=drug,
                genes=first.genes,
                phenotypes=dict(first.phenotypes),
                phenoconverted=bool(converted & {k.split("*")[0] for k in used}),
                status=GuidanceStatus(status),
                missing_genes=missing,
                recommendations=tuple(_recommendation(r) for r in found),
                citations=citations[:8],
                guideline=first.guideline,
                guidance_version=first.data_version,
                response=(responses or {}).get(drug),
                activity_scores={g: scores[g] for g in first.genes if g in scores},
                notes=notes,
            )
        )
    return result

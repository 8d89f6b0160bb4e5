"""One patient's pharmacogene results, from whatever sources exist.

A VCF gives CYP2B6, CYP2C19, CYP2C9 and a provisional CYP2D6; outside calls
and lab panels give any gene, and are the only source of CYP2D6 copy number
and of HLA. When two sources call the same gene:

- an outside call or panel replaces the VCF for CYP2D6 (the VCF cannot see
  copy number) and is the only source for HLA;
- otherwise a disagreement is a conflict, recorded on the gene. If the two
  sources' phenotypes also differ, the phenotype is Indeterminate: a clinician
  must resolve which result is right, not a rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from clarity.contracts import (
    AlleleFunctionCall,
    CarrierStatus,
    DiplotypeCandidate,
    HlaCarrier,
    PGxPhenotype,
    PGxSource,
)
from clarity.errors import InputError
from clarity.pgx._alleles import VCF_GENES, gene_definition
from clarity.pgx._matcher import GeneMatch, match_gene
from clarity.pgx._outside import OutsideCall, check_diplotype
from clarity.pgx._phenoconversion import convert
from clarity.pgx._phenotype import (
    HLA_ALLELES,
    INDETERMINATE,
    hla_status,
    normalise_phenotype,
    phenotype_of_diplotype,
)
from clarity.pgx._vcf import LocusIssue, read_pgx_vcf

__all__ = [
    "NO_RESULT",
    "call_vcf",
    "combine_sources",
    "phenotype_from_call",
    "phenotype_from_match",
]

NO_RESULT = "No Result"
_MAX_CANDIDATES = 64


def _with_conversion(
    gene: str, phenotype: str, score: float | None, medications: Iterable[str]
) -> dict[str, object]:
    conversion = convert(gene, phenotype, score, medications)
    return {
        "adjusted_phenotype": conversion.phenotype,
        "adjusted_activity_score": conversion.activity_score,
        "phenoconversion": conversion.reason,
        "inhibitors": conversion.inhibitors,
    }


def phenotype_from_match(
    match: GeneMatch, issues: Sequence[LocusIssue], medications: Iterable[str] = ()
) -> PGxPhenotype:
    """Turn a VCF match into the gene's phenotype record payload.

    Parameters
    ----------
    match
        The matcher's result for one sample and gene.
    issues
        Loci of this gene that could not be used, with why.
    medications
        The patient's current medications (generic names), for phenoconversion.

    Returns
    -------
    PGxPhenotype
        Ambiguous calls whose phenotypes agree keep that phenotype; otherwise
        the phenotype is Indeterminate and every candidate is listed.
    """
    medications = list(medications)
    gene = match.gene
    messages = [i.message for i in issues]
    unknown = [i for i in issues if i.kind == "unknown_allele"]
    if match.uncallable:
        messages.append(
            f"Not callable without the missing loci: {', '.join(match.uncallable[:20])}"
            + (" ..." if len(match.uncallable) > 20 else "")
        )
    provisional = gene == "CYP2D6"
    if provisional:
        messages.append(
            "CYP2D6 from SNVs and indels only: gene deletions (*5), duplications and hybrids "
            "are invisible in a VCF; supply an outside call for copy number."
        )
    top = match.top
    candidates = tuple(
        DiplotypeCandidate(diplotype=d.name, score=d.score)
        for d in match.diplotypes[:_MAX_CANDIDATES]
    )
    missing = tuple(locus.label for locus in match.missing)
    if not top:
        if unknown:
            reason = "an allele seen in the sample is in no definition (undocumented variation)"
        elif len(match.missing) == len(gene_definition(gene).loci):
            reason = "none of its loci is in the file"
        else:
            reason = "no pair of named alleles explains the genotypes"
        messages.append(f"{gene} not called: {reason}.")
        return PGxPhenotype(
            gene=gene,
            source=PGxSource.vcf,
            called=False,
            provisional=provisional,
            phenotype=NO_RESULT,
            adjusted_phenotype=NO_RESULT,
            missing_positions=missing,
            messages=tuple(messages),
            definition_version=match.definition_version,
        )
    phenotypes = [phenotype_of_diplotype(gene, d.allele1, d.allele2) for d in top]
    labels = {p.phenotype for p in phenotypes}
    scores = {p.activity_score for p in phenotypes}
    if len(top) > 1:
        names = ", ".join(d.name for d in top)
        messages.append(
            f"Ambiguous: {len(top)} diplotypes score equally ({names})"
            + ("; they share one phenotype." if len(labels) == 1 else "; phenotype Indeterminate.")
        )
    phenotype = labels.pop() if len(labels) == 1 else INDETERMINATE
    score = scores.pop() if len(scores) == 1 else None
    first = phenotypes[0]
    possible: tuple[str, ...] = ()
    if match.missing:
        # PharmCAT's call is the best-scoring diplotype, but with loci missing a
        # lower-scoring one can be the truth: say which other phenotypes remain possible.
        others = sorted(
            {phenotype_of_diplotype(gene, d.allele1, d.allele2).phenotype for d in match.diplotypes}
            - {phenotype, INDETERMINATE}
        )
        if others:
            possible = tuple(others[:8])
            labels_missing = ", ".join(locus.rsid or locus.label for locus in match.missing[:6])
            messages.append(
                f"{len(match.missing)} loci missing ({labels_missing}"
                f"{', ...' if len(match.missing) > 6 else ''}): {', '.join(possible)} "
                "also possible; the call assumes the missing loci carry no variant."
            )
    return PGxPhenotype(
        gene=gene,
        source=PGxSource.vcf,
        called=True,
        diplotypes=tuple(d.name for d in top),
        candidates=candidates,
        provisional=provisional,
        alleles=tuple(
            AlleleFunctionCall(allele=a.name, function=a.function, activity=a.activity)
            for a in first.alleles
        )
        if len(top) == 1
        else (),
        activity_score=score,
        phenotype=phenotype,
        missing_positions=missing,
        messages=tuple(messages),
        definition_version=match.definition_version,
        possible_phenotypes=possible,
        **_with_conversion(gene, phenotype, score, medications),
    )


def phenotype_from_call(
    gene: str,
    diplotype: str | None,
    *,
    source: PGxSource,
    reported_phenotype: str | None = None,
    reported_activity: float | None = None,
    medications: Iterable[str] = (),
) -> PGxPhenotype:
    """Turn an outside call or panel row into the gene's phenotype record payload.

    Parameters
    ----------
    gene
        A gene of :data:`clarity.pgx.OUTSIDE_GENES`.
    diplotype
        The reported diplotype; None when only a phenotype was reported.
    source
        ``outside_call`` or ``panel``.
    reported_phenotype, reported_activity
        What the source says; a phenotype that disagrees with the one CPIC's
        tables give for the diplotype is kept as a conflict.
    medications
        Current medications, for phenoconversion.

    Returns
    -------
    PGxPhenotype
        The record payload.
    """
    messages: list[str] = []
    conflicts: list[str] = []
    if gene in HLA_ALLELES:
        if diplotype is None:
            raise InputError(f"{gene}: an HLA call needs the alleles, not only a phenotype")
        check_diplotype(gene, diplotype)
        status = hla_status(gene, diplotype)
        carried = [f"{a} {s}" for a, s in status.items()]
        return PGxPhenotype(
            gene=gene,
            source=source,
            called=True,
            diplotypes=(diplotype,),
            phenotype="; ".join(carried),
            adjusted_phenotype="; ".join(carried),
            hla=tuple(HlaCarrier(allele=a, status=CarrierStatus(s)) for a, s in status.items()),
        )
    if diplotype is None:
        if not reported_phenotype:
            raise InputError(f"{gene}: neither a diplotype nor a phenotype")
        phenotype = normalise_phenotype(gene, reported_phenotype)
        messages.append(f"{gene}: phenotype reported without a diplotype; taken as reported.")
        return PGxPhenotype(
            gene=gene,
            source=source,
            called=phenotype != NO_RESULT,
            phenotype=phenotype,
            activity_score=reported_activity,
            messages=tuple(messages),
            **_with_conversion(gene, phenotype, reported_activity, medications),
        )
    first, second = check_diplotype(gene, diplotype)
    result = phenotype_of_diplotype(gene, first, second)
    if result.note:
        messages.append(result.note)
    if reported_phenotype and reported_phenotype.lower() != result.phenotype.lower():
        conflicts.append(
            f"{gene} {diplotype}: the source reports {reported_phenotype}, CPIC's tables give "
            f"{result.phenotype}; CPIC's is used."
        )
    if (
        reported_activity is not None
        and result.activity_score is not None
        and abs(reported_activity - result.activity_score) > 1e-9
    ):
        conflicts.append(
            f"{gene} {diplotype}: the source reports activity score {reported_activity:g}, "
            f"CPIC's values give {result.activity_score:g}; CPIC's is used."
        )
    return PGxPhenotype(
        gene=gene,
        source=source,
        called=True,
        diplotypes=(diplotype,),
        alleles=tuple(
            AlleleFunctionCall(allele=a.name, function=a.function, activity=a.activity)
            for a in result.alleles
        ),
        activity_score=result.activity_score,
        phenotype=result.phenotype,
        messages=tuple(messages),
        conflicts=tuple(conflicts),
        **_with_conversion(gene, result.phenotype, result.activity_score, medications),
    )


_STRUCTURAL = ("*5", "*13", "*36", "*68")


def _snv_alleles_fit(call: PGxPhenotype, found: PGxPhenotype) -> bool:
    """Whether an outside CYP2D6 call agrees with what the SNVs show (copy number aside)."""
    candidates = {c.diplotype for c in found.candidates}
    for diplotype in call.diplotypes:
        alleles = [a.split("x")[0] for a in diplotype.split("/")]
        if any(a in _STRUCTURAL for a in alleles):
            return True  # a deletion or hybrid hides what the SNVs would show
        if "/".join(alleles) in candidates or "/".join(reversed(alleles)) in candidates:
            return True
    return False


def combine_sources(
    vcf: Mapping[str, PGxPhenotype], reported: Mapping[str, PGxPhenotype]
) -> dict[str, PGxPhenotype]:
    """Merge VCF calls with outside calls or panel results, gene by gene.

    Parameters
    ----------
    vcf
        Gene to the VCF's result.
    reported
        Gene to an outside call's or panel's result.

    Returns
    -------
    dict
        Gene to the result to use, with any conflict recorded on it. What the VCF
        saw (an undocumented allele, missing loci) stays on the record.
    """
    merged = dict(vcf)
    for gene, call in reported.items():
        found = merged.get(gene)
        where = call.source.value.replace("_", " ")
        if found is None:
            merged[gene] = call
            continue
        kept = tuple(m for m in found.messages if not m.startswith("CYP2D6 from SNVs"))
        if not found.called or gene == "CYP2D6":
            messages = list(call.messages)
            conflicts = list(call.conflicts)
            if found.called:
                if _snv_alleles_fit(call, found):
                    messages.append(
                        f"{gene} {'/'.join(call.diplotypes) or call.phenotype} from the {where} "
                        f"replaces the VCF's provisional {', '.join(found.diplotypes)} "
                        "(copy number)."
                    )
                else:
                    conflicts.append(
                        f"{gene}: the {where} reports {', '.join(call.diplotypes)}, which the "
                        f"VCF's SNVs do not allow (it calls {', '.join(found.diplotypes)}); the "
                        f"{where} is used, but check both."
                    )
            merged[gene] = call.model_copy(
                update={
                    "messages": (*messages, *kept),
                    "conflicts": tuple(conflicts),
                    "missing_positions": found.missing_positions,
                    "candidates": found.candidates,
                }
            )
            continue
        candidates = {c.diplotype for c in found.candidates}
        agree = set(call.diplotypes) & set(found.diplotypes)
        if agree and len(found.diplotypes) == 1:
            merged[gene] = found.model_copy(
                update={"messages": (*found.messages, f"Confirmed by the {call.source.value}.")}
            )
            continue
        if call.diplotypes and set(call.diplotypes) <= candidates:
            # Unphased genotypes (or missing loci) fit several diplotypes; a lab call that
            # is one of them resolves the ambiguity rather than contradicting the VCF.
            note = (
                f"{gene}: the {where}'s {call.diplotypes[0]} fits the VCF genotypes, which "
                f"alone give {', '.join(found.diplotypes)}; the reported call is used."
            )
            merged[gene] = call.model_copy(
                update={
                    "candidates": found.candidates,
                    "missing_positions": found.missing_positions,
                    "messages": (*call.messages, *kept, note),
                }
            )
            continue
        conflict = (
            f"{gene}: the VCF calls {', '.join(found.diplotypes)} but the "
            f"{where} reports {', '.join(call.diplotypes)}"
        )
        update: dict[str, object]
        if call.phenotype == found.phenotype:
            update = {"conflicts": (*found.conflicts, f"{conflict}; both are {found.phenotype}.")}
        else:
            update = {
                "conflicts": (
                    *found.conflicts,
                    f"{conflict} ({found.phenotype} vs {call.phenotype}); phenotype "
                    "Indeterminate until resolved.",
                ),
                "phenotype": INDETERMINATE,
                "adjusted_phenotype": INDETERMINATE,
                "activity_score": None,
                "adjusted_activity_score": None,
            }
        merged[gene] = found.model_copy(update=update)
    return merged


def call_vcf(
    path: str | Path,
    *,
    samples: Sequence[str] | None = None,
    outside: Sequence[OutsideCall] = (),
    medications: Iterable[str] = (),
) -> dict[str, dict[str, PGxPhenotype]]:
    """Call every sample of a VCF, with outside calls and medications applied to all.

    Parameters
    ----------
    path
        VCF or BCF on GRCh38.
    samples
        Samples to call; all when None.
    outside
        Outside calls (CYP2D6 copy number, HLA) — meant for single-sample use.
    medications
        Current medications, for phenoconversion.

    Returns
    -------
    dict
        Sample to gene to result.
    """
    medications = list(medications)
    if outside or medications:
        names = (
            [s.sample for s in read_pgx_vcf(path, samples=samples, genes=())]
            if samples is None
            else list(samples)
        )
        if len(names) != 1:
            raise InputError(
                "outside calls and medications belong to one person: give them with a "
                f"single-sample VCF or one --sample (this call selects {len(names)} samples)"
            )
    reported = {
        c.gene: phenotype_from_call(
            c.gene,
            c.diplotype,
            source=PGxSource.outside_call,
            reported_phenotype=c.phenotype,
            reported_activity=c.activity_score,
            medications=medications,
        )
        for c in outside
        if c.covered
    }
    result = {}
    for sample in read_pgx_vcf(path, samples=samples):
        vcf = {
            gene: phenotype_from_match(
                match_gene(gene_definition(gene), sample.calls[gene]),
                sample.issues_of(gene),
                medications,
            )
            for gene in VCF_GENES
        }
        result[sample.sample] = combine_sources(vcf, reported)
    return result

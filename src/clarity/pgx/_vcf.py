"""Genotypes at the pharmacogene loci, read from a VCF or BCF with cyvcf2.

Only records at a defined locus are kept; everything else is streamed past.
Whatever cannot be used is said, per sample and locus, never guessed: a no-call
or half-call, a reference base that differs from GRCh38, an allele that no
definition knows, a locus written twice. Those loci count as missing, and the
matcher lists every diplotype still possible without them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from clarity.errors import CorruptVCF, InputError
from clarity.pgx._alleles import VCF_GENES, GeneDefinition, Locus, gene_definition

__all__ = ["Genotype", "LocusIssue", "PgxGenotypes", "read_pgx_vcf"]

_GRCH37_MARKERS = ("grch37", "hg19", "b37", "hs37", "length=249250621", "length=135534747")
_GRCH38_MARKERS = ("grch38", "hg38", "length=248956422", "length=133797422")


@dataclass(frozen=True)
class Genotype:
    """The two alleles a sample carries at one locus, as VCF allele strings.

    Parameters
    ----------
    first
        The allele of the genotype's first index (upper-cased), e.g. ``"C"``.
    second
        The allele of the genotype's second index (upper-cased).
    phased
        Whether the genotype is phased (``0|1``), so that ``first`` and
        ``second`` sit on known haplotypes.
    """

    first: str
    second: str
    phased: bool

    @property
    def heterozygous(self) -> bool:
        """Return whether the two alleles differ."""
        return self.first != self.second


@dataclass(frozen=True)
class LocusIssue:
    """Why a locus could not be used for one sample.

    Parameters
    ----------
    gene
        The gene whose locus it is.
    position
        The locus's position on GRCh38.
    kind
        ``"no_call"``, ``"reference_mismatch"``, ``"unknown_allele"``,
        ``"duplicate"`` or ``"haploid"``.
    message
        What is wrong, naming the locus, for a person to read.
    """

    gene: str
    position: int
    kind: str  # no_call, reference_mismatch, unknown_allele, duplicate, haploid
    message: str


@dataclass
class PgxGenotypes:
    """One sample's genotypes at every defined locus of each gene.

    Parameters
    ----------
    sample
        The sample's column name in the VCF.
    calls
        Gene to (index of the locus in the gene's definition to its genotype);
        a locus without a usable call is absent.
    issues
        Every problem found at the sample's loci, in file order.
    """

    sample: str
    calls: dict[str, dict[int, Genotype]] = field(default_factory=dict)
    issues: list[LocusIssue] = field(default_factory=list)

    def issues_of(self, gene: str) -> list[LocusIssue]:
        """Return the issues at one gene's loci.

        Parameters
        ----------
        gene
            The gene symbol.

        Returns
        -------
        list of LocusIssue
            The gene's issues, in file order.
        """
        return [i for i in self.issues if i.gene == gene]


def _chromosome(name: str) -> str:
    return name if name.startswith("chr") else f"chr{name}"


def _check_build(header: str, path: Path) -> None:
    text = header.lower()
    declared = re.findall(r"^##reference=.*$", text, flags=re.MULTILINE)
    looks_37 = any(m in text for m in _GRCH37_MARKERS)
    looks_38 = any(m in text for m in _GRCH38_MARKERS)
    if looks_37 and not looks_38:
        hint = f" (header: {declared[0][2:]})" if declared else ""
        raise InputError(
            f"{path.name}: the header declares GRCh37 coordinates{hint}; the allele "
            "definitions are on GRCh38. Lift the file over to GRCh38 first."
        )


def read_pgx_vcf(
    path: Path | str,
    *,
    genes: Sequence[str] = VCF_GENES,
    samples: Iterable[str] | None = None,
) -> list[PgxGenotypes]:
    """Read every sample's genotypes at the defined loci of the given genes.

    Parameters
    ----------
    path
        A VCF (plain or bgzipped) or BCF on GRCh38, single or multi-sample.
    genes
        Genes to read; each must have allele definitions.
    samples
        Sample columns to read; all when None.

    Returns
    -------
    list of PgxGenotypes
        One per sample, in the file's order.

    Raises
    ------
    CorruptVCF
        When the file cannot be parsed (the message names the last good record).
    InputError
        When the coordinates are GRCh37, or most reference bases disagree with
        GRCh38, or a requested sample is absent.
    """
    from cyvcf2 import VCF

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    definitions: dict[str, GeneDefinition] = {g: gene_definition(g) for g in genes}
    by_site: dict[tuple[str, int], tuple[str, int]] = {}
    for gene, definition in definitions.items():
        for index, locus in enumerate(definition.loci):
            by_site[(locus.chromosome, locus.position)] = (gene, index)
    try:
        reader = VCF(str(path), gts012=False, lazy=True, threads=1)
    except (OSError, Exception) as error:  # cyvcf2 raises bare Exception on bad headers
        raise CorruptVCF(f"{path.name}: cannot be opened as VCF/BCF: {error}") from error
    try:
        _check_build(reader.raw_header, path)
        names = list(reader.samples)
        if not names:
            raise CorruptVCF(f"{path.name}: the file has no sample columns")
        wanted = list(samples) if samples is not None else names
        absent = [s for s in wanted if s not in names]
        if absent:
            raise InputError(f"{path.name}: no sample column named {', '.join(map(repr, absent))}")
        columns = [names.index(s) for s in wanted]
        result = [PgxGenotypes(sample=s, calls={g: {} for g in genes}) for s in wanted]
        seen: set[tuple[str, int]] = set()
        refs_seen: dict[tuple[str, int], str] = {}
        checked = mismatched = 0
        last = "the header"
        iterator = iter(reader)
        while True:
            try:
                variant = next(iterator)
            except StopIteration:
                break
            except Exception as error:  # htslib parse errors arrive as bare Exception
                raise CorruptVCF(f"{path.name}: unreadable record after {last}: {error}") from error
            site = (_chromosome(variant.CHROM), int(variant.POS))
            last = f"{site[0]}:{site[1]}"
            target = by_site.get(site)
            if target is None:
                continue
            gene, index = target
            locus = definitions[gene].loci[index]
            alleles = [variant.REF.upper(), *(a.upper() for a in variant.ALT)]
            split = site in seen
            if split and alleles[0] != refs_seen[site]:
                for sample in result:
                    sample.calls[gene].pop(index, None)
                    sample.issues.append(
                        LocusIssue(
                            gene, locus.position, "duplicate", f"{locus.label} appears twice"
                        )
                    )
                continue
            if not split:
                seen.add(site)
                refs_seen[site] = alleles[0]
                checked += 1
            if alleles[0] != locus.ref:
                if split:
                    continue
                mismatched += 1
                for sample in result:
                    sample.issues.append(
                        LocusIssue(
                            gene,
                            locus.position,
                            "reference_mismatch",
                            f"{locus.label}: REF {variant.REF} does not match the GRCh38 "
                            f"reference {locus.ref}; position treated as missing",
                        )
                    )
                continue
            known = {locus.ref, *locus.alts}
            genotypes = variant.genotypes
            # A site has few distinct genotypes: interpret each once, share the result.
            interpreted: dict[tuple[int | bool, ...], tuple[Genotype | None, LocusIssue | None]]
            interpreted = {}
            for sample, column in zip(result, columns, strict=True):
                key = tuple(genotypes[column])
                found = interpreted.get(key)
                if found is None:
                    found = interpreted[key] = _interpret(gene, locus, list(key), alleles, known)
                call, issue = found
                if split:
                    # A multi-allelic site split over records (bcftools norm -m-): each
                    # record carries one ALT; merge them into one genotype.
                    call, issue = _merge_split(gene, sample.calls[gene].get(index), call, locus)
                if issue is not None:
                    sample.issues.append(issue)
                if call is not None:
                    sample.calls[gene][index] = call
                elif split:
                    sample.calls[gene].pop(index, None)
        if checked >= 4 and mismatched * 2 > checked:
            raise InputError(
                f"{path.name}: {mismatched} of {checked} pharmacogene loci carry a REF base "
                "that differs from GRCh38; the coordinates look like another build (GRCh37?). "
                "Lift the file over to GRCh38 first."
            )
        return result
    finally:
        reader.close()


def _merge_split(
    gene: str, before: Genotype | None, now: Genotype | None, locus: Locus
) -> tuple[Genotype | None, LocusIssue | None]:
    """Merge two records of one split multi-allelic site into one genotype."""
    if before is None or now is None:
        return None, None  # a no-call in either record leaves the site missing
    if before == now:
        return before, None  # the same record written twice
    ref = locus.ref
    carried = [a for a in (before.first, before.second, now.first, now.second) if a != ref]
    if len(carried) > 2:
        reason = f"{locus.label}: split records carry {len(carried)} ALT alleles; site missing"
        return None, LocusIssue(gene, locus.position, "duplicate", reason)
    first, second = (*carried, ref, ref)[:2]
    return Genotype(first, second, before.phased and now.phased), None


def _interpret(
    gene: str,
    locus: Locus,
    genotype: list[int | bool],
    alleles: list[str],
    known: set[str],
) -> tuple[Genotype | None, LocusIssue | None]:
    """Return the genotype a sample carries at a locus, or why it cannot be used."""
    label, position = locus.label, locus.position
    *indices, phased = genotype
    if len(indices) != 2:
        reason = f"{label}: {len(indices)} alleles, expected 2"
        return None, LocusIssue(gene, position, "haploid", reason)
    if any(int(i) < 0 for i in indices):
        reason = f"{label}: no call; position treated as missing"
        return None, LocusIssue(gene, position, "no_call", reason)
    if any(int(i) >= len(alleles) for i in indices):
        raise CorruptVCF(f"{label}: genotype refers to allele {max(indices)} of {len(alleles)}")
    first, second = (alleles[int(i)] for i in indices)
    unknown = [a for a in (first, second) if a not in known]
    issue = (
        LocusIssue(
            gene,
            position,
            "unknown_allele",
            f"{label}: allele {unknown[0]} is in no {gene} definition; "
            "no named allele can carry it",
        )
        if unknown
        else None
    )
    return Genotype(first, second, bool(phased)), issue

"""Named-allele definitions of the pharmacogenes, as the matcher uses them.

The definitions are PharmCAT's (``clarity.reference``): per gene, the variant
loci on GRCh38 and, per named allele, the VCF allele it carries at each locus
(an IUPAC code where either base defines the allele, which PharmCAT calls a
wobble). Where a definition says nothing, the reference base is assumed, as
PharmCAT does by default; ``defined`` keeps which loci the definition names,
which is what a match scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from clarity.reference import PHARMCAT_GENES, allele_definitions

__all__ = ["IUPAC", "VCF_GENES", "GeneDefinition", "Locus", "NamedAllele", "gene_definition"]

VCF_GENES = PHARMCAT_GENES
"""Genes Clarity calls from a VCF (CYP2D6 from SNVs and indels only, provisional)."""

IUPAC: dict[str, frozenset[str]] = {
    "R": frozenset("AG"),
    "Y": frozenset("CT"),
    "S": frozenset("GC"),
    "W": frozenset("AT"),
    "K": frozenset("GT"),
    "M": frozenset("AC"),
    "B": frozenset("CGT"),
    "D": frozenset("AGT"),
    "H": frozenset("ACT"),
    "V": frozenset("ACG"),
    "N": frozenset("ACGT"),
}
"""Bases each IUPAC ambiguity code stands for."""


@dataclass(frozen=True)
class Locus:
    """One variant position of a gene's definitions.

    Parameters
    ----------
    chromosome
        Chromosome name as in the definitions, e.g. ``"chr10"``.
    position
        1-based position on GRCh38.
    rsid
        The dbSNP id, e.g. ``"rs4244285"``; None when the definitions give none.
    ref
        The reference allele at the position.
    alts
        The alternative alleles the definitions know at the position.
    """

    chromosome: str
    position: int
    rsid: str | None
    ref: str
    alts: tuple[str, ...]

    @property
    def label(self) -> str:
        """Return ``chr:pos`` with the rsID when known, e.g. ``chr10:94781859 (rs4244285)``."""
        name = f"{self.chromosome}:{self.position}"
        return f"{name} ({self.rsid})" if self.rsid else name


@dataclass(frozen=True)
class NamedAllele:
    """A star allele: the allele it requires at each locus of its gene.

    Parameters
    ----------
    name
        The allele's name, e.g. ``"*2"``.
    alleles
        The allele required at each locus, in the order of the gene's loci: a
        VCF allele, or an IUPAC ambiguity code (a wobble) where either base
        defines it; the reference base where the definition is silent.
    defined
        Per locus, whether the definition names an allele there (False where
        the reference base was assumed); a match scores the defined loci.
    reference
        Whether this is the allele made of the reference genome's bases.
    """

    name: str
    alleles: tuple[str, ...]
    defined: tuple[bool, ...]
    reference: bool

    def accepts(self, index: int, allele: str) -> bool:
        """Return whether the allele seen at locus ``index`` is compatible with this one.

        Parameters
        ----------
        index
            Position of the locus in the gene's loci.
        allele
            The allele seen there (a VCF allele string).

        Returns
        -------
        bool
            True when it equals the required allele, or is one of the bases of
            the required ambiguity code.
        """
        wanted = self.alleles[index]
        if wanted == allele:
            return True
        bases = IUPAC.get(wanted)
        return bases is not None and allele in bases

    def is_wobble(self, index: int) -> bool:
        """Return whether the definition at locus ``index`` is an ambiguity code.

        Parameters
        ----------
        index
            Position of the locus in the gene's loci.

        Returns
        -------
        bool
            True when the allele required there is an IUPAC code (see :data:`IUPAC`).
        """
        return self.alleles[index] in IUPAC


@dataclass(frozen=True)
class GeneDefinition:
    """All named alleles of one gene over its loci.

    Parameters
    ----------
    gene
        The gene symbol, e.g. ``"CYP2C19"``.
    chromosome
        The chromosome the gene is on, e.g. ``"chr10"``.
    genome_build
        The assembly the positions refer to, e.g. ``"GRCh38.p14"``.
    version
        Version of PharmCAT's definitions they come from.
    loci
        The variant positions the definitions use, in PharmCAT's order.
    alleles
        The named alleles, each with one required allele per locus.

    Attributes
    ----------
    positions
        Position on the chromosome to the index of its locus in ``loci``.
    """

    gene: str
    chromosome: str
    genome_build: str
    version: str
    loci: tuple[Locus, ...]
    alleles: tuple[NamedAllele, ...]

    positions: dict[int, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "positions", {locus.position: i for i, locus in enumerate(self.loci)}
        )

    @property
    def reference_allele(self) -> NamedAllele:
        """Return the allele made of the reference genome's bases (*1, or *38 for CYP2C19)."""
        return next(a for a in self.alleles if a.reference)


@cache
def gene_definition(gene: str) -> GeneDefinition:
    """Return the named-allele definitions of a gene.

    Parameters
    ----------
    gene
        One of :data:`VCF_GENES`.

    Returns
    -------
    GeneDefinition
        Loci and named alleles, in PharmCAT's order.

    Examples
    --------
    >>> definition = gene_definition("CYP2C19")
    >>> definition.reference_allele.name, len(definition.loci)
    ('*38', 35)
    """
    raw = allele_definitions(gene)  # checks the name
    loci = tuple(
        Locus(
            chromosome=v["chromosome"],
            position=int(v["position"]),
            rsid=v.get("rsid"),
            ref=v["ref"],
            alts=tuple(v["alts"]),
        )
        for v in raw["variants"]
    )
    reference = next(a["alleles"] for a in raw["namedAlleles"] if a["reference"])
    # PharmCAT assumes the reference base wherever a definition is silent (its default
    # "assume reference"), so *2 does not fit a haplotype that also carries *24's variant.
    filled = [
        locus.ref if (value is None or value in IUPAC) else value
        for locus, value in zip(loci, reference, strict=True)
    ]
    alleles = tuple(
        NamedAllele(
            name=a["name"],
            alleles=tuple(f if v is None else v for f, v in zip(filled, a["alleles"], strict=True)),
            defined=tuple(v is not None for v in a["alleles"]),
            reference=bool(a["reference"]),
        )
        for a in raw["namedAlleles"]
    )
    return GeneDefinition(
        gene=gene,
        chromosome=raw["chromosome"],
        genome_build=raw["genomeBuild"],
        version=raw["version"],
        loci=loci,
        alleles=alleles,
    )

"""Outside calls: diplotypes a VCF cannot give, in PharmCAT's outside-call format.

One call per line, tab-separated: gene, diplotype, and optionally phenotype
and activity score (``CYP2D6<TAB>*1/*4x2``, ``HLA-B<TAB>*15:02/*57:01``).
Lines starting with ``#`` are comments. CYP2D6 copy number and hybrids and
the HLA genes come this way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from clarity.errors import InputError
from clarity.pgx._alleles import VCF_GENES, gene_definition
from clarity.pgx._phenotype import split_copies

__all__ = [
    "OUTSIDE_GENES",
    "OutsideCall",
    "check_diplotype",
    "parse_outside_calls",
    "read_outside_calls",
]

OUTSIDE_GENES = (*VCF_GENES, "HLA-A", "HLA-B")
"""Genes whose outside calls Clarity interprets; others are kept as not covered."""

_HLA = re.compile(r"^\*\d{2,3}:\d{2,3}(:\d{2,3}){0,2}[A-Z]?$")
_CYP2D6_STRUCTURAL = frozenset({"*5", "*13", "*36", "*68"})


@dataclass(frozen=True)
class OutsideCall:
    """One gene's call from an outside source.

    Parameters
    ----------
    gene
        The gene symbol, upper-cased, e.g. ``"CYP2D6"``.
    diplotype
        The diplotype as given, e.g. ``"*1/*4x2"``; None when the line gives
        only a phenotype.
    phenotype
        The phenotype as given; None when the line gives none.
    activity_score
        The activity score as given; None when the line gives none.
    line
        The 1-based line number of the call in its file.
    covered
        Whether Clarity interprets calls of this gene (see :data:`OUTSIDE_GENES`).
    """

    gene: str
    diplotype: str | None
    phenotype: str | None
    activity_score: float | None
    line: int
    covered: bool


@cache
def _known(gene: str) -> frozenset[str]:
    names = {a.name for a in gene_definition(gene).alleles}
    return frozenset(names | (_CYP2D6_STRUCTURAL if gene == "CYP2D6" else set()))


def check_diplotype(gene: str, diplotype: str) -> tuple[str, str]:
    """Return the two alleles of a diplotype, or raise for an unknown allele.

    Raises
    ------
    InputError
        When the diplotype is not two alleles, or an allele is unknown for the gene.
    """
    parts = diplotype.split("/")
    if len(parts) != 2 or not all(parts):
        raise InputError(f"{gene} {diplotype!r} is not two alleles separated by '/'")
    for allele in parts:
        if gene.startswith("HLA-"):
            if not _HLA.match(allele):
                raise InputError(f"{gene} allele {allele!r} is not an HLA allele such as *15:02")
            continue
        base, copies = split_copies(allele)
        if base not in _known(gene):
            raise InputError(
                f"{gene} allele {allele!r} is not a known {gene} star allele "
                f"(definitions {gene_definition(gene).version})"
            )
        if copies > 1 and gene != "CYP2D6":
            raise InputError(f"{gene} allele {allele!r}: copy number is only read for CYP2D6")
    return parts[0], parts[1]


def parse_outside_calls(text: str, *, source: str = "outside calls") -> list[OutsideCall]:
    """Parse outside calls, one per line.

    Parameters
    ----------
    text
        The file's content.
    source
        Name used in error messages.

    Returns
    -------
    list of OutsideCall
        Calls for genes Clarity does not interpret are kept with ``covered=False``.

    Raises
    ------
    InputError
        On a line without a gene, an unknown allele, a bad activity score or a gene
        given twice; the message names the line.
    """
    calls: list[OutsideCall] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        gene = fields[0].upper()
        diplotype = fields[1] if len(fields) > 1 and fields[1] else None
        phenotype = fields[2] if len(fields) > 2 and fields[2] else None
        where = f"{source}, line {number}"
        if not re.fullmatch(r"[A-Z][A-Z0-9]*(-[A-Z0-9]+)?", gene):
            raise InputError(f"{where}: {fields[0]!r} is not a gene symbol")
        if gene in seen:
            raise InputError(f"{where}: {gene} is called again (first on line {seen[gene]})")
        seen[gene] = number
        covered = gene in OUTSIDE_GENES
        if diplotype is None and phenotype is None:
            raise InputError(f"{where}: {gene} has neither a diplotype nor a phenotype")
        score: float | None = None
        if len(fields) > 3 and fields[3]:
            try:
                score = float(fields[3])
            except ValueError:
                raise InputError(f"{where}: activity score {fields[3]!r} is not a number") from None
        if covered and diplotype is not None:
            try:
                check_diplotype(gene, diplotype)
            except InputError as error:
                raise InputError(f"{where}: {error}") from None
        calls.append(OutsideCall(gene, diplotype, phenotype, score, number, covered))
    return calls


def read_outside_calls(path: Path | str) -> list[OutsideCall]:
    """Read an outside-call file (see :func:`parse_outside_calls`).

    Parameters
    ----------
    path
        The file, UTF-8 text; its name is used in error messages.

    Returns
    -------
    list of OutsideCall
        One call per non-comment line, in file order; calls for genes Clarity
        does not interpret are kept with ``covered=False``.

    Raises
    ------
    InputError
        On a line without a gene, an unknown allele, a bad activity score or a
        gene given twice; the message names the file and line.
    """
    path = Path(path)
    return parse_outside_calls(path.read_text(encoding="utf-8"), source=path.name)

"""Loaders for the PharmCAT allele definitions and phenotype tables."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["PHARMCAT_GENES", "allele_definitions", "phenotype_table"]

PHARMCAT_GENES = ("CYP2B6", "CYP2C19", "CYP2C9", "CYP2D6")
"""Genes whose PharmCAT allele definitions ship with Clarity."""


def _check_gene(gene: str, allowed: tuple[str, ...]) -> None:
    if gene not in allowed:
        raise ValueError(
            f"Invalid value for the 'gene' parameter. Allowed values are {', '.join(allowed)}, "
            f"but got {gene!r} instead."
        )


@cache
def allele_definitions(gene: str) -> dict[str, Any]:
    """Return PharmCAT's named-allele definitions of a gene (GRCh38).

    Parameters
    ----------
    gene
        One of :data:`PHARMCAT_GENES`.

    Returns
    -------
    dict
        The upstream ``<GENE>_translation.json`` content: ``variants`` (positions
        with reference and alternative alleles) and ``namedAlleles`` (the allele
        at each position, None where it is the reference).

    Examples
    --------
    >>> definitions = allele_definitions("CYP2C19")
    >>> definitions["genomeBuild"], definitions["chromosome"]
    ('GRCh38.p14', 'chr10')
    """
    _check_gene(gene, PHARMCAT_GENES)
    text = files("clarity.reference").joinpath(f"pharmcat/allele_definitions/{gene}.json")
    result: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return result


@cache
def phenotype_table(gene: str) -> dict[str, Any]:
    """Return PharmCAT's allele-function and diplotype-phenotype table of a gene.

    Parameters
    ----------
    gene
        ``"CYP2B6"``, ``"CYP2C19"`` or ``"CYP2C9"`` (CYP2D6 uses activity scores).

    Returns
    -------
    dict
        ``haplotypes`` (allele to function) and ``diplotypes`` (to phenotype).

    Examples
    --------
    >>> phenotype_table("CYP2C19")["haplotypes"]["*2"]
    'No function'
    """
    _check_gene(gene, ("CYP2B6", "CYP2C19", "CYP2C9"))
    text = files("clarity.reference").joinpath(f"pharmcat/phenotypes/{gene}.json")
    result: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return result

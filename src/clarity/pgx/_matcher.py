"""Named-allele matching: which diplotypes explain a sample's genotypes.

This follows PharmCAT's NamedAlleleMatcher (Sangkuhl et al., Clin Pharmacol
Ther 2020) so that the calls agree with it:

- Loci the sample lacks are dropped from every definition; an allele left with
  no defined locus cannot be called and is listed as such.
- A named allele fits a haplotype when it agrees at every locus, taking the
  reference base where its definition is silent; an IUPAC code (a "wobble")
  accepts either base. A base that no definition knows therefore fits nothing,
  and the gene is not called (PharmCAT's "undocumented variation").
- Unphased genotypes can be phased any way, so a pair of alleles explains the
  sample when, at every locus, one allele takes one base and the other the
  other base. Phased genotypes fix which base sits on which haplotype.
- A diplotype scores the number of loci its two alleles define, less one for
  each wobble that the sample fills with the reference base. The highest score
  is the call; equal top scores are reported together, never broken by guess.

Rather than enumerating the 2^k phasings of k heterozygous loci as PharmCAT
does, each pair is checked locus by locus (unphased loci are independent), in
NumPy over all candidate pairs at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from clarity.pgx._alleles import IUPAC, GeneDefinition, Locus
from clarity.pgx._vcf import Genotype

__all__ = ["DiplotypeMatch", "GeneMatch", "match_gene", "star_sort_key"]


def star_sort_key(name: str) -> tuple[int, str]:
    """Sort key putting ``*2`` before ``*10`` and before ``*2x2``."""
    found = re.match(r"\*?(\d+)", name)
    return (int(found.group(1)) if found else 10**6, name)


@dataclass(frozen=True)
class DiplotypeMatch:
    """Two named alleles that together explain the genotypes, with their score.

    Parameters
    ----------
    allele1
        The first allele's name, the lower of the two in star order
        (:func:`star_sort_key`).
    allele2
        The second allele's name.
    score
        The number of available loci the two definitions name, less one for
        each wobble the sample fills with the reference base; higher is better.
    """

    allele1: str
    allele2: str
    score: int

    @property
    def name(self) -> str:
        """Return the diplotype as ``*1/*2``."""
        return f"{self.allele1}/{self.allele2}"


@dataclass(frozen=True)
class GeneMatch:
    """Every diplotype consistent with one sample's genotypes at one gene.

    Parameters
    ----------
    gene
        The gene symbol.
    phased
        Whether the haplotypes are known: every heterozygous locus is phased,
        or at most one locus is heterozygous.
    diplotypes
        Every diplotype that explains the genotypes, highest score first, then
        by allele names; empty when the gene cannot be called.
    missing
        The gene's loci the sample has no genotype at.
    uncallable
        Names of the alleles left with no defined locus once the missing loci
        are dropped (the reference allele is never among them).
    definition_version
        Version of the allele definitions matched against.
    """

    gene: str
    phased: bool
    diplotypes: tuple[DiplotypeMatch, ...]
    missing: tuple[Locus, ...]
    uncallable: tuple[str, ...]
    definition_version: str

    @property
    def top(self) -> tuple[DiplotypeMatch, ...]:
        """Return the best-scoring diplotypes (several when tied, none when uncalled)."""
        if not self.diplotypes:
            return ()
        best = self.diplotypes[0].score
        return tuple(d for d in self.diplotypes if d.score == best)

    @property
    def called(self) -> bool:
        """Return whether at least one diplotype explains the genotypes."""
        return bool(self.diplotypes)


@dataclass(frozen=True)
class _Tables:
    """A gene's definitions as arrays over (named allele, locus)."""

    defined: np.ndarray  # bool: the definition names this locus (what a match scores)
    wobble: np.ndarray  # bool: the definition is an ambiguity code here
    reference: np.ndarray  # bool per allele
    codes: tuple[dict[str, int], ...]  # per locus: observed allele -> its code there
    fits: np.ndarray  # bool (locus, code, allele); the last code is "unknown": fits nothing


_TABLES: dict[tuple[str, str, int], _Tables] = {}


def _tables(definition: GeneDefinition) -> _Tables:
    key = (definition.gene, definition.version, len(definition.loci))
    found = _TABLES.get(key)
    if found is None:
        alleles = definition.alleles
        codes = []
        for index, locus in enumerate(definition.loci):
            seen = {locus.ref, *locus.alts, *(a.alleles[index] for a in alleles)}
            seen |= {b for v in list(seen) for b in IUPAC.get(v, ())}
            codes.append({v: c for c, v in enumerate(sorted(seen - set(IUPAC)))})
        width = max(len(c) for c in codes) + 1
        fits = np.zeros((len(codes), width, len(alleles)), dtype=bool)
        for index, mapping in enumerate(codes):
            for value, code in mapping.items():
                fits[index, code] = [a.accepts(index, value) for a in alleles]
        found = _Tables(
            defined=np.array([a.defined for a in alleles], dtype=bool),
            wobble=np.array(
                [[a.is_wobble(i) for i in range(len(definition.loci))] for a in alleles],
                dtype=bool,
            ),
            reference=np.array([a.reference for a in alleles], dtype=bool),
            codes=tuple(codes),
            fits=fits,
        )
        _TABLES[key] = found
    return found


def _pair_name_order(a: str, b: str) -> tuple[str, str]:
    return (a, b) if star_sort_key(a) <= star_sort_key(b) else (b, a)


def match_gene(definition: GeneDefinition, genotypes: Mapping[int, Genotype]) -> GeneMatch:
    """Return every diplotype of a gene that explains the genotypes, best first.

    Parameters
    ----------
    definition
        The gene's named alleles.
    genotypes
        Locus index to genotype; loci absent from it are missing.

    Returns
    -------
    GeneMatch
        Diplotypes sorted by score (highest first), then by allele names.
    """
    available = sorted(genotypes)
    missing = tuple(locus for i, locus in enumerate(definition.loci) if i not in genotypes)
    het = [genotypes[i].heterozygous for i in available]
    phased = sum(het) <= 1 or all(
        genotypes[i].phased for i, h in zip(available, het, strict=True) if h
    )
    tables = _tables(definition)
    columns = np.asarray(available, dtype=np.intp)
    defined = tables.defined[:, columns]
    keep = tables.reference | defined.any(axis=1)
    uncallable = tuple(definition.alleles[k].name for k in np.flatnonzero(~keep))
    if not available or not keep.any():
        return GeneMatch(definition.gene, phased, (), missing, uncallable, definition.version)
    unknown = tables.fits.shape[1] - 1
    code1 = [tables.codes[i].get(genotypes[i].first, unknown) for i in available]
    code2 = [tables.codes[i].get(genotypes[i].second, unknown) for i in available]
    fits1 = tables.fits[columns, code1].T  # (allele, locus)
    fits2 = tables.fits[columns, code2].T
    at_ref1 = np.array([genotypes[i].first == definition.loci[i].ref for i in available])
    at_ref2 = np.array([genotypes[i].second == definition.loci[i].ref for i in available])
    wobble = tables.wobble[:, columns]
    wobble1 = (wobble & at_ref1).astype(np.int32)
    wobble2 = (wobble & at_ref2).astype(np.int32)
    scores = defined.sum(axis=1, dtype=np.int32)
    # An allele that fits neither haplotype at some locus can be in no diplotype.
    viable = np.flatnonzero(keep & (fits1 | fits2).all(axis=1))
    if viable.size == 0:
        return GeneMatch(definition.gene, phased, (), missing, uncallable, definition.version)
    candidates = definition.alleles
    left, right = np.triu_indices(viable.size)
    a, b = viable[left], viable[right]
    straight = fits1[a] & fits2[b]  # a takes the first allele, b the second
    crossed = fits2[a] & fits1[b]
    cost_straight = wobble1[a] + wobble2[b]
    cost_crossed = wobble2[a] + wobble1[b]
    if phased:
        ok_straight = straight.all(axis=1)
        ok_crossed = crossed.all(axis=1)
        valid = ok_straight | ok_crossed
        penalty = np.minimum(
            np.where(ok_straight, cost_straight.sum(axis=1), np.iinfo(np.int32).max),
            np.where(ok_crossed, cost_crossed.sum(axis=1), np.iinfo(np.int32).max),
        )
    else:
        valid = (straight | crossed).all(axis=1)
        per_locus = np.where(
            straight & crossed,
            np.minimum(cost_straight, cost_crossed),
            np.where(straight, cost_straight, cost_crossed),
        )
        penalty = per_locus.sum(axis=1)
    matches = []
    for p in np.flatnonzero(valid):
        one, two = _pair_name_order(candidates[a[p]].name, candidates[b[p]].name)
        score = int(scores[a[p]] + scores[b[p]] - penalty[p])
        matches.append(DiplotypeMatch(one, two, score))
    matches.sort(key=lambda m: (-m.score, star_sort_key(m.allele1), star_sort_key(m.allele2)))
    return GeneMatch(
        definition.gene, phased, tuple(matches), missing, uncallable, definition.version
    )

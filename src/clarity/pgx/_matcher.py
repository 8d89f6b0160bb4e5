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

from clarity.pgx._alleles import GeneDefinition, Locus, NamedAllele
from clarity.pgx._vcf import Genotype

__all__ = ["DiplotypeMatch", "GeneMatch", "match_gene", "star_sort_key"]


def star_sort_key(name: str) -> tuple[int, str]:
    """Sort key putting ``*2`` before ``*10`` and before ``*2x2``."""
    found = re.match(r"\*?(\d+)", name)
    return (int(found.group(1)) if found else 10**6, name)


@dataclass(frozen=True)
class DiplotypeMatch:
    """Two named alleles that together explain the genotypes, with their score."""

    allele1: str
    allele2: str
    score: int

    @property
    def name(self) -> str:
        """Return the diplotype as ``*1/*2``."""
        return f"{self.allele1}/{self.allele2}"


@dataclass(frozen=True)
class GeneMatch:
    """Every diplotype consistent with one sample's genotypes at one gene."""

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
    candidates: list[NamedAllele] = []
    uncallable: list[str] = []
    for allele in definition.alleles:
        if not allele.reference and not any(allele.defined[i] for i in available):
            uncallable.append(allele.name)
        else:
            candidates.append(allele)
    if not available or not candidates:
        return GeneMatch(
            definition.gene, phased, (), missing, tuple(uncallable), definition.version
        )
    first = [genotypes[i].first for i in available]
    second = [genotypes[i].second for i in available]
    refs = [definition.loci[i].ref for i in available]
    n_alleles, n_loci = len(candidates), len(available)
    fits1 = np.zeros((n_alleles, n_loci), dtype=bool)
    fits2 = np.zeros((n_alleles, n_loci), dtype=bool)
    wobble1 = np.zeros((n_alleles, n_loci), dtype=np.int32)
    wobble2 = np.zeros((n_alleles, n_loci), dtype=np.int32)
    scores = np.zeros(n_alleles, dtype=np.int32)
    for k, allele in enumerate(candidates):
        for j, index in enumerate(available):
            fits1[k, j] = allele.accepts(index, first[j])
            fits2[k, j] = allele.accepts(index, second[j])
            if allele.is_wobble(index):
                wobble1[k, j] = first[j] == refs[j]
                wobble2[k, j] = second[j] == refs[j]
        scores[k] = sum(allele.defined[i] for i in available)
    # An allele that fits neither haplotype at some locus can be in no diplotype.
    viable = np.flatnonzero((fits1 | fits2).all(axis=1))
    if viable.size == 0:
        return GeneMatch(
            definition.gene, phased, (), missing, tuple(uncallable), definition.version
        )
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
        definition.gene, phased, tuple(matches), missing, tuple(uncallable), definition.version
    )

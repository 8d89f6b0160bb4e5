"""Genotypes from a coalescent simulation, and traits of known genetic architecture.

msprime simulates the ancestry of the whole cohort (so nearby variants are in
linkage disequilibrium) and neutral mutations on it. Four traits are built on
the genotypes, each with heritability 0.5 and its causal variants recorded:

- ``additive``: a sum of allele dosages times normal effects;
- ``dominance``: heterozygotes deviate from the mean of the homozygotes;
- ``epistasis``: products of dosages of variant pairs, without main effects;
- ``depression_liability``: an additive liability (a different variant set)
  thresholded at 20 % prevalence; its continuous value raises each patient's
  vulnerability in the mood model, so genes cause part of the course of illness.
"""

from __future__ import annotations

from dataclasses import dataclass

import msprime
import numpy as np

__all__ = [
    "ARCHITECTURES",
    "CONTIGS",
    "Genotypes",
    "SimulatedTrait",
    "TraitTruth",
    "simulate_genotypes",
    "simulate_trait",
    "simulate_traits",
    "vcf_lines",
]

# GRCh38 lengths; variants are placed from 10 Mb on, away from the telomere.
CONTIGS = {"chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559}
_OFFSET = 10_000_000
_BASES = np.array(list("ACGT"))


@dataclass
class Genotypes:
    """Phased genotypes of a cohort: two haplotypes per sample."""

    samples: list[str]
    chrom: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    haplotypes: np.ndarray  # variants x (2 * samples), int8 0/1

    @property
    def ids(self) -> np.ndarray:
        """Variant ids, ``chrom:pos:ref:alt``."""
        return np.array(
            [
                f"{c}:{p}:{r}:{a}"
                for c, p, r, a in zip(self.chrom, self.pos, self.ref, self.alt, strict=True)
            ]
        )

    def dosages(self) -> np.ndarray:
        """Alternative-allele dosage per sample and variant (samples x variants, int8)."""
        dosage: np.ndarray = (self.haplotypes[:, 0::2] + self.haplotypes[:, 1::2]).T
        return dosage.astype(np.int8)


@dataclass
class TraitTruth:
    """Simulated trait values and the variants that cause them."""

    values: dict[str, np.ndarray]
    genetic: dict[str, np.ndarray]
    causal: list[tuple[str, int, float, str]]  # trait, variant index, effect, role


def simulate_genotypes(samples: list[str], seed: int, *, length: int = 2_000_000) -> Genotypes:
    """Simulate phased biallelic SNVs on three chromosome segments.

    Parameters
    ----------
    samples
        Sample names (the patients' source ids), one diploid individual each.
    seed
        Seed of msprime.
    length
        Base pairs simulated per chromosome.

    Returns
    -------
    Genotypes
        Variants with minor allele count of at least 5, in position order.
    """
    rng = np.random.default_rng([seed, 0])
    chrom, pos, ref, alt, haps = [], [], [], [], []
    for number, contig in enumerate(CONTIGS):
        ts = msprime.sim_ancestry(
            samples=len(samples),
            ploidy=2,
            sequence_length=length,
            recombination_rate=1e-8,
            population_size=10_000,
            random_seed=seed * 10 + number + 1,
        )
        ts = msprime.sim_mutations(
            ts, rate=1.2e-8, random_seed=seed * 10 + number + 1, model=msprime.BinaryMutationModel()
        )
        matrix = ts.genotype_matrix().astype(np.int8)
        count = matrix.sum(axis=1)
        keep = (count >= 5) & (count <= matrix.shape[1] - 5)  # drop near-monomorphic sites
        positions = ts.tables.sites.position.astype(np.int64)[keep] + _OFFSET
        keep_unique = np.concatenate([[True], np.diff(positions) > 0])
        matrix = matrix[keep][keep_unique]
        positions = positions[keep_unique]
        bases = rng.integers(0, 4, size=(len(positions), 2))
        bases[:, 1] = (bases[:, 0] + 1 + rng.integers(0, 3, len(positions))) % 4
        chrom.append(np.full(len(positions), contig))
        pos.append(positions)
        ref.append(_BASES[bases[:, 0]])
        alt.append(_BASES[bases[:, 1]])
        haps.append(matrix)
    return Genotypes(
        samples=samples,
        chrom=np.concatenate(chrom),
        pos=np.concatenate(pos),
        ref=np.concatenate(ref),
        alt=np.concatenate(alt),
        haplotypes=np.concatenate(haps),
    )


def _scaled(
    genetic: np.ndarray, rng: np.random.Generator, h2: float
) -> tuple[np.ndarray, np.ndarray]:
    genetic = (genetic - genetic.mean()) / genetic.std()
    noise = rng.normal(0, 1, genetic.size)
    return np.sqrt(h2) * genetic + np.sqrt(1 - h2) * noise, genetic


def simulate_traits(genotypes: Genotypes, seed: int, *, h2: float = 0.5) -> TraitTruth:
    """Simulate four traits of known architecture on the genotypes.

    Parameters
    ----------
    genotypes
        The cohort's genotypes.
    seed
        Seed of the effect sizes and the environmental noise.
    h2
        Heritability of every trait.

    Returns
    -------
    TraitTruth
        Trait values (standardised), their genetic parts, and the causal variants.
    """
    rng = np.random.default_rng([seed, 1])
    x = genotypes.dosages().astype(float)
    freq = x.mean(axis=0) / 2
    common = np.flatnonzero((freq > 0.05) & (freq < 0.95))
    pool = rng.permutation(common)
    causal: list[tuple[str, int, float, str]] = []
    values: dict[str, np.ndarray] = {}
    genetic: dict[str, np.ndarray] = {}

    additive_idx, pool = pool[:40], pool[40:]
    beta = rng.normal(0, 1, additive_idx.size)
    values["additive"], genetic["additive"] = _scaled(x[:, additive_idx] @ beta, rng, h2)
    causal += [
        ("additive", int(i), float(b), "additive") for i, b in zip(additive_idx, beta, strict=True)
    ]

    dominance_idx, pool = pool[:40], pool[40:]
    a = rng.normal(0, 0.3, dominance_idx.size)
    d = rng.choice([-1.0, 1.0], dominance_idx.size) * rng.uniform(1.0, 2.0, dominance_idx.size)
    het = (x[:, dominance_idx] == 1).astype(float)
    values["dominance"], genetic["dominance"] = _scaled(x[:, dominance_idx] @ a + het @ d, rng, h2)
    causal += [
        ("dominance", int(i), float(dd), "dominance")
        for i, dd in zip(dominance_idx, d, strict=True)
    ]

    pairs, pool = pool[:40].reshape(20, 2), pool[40:]
    gamma = rng.normal(0, 1, 20)
    centred = x - x.mean(axis=0)
    interaction = sum(
        g * centred[:, i] * centred[:, j] for g, (i, j) in zip(gamma, pairs, strict=True)
    )
    values["epistasis"], genetic["epistasis"] = _scaled(np.asarray(interaction), rng, h2)
    for number, ((i, j), g) in enumerate(zip(pairs, gamma, strict=True)):
        causal += [
            ("epistasis", int(i), float(g), f"pair{number}"),
            ("epistasis", int(j), float(g), f"pair{number}"),
        ]

    liability_idx = pool[:100]
    effects = rng.normal(0, 1, liability_idx.size)
    liability, genetic["depression_liability"] = _scaled(x[:, liability_idx] @ effects, rng, h2)
    values["depression_liability"] = (liability > np.quantile(liability, 0.8)).astype(float)
    causal += [
        ("depression_liability", int(i), float(b), "additive")
        for i, b in zip(liability_idx, effects, strict=True)
    ]
    return TraitTruth(values=values, genetic=genetic, causal=causal)


ARCHITECTURES = ("additive", "dominance", "epistasis", "pure_epistasis", "liability")
"""Trait architectures :func:`simulate_trait` builds."""


@dataclass
class SimulatedTrait:
    """One simulated trait: its values, genetic part and causal columns."""

    architecture: str
    values: np.ndarray
    genetic: np.ndarray
    causal: np.ndarray  # column indices into the dosage matrix, unique and sorted
    h2: float


def simulate_trait(
    dosages: np.ndarray,
    architecture: str,
    *,
    n_causal: int = 40,
    h2: float = 0.5,
    prevalence: float = 0.2,
    seed: int = 0,
) -> SimulatedTrait:
    """Simulate one trait of a named genetic architecture on a dosage matrix.

    Causal variants are drawn among the common ones (allele frequency 5 to
    95 %), and the genetic part is scaled to explain ``h2`` of the variance.

    - ``additive``: ``sum(beta * x)``, normal effects.
    - ``dominance``: small additive effects plus a heterozygote deviation of
      1 to 2 (either sign) at each variant, so the dosage-linear fit misses
      most of it.
    - ``epistasis``: ``n_causal / 2`` pairs, each acting when both carry a
      minor allele (``gamma * [x_i > 0] * [x_j > 0]``, allele orientation
      chosen so that the minor allele is the one counted): a non-additive
      trait whose variants still have marginal effects, so they can be found
      one at a time (as in duplicate or complementary gene action).
    - ``pure_epistasis``: pairs acting through the product of centred
      dosages only, with no marginal effect at all; a greedy tree or a
      marginal test cannot find such a variant on its own.
    - ``liability``: an additive liability thresholded at ``prevalence``
      (0/1 values); ``genetic`` is the liability's genetic part.

    Parameters
    ----------
    dosages
        Samples x variants, 0/1/2.
    architecture
        One of :data:`ARCHITECTURES`.
    n_causal
        Causal variants (pairs take two each).
    h2
        Share of the variance the genetic part explains (of the liability
        for ``liability``).
    prevalence
        Share of cases of a ``liability`` trait.
    seed
        Seed of the causal draw, the effects and the noise.

    Returns
    -------
    SimulatedTrait
        Standardised values (0/1 for ``liability``), the genetic part and
        the causal columns.

    Raises
    ------
    ValueError
        If the architecture is unknown, or there are too few common variants.
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            "Invalid value for the 'architecture' parameter. Allowed values are "
            f"{', '.join(repr(a) for a in ARCHITECTURES)}, but got {architecture!r} instead."
        )
    rng = np.random.default_rng([seed, 7, ARCHITECTURES.index(architecture)])
    x = dosages.astype(np.float64)
    freq = x.mean(axis=0) / 2
    common = np.flatnonzero((freq > 0.05) & (freq < 0.95))
    if len(common) < n_causal:
        raise ValueError(f"{len(common)} common variants; {n_causal} causal ones asked for.")
    chosen = rng.choice(common, size=n_causal, replace=False)
    if architecture in ("additive", "liability"):
        genetic = x[:, chosen] @ rng.normal(0, 1, n_causal)
    elif architecture == "dominance":
        het = (x[:, chosen] == 1).astype(np.float64)
        deviation = rng.choice([-1.0, 1.0], n_causal) * rng.uniform(1.0, 2.0, n_causal)
        genetic = x[:, chosen] @ rng.normal(0, 0.3, n_causal) + het @ deviation
    else:
        pairs = chosen[: 2 * (n_causal // 2)].reshape(-1, 2)
        gamma = rng.normal(0, 1, len(pairs))
        genetic = np.zeros(len(x))
        for g, (i, j) in zip(gamma, pairs, strict=True):
            if architecture == "pure_epistasis":
                genetic += g * (x[:, i] - x[:, i].mean()) * (x[:, j] - x[:, j].mean())
            else:
                # Count the minor allele, so that "carries one" is the rarer state.
                a = x[:, i] if freq[i] <= 0.5 else 2 - x[:, i]
                b = x[:, j] if freq[j] <= 0.5 else 2 - x[:, j]
                genetic += g * ((a > 0) & (b > 0))
        chosen = pairs.ravel()
    values, genetic = _scaled(genetic, rng, h2)
    if architecture == "liability":
        values = (values > np.quantile(values, 1 - prevalence)).astype(np.float64)
    return SimulatedTrait(architecture, values, genetic, np.sort(chosen), h2)


def vcf_lines(genotypes: Genotypes) -> tuple[list[str], list[str]]:
    """Return the header and the data lines of the cohort VCF.

    Parameters
    ----------
    genotypes
        The cohort's genotypes.

    Returns
    -------
    tuple of list of str
        Meta and column-header lines, then one line per variant.
    """
    header = [
        "##fileformat=VCFv4.2",
        "##source=clarity.synth (msprime coalescent simulation)",
        "##reference=GRCh38",
        *(f"##contig=<ID={name},length={size}>" for name, size in CONTIGS.items()),
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Alternative allele frequency">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Phased genotype">',
        "\t".join(
            [
                "#CHROM",
                "POS",
                "ID",
                "REF",
                "ALT",
                "QUAL",
                "FILTER",
                "INFO",
                "FORMAT",
                *genotypes.samples,
            ]
        ),
    ]
    codes = np.array(["0|0", "0|1", "1|0", "1|1"])
    haps = genotypes.haplotypes
    pairs = codes[haps[:, 0::2] * 2 + haps[:, 1::2]]
    freq = haps.mean(axis=1)
    rows = [
        f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\tAF={f:.4f}\tGT\t" + "\t".join(gts)
        for c, p, i, r, a, f, gts in zip(
            genotypes.chrom,
            genotypes.pos,
            genotypes.ids,
            genotypes.ref,
            genotypes.alt,
            freq,
            pairs,
            strict=True,
        )
    ]
    return header, rows

"""A small simulated cohort for the genotype tests, built once per process.

Genotypes come from :mod:`clarity.synth._genetics` (msprime, so nearby
variants are in LD) rather than from the VCF/PLINK readers, which are tested on
their own; the traits carry their causal variants, so tests can score a method
against the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from clarity.genotype import VARIANT_COLUMNS, DosageMatrix, TraitPanel, train_panel
from clarity.synth._genetics import TraitTruth, simulate_genotypes, simulate_traits

SEED = 7
SAMPLES = 1_000
LENGTH = 500_000  # bp per chromosome: about 4,600 variants over three chromosomes


@dataclass(frozen=True)
class Simulated:
    """A dosage matrix, its traits and the causal variants of each trait."""

    matrix: DosageMatrix
    truth: TraitTruth

    def trait(self, name: str) -> np.ndarray:
        return self.truth.values[name]

    def causal(self, name: str) -> list[int]:
        """Column indices of the causal variants of a trait (unique, in column order)."""
        return sorted({index for trait, index, _, _ in self.truth.causal if trait == name})


def build(samples: int, *, seed: int = SEED, length: int = LENGTH) -> Simulated:
    """Simulate ``samples`` people: their dosage matrix, traits and causal variants."""
    genotypes = simulate_genotypes([f"S{i:04d}" for i in range(samples)], seed, length=length)
    truth = simulate_traits(genotypes, seed)
    variants = pd.DataFrame(
        {
            "chrom": genotypes.chrom.astype(str),
            "pos": genotypes.pos.astype(np.int64),
            "id": genotypes.ids,
            "ref": genotypes.ref.astype(str),
            "alt": genotypes.alt.astype(str),
        },
        columns=list(VARIANT_COLUMNS),
    )
    matrix = DosageMatrix(
        dosages=np.ascontiguousarray(genotypes.dosages()),
        samples=tuple(genotypes.samples),
        variants=variants,
    )
    return Simulated(matrix=matrix, truth=truth)


@cache
def simulated() -> Simulated:
    """Return the cohort (1,000 people, ~4,600 variants), the same object on every call."""
    return build(SAMPLES)


def ld_proxies(matrix: DosageMatrix, causal: list[int], *, r2: float = 0.5) -> list[set[int]]:
    """Return, per causal column, the columns on its chromosome with r² > ``r2`` (itself included).

    Only the causal columns' correlations are computed (a few dozen rows), so
    this stays cheap on the whole test matrix.
    """
    x = matrix.to_float().astype(np.float64)
    x -= x.mean(axis=0)
    sd = x.std(axis=0)
    z = np.divide(x, sd, out=np.zeros_like(x), where=sd > 0)
    chrom = matrix.variants["chrom"].to_numpy()
    proxies = []
    for column in causal:
        r = z[:, column] @ z / len(z)
        hits = set(np.flatnonzero((r**2 > r2) & (chrom == chrom[column])).tolist())
        proxies.append(hits | {column})
    return proxies


def recovery(selected: list[int], proxies: list[set[int]]) -> tuple[float, float]:
    """Return (precision, recall) of a selection against causal variants and their LD proxies.

    Precision: the share of selected columns that are a causal variant or a
    proxy of one. Recall: the share of causal variants with at least one
    selected proxy.
    """
    chosen = set(selected)
    tagged = set().union(*proxies) if proxies else set()
    precision = len(chosen & tagged) / len(chosen) if chosen else 0.0
    recall = sum(bool(p & chosen) for p in proxies) / len(proxies) if proxies else 0.0
    return precision, recall


PANEL_SAMPLES = 700  # the reference cohort of the panel tests; the other 300 are "patients"
PANEL_TRAITS = ("additive", "depression_liability")


@cache
def panel_and_patients() -> tuple[TraitPanel, DosageMatrix]:
    """Return a small panel trained on the first 700 people, and the other 300 as patients.

    Two traits (one continuous, one 0/1), a 20-SNP selection from the 300
    smallest p-values and 5 bootstrap replicates keep it to a few seconds.
    """
    data = simulated()
    reference = data.matrix.subset(samples=np.arange(PANEL_SAMPLES))
    patients = data.matrix.subset(samples=np.arange(PANEL_SAMPLES, SAMPLES))
    phenotypes = pd.DataFrame(
        {t: data.trait(t)[:PANEL_SAMPLES] for t in PANEL_TRAITS},
        index=pd.Index(reference.samples, name="IID"),
    )
    panel = train_panel(
        reference,
        phenotypes,
        n_pcs=2,
        selector={"n_keep": 20, "prescreen": 300, "shrink": 0.25, "xgb_params": {"nthread": 1}},
        n_bootstrap=5,
        xgb_params={"nthread": 1},
        random_state=1,
    )
    return panel, patients

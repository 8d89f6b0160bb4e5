"""The causal model's known answers: metaboliser effects, genetics, PGx calls."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import numpy as np
import pyarrow.parquet as pq
import pytest
from cyvcf2 import VCF

from clarity.synth._genetics import simulate_genotypes, simulate_traits
from clarity.synth._latent import EXPOSURE, draw_traits, simulate
from clarity.synth._pgx import draw_pgx, phenotype_of, vcf_alleles


@pytest.mark.parametrize(
    ("gene", "a1", "a2", "expected"),
    [
        ("CYP2D6", "*1", "*1", (2.0, "NM")),
        ("CYP2D6", "*4", "*4", (0.0, "PM")),
        ("CYP2D6", "*1", "*2x2", (3.0, "UM")),
        ("CYP2D6", "*10", "*41", (0.75, "IM")),
        ("CYP2C19", "*2", "*2", (0.0, "PM")),
        ("CYP2C19", "*1", "*2", (1.0, "IM")),
        ("CYP2C19", "*2", "*17", (2.0, "IM")),
        ("CYP2C19", "*17", "*17", (4.0, "UM")),
        ("CYP2C9", "*1", "*3", (1.0, "IM")),
        ("CYP2B6", "*6", "*6", (1.0, "PM")),
        ("CYP2B6", "*1", "*4", (3.0, "RM")),
    ],
)
def test_phenotype_of__follows_cpic_rules(gene, a1, a2, expected):
    assert phenotype_of(gene, a1, a2) == expected


def test_draw_pgx__frequencies_match_the_population(global_random_seed):
    rng = np.random.default_rng(global_random_seed)
    alleles = [
        a
        for _ in range(3000)
        for c in draw_pgx(rng, "east_asian")
        if c.gene == "CYP2C19"
        for a in (c.allele1, c.allele2)
    ]
    share = alleles.count("*2") / len(alleles)
    assert abs(share - 0.284) < 0.03


def test_simulate__poor_metabolisers_get_more_side_effects_and_drop_out_more(global_random_seed):
    dropouts = {"high": [], "low": []}
    side = {"high": [], "low": []}
    for index in range(500):
        rng = np.random.default_rng([global_random_seed, index])
        traits = draw_traits(rng, index, date(2024, 1, 1))
        trajectory = simulate(traits, 120, rng)
        for course in trajectory.courses:
            if course.kind != "drug":
                continue
            group = (
                "high"
                if course.exposure >= EXPOSURE["IM"]
                else "low"
                if course.exposure <= 1.0
                else None
            )
            first_weeks = trajectory.side_effects[course.start_day : course.stop_day][:28]
            if group and first_weeks.size:
                dropouts[group].append(course.stop_reason == "side effects")
                side[group].append(first_weeks.mean())
    assert np.mean(side["high"]) > 1.3 * np.mean(side["low"])
    assert np.mean(dropouts["high"]) > np.mean(dropouts["low"])


def test_simulate__treatment_lowers_depression():
    treated, untreated = [], []
    for index in range(300):
        rng = np.random.default_rng([7, index])
        traits = draw_traits(rng, index, date(2024, 1, 1))
        trajectory = simulate(traits, 150, rng)
        on_drug = [
            c
            for c in trajectory.courses
            if c.kind == "drug" and c.stop_day is None and c.start_day < 30
        ]
        if trajectory.depression[0] > 0.5:
            (treated if on_drug else untreated).append(trajectory.depression[-30:].mean())
    assert len(treated) > 30
    assert np.mean(treated) < 0.45


def test_genotypes__linkage_disequilibrium_decays_with_distance():
    genotypes = simulate_genotypes([f"S{i}" for i in range(300)], seed=3, length=1_000_000)
    x = genotypes.dosages().astype(float)
    chr1 = np.flatnonzero(genotypes.chrom == "chr1")
    common = [i for i in chr1 if 0.1 < x[:, i].mean() / 2 < 0.9]
    near, far = [], []
    for a, b in pairwise(common):
        near.append(np.corrcoef(x[:, a], x[:, b])[0, 1] ** 2)
    for a, b in zip(common, common[len(common) // 2 :], strict=False):
        far.append(np.corrcoef(x[:, a], x[:, b])[0, 1] ** 2)
    assert np.mean(near) > 3 * np.mean(far)


def test_traits__heritability_and_causal_variants_are_as_declared():
    genotypes = simulate_genotypes([f"S{i}" for i in range(1500)], seed=4)
    traits = simulate_traits(genotypes, seed=4)
    x = genotypes.dosages().astype(float)
    additive = [i for t, i, _, _ in traits.causal if t == "additive"]
    design = np.column_stack([np.ones(len(x)), x[:, additive]])
    y = traits.values["additive"]
    fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    r2 = 1 - np.var(y - fitted) / np.var(y)
    assert 0.4 < r2 < 0.65  # h2 = 0.5 plus overfitting of 40 coefficients
    dominance = [i for t, i, _, _ in traits.causal if t == "dominance"]
    linear = np.column_stack([np.ones(len(x)), x[:, dominance]])
    with_het = np.column_stack([linear, (x[:, dominance] == 1).astype(float)])
    y = traits.values["dominance"]
    r2_linear = 1 - np.var(y - linear @ np.linalg.lstsq(linear, y, rcond=None)[0]) / np.var(y)
    r2_full = 1 - np.var(y - with_het @ np.linalg.lstsq(with_het, y, rcond=None)[0]) / np.var(y)
    assert r2_full > r2_linear + 0.15  # the dominance trait is not additive
    assert traits.values["depression_liability"].mean() == pytest.approx(0.2, abs=0.01)


def test_pgx_vcf__calls_agree_with_the_drawn_diplotypes(cohort):
    patients = (
        pq.read_table(cohort / "truth" / "patients.parquet").to_pandas().set_index("source_id")
    )
    vcf = VCF(str(cohort / "pgx" / "pgx.vcf.gz"))
    samples = vcf.samples
    star2 = vcf_alleles("CYP2C19", "*2")
    defining = 94781859  # rs4244285, the *2 splice variant
    assert star2 is not None and star2[defining] == "A"
    for variant in vcf("chr10:94781859-94781859"):
        for sample, genotype in zip(samples, variant.genotypes, strict=True):
            diplotype = patients.loc[sample, "CYP2C19_diplotype"]
            assert genotype[0] + genotype[1] == diplotype.split("/").count("*2")

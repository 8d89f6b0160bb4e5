"""Phenotypes, outside calls, phenoconversion, source conflicts, and the synthetic cohort."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clarity.contracts import PGxSource
from clarity.errors import InputError
from clarity.pgx import (
    call_vcf,
    combine_sources,
    convert,
    hla_status,
    parse_outside_calls,
    phenotype_from_call,
    phenotype_of_diplotype,
)
from clarity.pgx._phenotype import allele_function, phenotype_from_activity

# ------------------------------------------------------------------ phenotypes


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, "Poor Metabolizer"),
        (0.25, "Intermediate Metabolizer"),
        (1.0, "Intermediate Metabolizer"),
        (1.25, "Normal Metabolizer"),
        (2.25, "Normal Metabolizer"),
        (2.5, "Ultrarapid Metabolizer"),
    ],
)
def test_cyp2d6_activity_cutoffs__are_cpics(score: float, expected: str):
    assert phenotype_from_activity("CYP2D6", score) == expected


@pytest.mark.parametrize(
    ("gene", "diplotype", "phenotype", "score"),
    [
        ("CYP2D6", "*1/*4", "Intermediate Metabolizer", 1.0),
        ("CYP2D6", "*4/*4", "Poor Metabolizer", 0.0),
        ("CYP2D6", "*1/*10", "Normal Metabolizer", 1.25),
        ("CYP2D6", "*1x2/*2", "Ultrarapid Metabolizer", 3.0),
        ("CYP2D6", "*1/*5", "Intermediate Metabolizer", 1.0),
        ("CYP2C9", "*1/*3", "Intermediate Metabolizer", 1.0),
        ("CYP2C9", "*3/*3", "Poor Metabolizer", 0.0),
        ("CYP2C19", "*1/*17", "Rapid Metabolizer", None),
        ("CYP2C19", "*17/*17", "Ultrarapid Metabolizer", None),
        ("CYP2C19", "*2/*17", "Intermediate Metabolizer", None),
        ("CYP2C19", "*2/*3", "Poor Metabolizer", None),
        ("CYP2B6", "*6/*6", "Poor Metabolizer", None),
        ("CYP2B6", "*1/*6", "Intermediate Metabolizer", None),
    ],
)
def test_phenotype_of_diplotype(gene: str, diplotype: str, phenotype: str, score: float | None):
    first, second = diplotype.split("/")
    result = phenotype_of_diplotype(gene, first, second)
    assert result.phenotype == phenotype
    assert result.activity_score == score


def test_allele_of_unknown_function__gives_indeterminate():
    # CYP2D6 *22 has no settled CPIC activity value.
    assert allele_function("CYP2D6", "*22").activity is None
    assert phenotype_of_diplotype("CYP2D6", "*1", "*22").phenotype == "Indeterminate"


def test_hla_status__reports_carriage_of_each_guideline_allele():
    assert hla_status("HLA-A", "*31:01/*02:01") == {"*31:01": "positive"}
    assert hla_status("HLA-B", "*15:02:01/*07:02") == {
        "*15:02": "positive",
        "*57:01": "negative",
        "*58:01": "negative",
    }


# ------------------------------------------------------------ phenoconversion


def test_strong_cyp2d6_inhibitor__makes_a_normal_metaboliser_poor():
    result = convert("CYP2D6", "Normal Metabolizer", 2.0, ["Fluoxetine", "lithium"])
    assert (result.phenotype, result.activity_score) == ("Poor Metabolizer", 0.0)
    assert result.inhibitors == ("fluoxetine",) and result.strength == "strong"
    assert "fluoxetine" in (result.reason or "")


def test_moderate_inhibitor__halves_the_activity_score():
    result = convert("CYP2D6", "Normal Metabolizer", 2.0, ["duloxetine"])
    assert (result.phenotype, result.activity_score) == ("Intermediate Metabolizer", 1.0)


def test_strongest_inhibitor_wins_and_nothing_compounds():
    result = convert("CYP2D6", "Normal Metabolizer", 2.0, ["duloxetine", "mirabegron"])
    assert result.activity_score == 1.0
    both = convert("CYP2D6", "Normal Metabolizer", 2.0, ["duloxetine", "paroxetine"])
    assert both.strength == "strong" and both.inhibitors == ("paroxetine",)


def test_cyp2c19_inhibitors__move_function_phenotypes_down():
    assert convert("CYP2C19", "Normal Metabolizer", None, ["fluvoxamine"]).phenotype == (
        "Poor Metabolizer"
    )
    assert convert("CYP2C19", "Ultrarapid Metabolizer", None, ["omeprazole"]).phenotype == (
        "Rapid Metabolizer"
    )


def test_no_inhibitor__leaves_the_phenotype_alone():
    result = convert("CYP2D6", "Normal Metabolizer", 2.0, ["sertraline"])
    assert result.reason is None and result.phenotype == "Normal Metabolizer"


def test_phenotype_record__carries_both_phenotypes_and_the_reason():
    record = phenotype_from_call(
        "CYP2D6", "*1/*2", source=PGxSource.outside_call, medications=["paroxetine"]
    )
    assert record.phenotype == "Normal Metabolizer"
    assert record.adjusted_phenotype == "Poor Metabolizer"
    assert "paroxetine" in (record.phenoconversion or "")


# -------------------------------------------------------------- outside calls


def test_outside_calls__parse_pharmcats_format():
    calls = parse_outside_calls(
        "# lab X\nCYP2D6\t*1/*4x2\nHLA-B\t*15:02/*57:01\nMT-RNR1\t1555A>G\n"
    )
    assert [(c.gene, c.diplotype, c.covered) for c in calls] == [
        ("CYP2D6", "*1/*4x2", True),
        ("HLA-B", "*15:02/*57:01", True),
        ("MT-RNR1", "1555A>G", False),
    ]
    assert phenotype_from_call("CYP2D6", "*1/*4x2", source=PGxSource.outside_call).phenotype == (
        "Intermediate Metabolizer"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("CYP2D6\t*1/*999\n", r"line 1: CYP2D6 allele '\*999' is not a known CYP2D6"),
        ("CYP2C19\t*1\n", "not two alleles"),
        ("HLA-B\t*1502/*57:01\n", "not an HLA allele"),
        ("CYP2C19\t*1/*2\nCYP2C19\t*1/*1\n", "line 2: CYP2C19 is called again"),
        ("CYP2C19\t*1/*2x2\n", "copy number is only read for CYP2D6"),
        ("CYP2D6\t*1/*4\t\tabc\n", "activity score 'abc' is not a number"),
    ],
)
def test_outside_calls__refuse_bad_lines_precisely(text: str, message: str):
    with pytest.raises(InputError, match=message):
        parse_outside_calls(text)


# -------------------------------------------------------------- combining sources


def test_panel_disagreeing_with_vcf__is_a_conflict_and_indeterminate():
    vcf = {"CYP2C19": phenotype_from_call("CYP2C19", "*1/*1", source=PGxSource.vcf)}
    panel = {"CYP2C19": phenotype_from_call("CYP2C19", "*2/*2", source=PGxSource.panel)}
    merged = combine_sources(vcf, panel)["CYP2C19"]
    assert merged.phenotype == "Indeterminate"
    assert "the VCF calls *1/*1 but the panel reports *2/*2" in merged.conflicts[0]


def test_panel_agreeing_with_vcf__confirms_it():
    vcf = {"CYP2C19": phenotype_from_call("CYP2C19", "*1/*2", source=PGxSource.vcf)}
    panel = {"CYP2C19": phenotype_from_call("CYP2C19", "*1/*2", source=PGxSource.panel)}
    merged = combine_sources(vcf, panel)["CYP2C19"]
    assert merged.phenotype == "Intermediate Metabolizer" and not merged.conflicts


def test_panel_phenotype_disagreeing_with_cpic__is_flagged():
    record = phenotype_from_call(
        "CYP2C19", "*1/*2", source=PGxSource.panel, reported_phenotype="Normal Metabolizer"
    )
    assert record.phenotype == "Intermediate Metabolizer"
    assert "reports Normal Metabolizer" in record.conflicts[0]


# ----------------------------------------------------------- synthetic cohort


def test_synthetic_cohort__called_diplotypes_equal_the_generated_ones(pgx_cohort: Path):
    truth = pq.read_table(pgx_cohort / "truth" / "patients.parquet").to_pandas()
    truth = truth.set_index("source_id")
    called = call_vcf(pgx_cohort / "pgx" / "pgx.vcf.gz")
    assert set(called) == set(truth.index)
    outcome: Counter[tuple[str, str]] = Counter()
    for sample, genes in called.items():
        for gene, result in genes.items():
            generated = truth.loc[sample, f"{gene}_diplotype"]
            alleles = generated.split("/")
            if gene == "CYP2D6" and any("x" in a or a == "*5" for a in alleles):
                outcome[gene, "structural"] += 1  # copy number: only an outside call sees it
                continue
            candidates = {c.diplotype for c in result.candidates}
            assert generated in candidates, (sample, gene, generated, result.diplotypes)
            if result.diplotypes == (generated,):
                outcome[gene, "exact"] += 1
            elif generated in result.diplotypes:
                outcome[gene, "tie"] += 1  # sub-alleles the SNVs cannot tell apart
            else:
                # Unphased CYP2B6 *5/*6 is also *1/*7; PharmCAT's rule (the longest match)
                # picks *1/*7. Nothing else may differ.
                assert (gene, generated, result.diplotypes) == ("CYP2B6", "*5/*6", ("*1/*7",))
                outcome[gene, "phase"] += 1
    n = len(called)
    assert outcome["CYP2C19", "exact"] == n
    assert outcome["CYP2C9", "exact"] == n
    assert outcome["CYP2B6", "exact"] >= 0.9 * n
    assert (
        outcome["CYP2D6", "exact"] + outcome["CYP2D6", "tie"] + outcome["CYP2D6", "structural"] == n
    )


def test_synthetic_cohort__panel_and_vcf_agree_on_phenotypes(pgx_cohort: Path):
    import csv

    with (pgx_cohort / "pgx" / "panel.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    called = call_vcf(pgx_cohort / "pgx" / "pgx.vcf.gz")
    agree = total = 0
    for row in rows[:200]:
        if row["gene"] not in ("CYP2C19", "CYP2C9"):
            continue
        panel = phenotype_from_call(row["gene"], row["diplotype"], source=PGxSource.panel)
        vcf = called[row["patient_id"]][row["gene"]]
        total += 1
        agree += panel.phenotype == vcf.phenotype
    assert total > 50 and agree == total


def test_panel_call_among_the_vcfs_phase_candidates__resolves_the_phase(tmp_path: Path):
    from clarity.pgx import gene_definition, match_gene, phenotype_from_match
    from clarity.pgx._vcf import Genotype

    definition = gene_definition("CYP2B6")
    # *5/*6 unphased is also *1/*7 (PharmCAT calls *1/*7, the longest match).
    wanted = {
        i: Genotype(locus.ref, alt, False)
        for i, locus in enumerate(definition.loci)
        for allele in ("*5", "*6")
        for alt in [next(a for a in definition.alleles if a.name == allele).alleles[i]]
        if alt != locus.ref
    }
    genotypes = {
        i: wanted.get(i, Genotype(loc.ref, loc.ref, False)) for i, loc in enumerate(definition.loci)
    }
    vcf = phenotype_from_match(match_gene(definition, genotypes), [])
    assert vcf.diplotypes == ("*1/*7",)
    panel = phenotype_from_call("CYP2B6", "*5/*6", source=PGxSource.panel)
    merged = combine_sources({"CYP2B6": vcf}, {"CYP2B6": panel})["CYP2B6"]
    assert merged.diplotypes == ("*5/*6",) and not merged.conflicts
    assert "fits the VCF genotypes" in merged.messages[-1]


def test_outside_cyp2d6_call_that_the_snvs_forbid__is_a_conflict():
    from clarity.pgx import gene_definition, match_gene, phenotype_from_match
    from clarity.pgx._vcf import Genotype

    definition = gene_definition("CYP2D6")
    star4 = next(a for a in definition.alleles if a.name == "*4")
    # Homozygous *4 (its defining bases on both haplotypes, no wobbles used).
    genotypes = {
        i: Genotype(star4.alleles[i], star4.alleles[i], False)
        if star4.defined[i] and not star4.is_wobble(i)
        else Genotype(locus.ref, locus.ref, False)
        for i, locus in enumerate(definition.loci)
    }
    vcf = phenotype_from_match(match_gene(definition, genotypes), [])
    assert vcf.phenotype == "Poor Metabolizer"
    outside = phenotype_from_call("CYP2D6", "*1/*1", source=PGxSource.outside_call)
    merged = combine_sources({"CYP2D6": vcf}, {"CYP2D6": outside})["CYP2D6"]
    assert merged.source.value == "outside_call"
    assert "which the VCF's SNVs do not allow" in merged.conflicts[0]
    # A deletion hides SNVs: *4/*5 from outside agrees with homozygous-looking *4.
    deletion = phenotype_from_call("CYP2D6", "*4/*5", source=PGxSource.outside_call)
    assert not combine_sources({"CYP2D6": vcf}, {"CYP2D6": deletion})["CYP2D6"].conflicts


def test_not_called__says_why():
    from clarity.pgx import gene_definition, match_gene, phenotype_from_match
    from clarity.pgx._vcf import Genotype

    definition = gene_definition("CYP2C19")
    nothing = phenotype_from_match(match_gene(definition, {}), [])
    assert not nothing.called and "none of its loci is in the file" in nothing.messages[-1]
    # A haplotype no named allele explains: T/T at rs12248560 with the reference at rs3758581.
    genotypes = {
        i: Genotype("T", "T", False)
        if locus.rsid == "rs12248560"
        else Genotype(locus.ref, locus.ref, False)
        for i, locus in enumerate(definition.loci)
    }
    unexplained = phenotype_from_match(match_gene(definition, genotypes), [])
    assert not unexplained.called
    assert "no pair of named alleles explains the genotypes" in unexplained.messages[-1]


def test_reported_calls__refuse_what_cannot_be_read_and_flag_disagreeing_scores():
    with pytest.raises(InputError, match="an HLA call needs the alleles"):
        phenotype_from_call("HLA-B", None, source=PGxSource.panel, reported_phenotype="positive")
    with pytest.raises(InputError, match="neither a diplotype nor a phenotype"):
        phenotype_from_call("CYP2C19", None, source=PGxSource.panel)
    scored = phenotype_from_call("CYP2D6", "*1/*4", source=PGxSource.panel, reported_activity=2.0)
    assert "activity score 2" in scored.conflicts[0] and scored.activity_score == 1.0


def test_vcf_and_panel_disagreeing_on_diplotype_but_not_phenotype__keep_it_with_a_conflict():
    vcf = {"CYP2C19": phenotype_from_call("CYP2C19", "*1/*2", source=PGxSource.vcf)}
    panel = {"CYP2C19": phenotype_from_call("CYP2C19", "*1/*3", source=PGxSource.panel)}
    merged = combine_sources(vcf, panel)["CYP2C19"]
    assert merged.phenotype == "Intermediate Metabolizer"
    assert merged.conflicts[0].endswith("both are Intermediate Metabolizer.")

"""The trained panel: per-trait models with SNP sets, metrics and percentiles, saved and scored.

The panel is trained once (``_simulated.panel_and_patients``) on 700 simulated
people and scores the other 300, whose true genetic values are known.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from clarity.errors import InputError
from clarity.genotype import (
    KINDS,
    MISSING,
    VARIANT_COLUMNS,
    DosageMatrix,
    TraitPanel,
    align_to,
    train_panel,
)
from tests.genotype._simulated import PANEL_SAMPLES, PANEL_TRAITS, panel_and_patients, simulated


def _by_trait(scores: dict, trait: str) -> list:
    return [next(r for r in risks if r.trait == trait) for risks in scores.values()]


def test_train_panel__every_kind_is_evaluated_and_the_ensemble_served():
    panel, _ = panel_and_patients()
    assert panel.traits == PANEL_TRAITS
    for trait in PANEL_TRAITS:
        assert set(panel.metrics[trait]) == set(KINDS)
        assert panel.models[trait].kind == "ensemble"
        assert panel.models[trait].snp_set_version == panel.snp_sets[trait].version
        assert len(panel.snp_sets[trait].variants) == 20
        # The reference distribution is the held-out 20 %: 140 of the 700.
        assert len(panel.reference_scores[trait]) == 140
    assert "auc" in panel.metrics["depression_liability"]["ensemble"]
    assert "r2" in panel.metrics["additive"]["ensemble"]
    # Measured: held-out R² 0.39 (ensemble; prs_ct 0.11) on 560 training people, AUC 0.76.
    assert panel.metrics["additive"]["ensemble"]["r2"] > 0.25
    assert panel.metrics["depression_liability"]["ensemble"]["auc"] > 0.6
    assert panel.pca is not None and panel.pca.n_components == 2
    # Everything a model or the PCA reads is in the panel's variant table, once.
    ids = list(panel.variants["id"])
    assert len(set(ids)) == len(ids)
    assert set(panel.pca.variants) | {v for m in panel.models.values() for v in m.snp_ids} == set(
        ids
    )


def test_score__scores_track_the_true_genetic_value_and_percentiles_the_scores():
    panel, patients = panel_and_patients()
    scores = panel.score(patients)
    assert list(scores) == list(patients.samples)
    truth = simulated().truth.genetic["additive"][PANEL_SAMPLES:]
    additive = _by_trait(scores, "additive")
    values = np.array([r.score for r in additive])
    # Measured: Spearman 0.91 between the score and the simulated genetic value.
    assert spearmanr(values, truth).statistic > 0.7
    percentiles = np.array([r.percentile for r in additive])
    assert spearmanr(values, percentiles).statistic > 0.999
    assert 0 <= percentiles.min() and percentiles.max() <= 100
    # Patients are new people, like the held-out reference samples: percentiles spread out.
    assert 20 < np.median(percentiles) < 80
    for risk in additive:
        assert risk.interval_lower <= risk.score <= risk.interval_upper
        assert risk.snps_missing == 0 and risk.reason is None
        assert risk.panel_version == panel.version
        assert risk.held_out_metric == "r2"
        assert risk.baseline_held_out_value == panel.metrics["additive"]["prs_ct"]["r2"]
    binary = _by_trait(scores, "depression_liability")
    assert all(0 <= r.score <= 1 and r.binary and r.held_out_metric == "auc" for r in binary)


def test_score__top_snps_carry_the_patients_dosage_and_add_to_the_margin():
    panel, patients = panel_and_patients()
    first = panel.score(patients.subset(samples=[0]))[patients.samples[0]]
    risk = next(r for r in first if r.trait == "additive")
    assert 1 <= len(risk.top_snps) <= 5
    contributions = [abs(s.contribution) for s in risk.top_snps]
    assert contributions == sorted(contributions, reverse=True)
    columns = {v: i for i, v in enumerate(patients.variants["id"])}
    for snp in risk.top_snps:
        assert snp.dosage == int(patients.dosages[0, columns[snp.variant_id]])
        row = patients.variants.iloc[columns[snp.variant_id]]
        assert (snp.chrom, snp.pos, snp.effect_allele) == (row["chrom"], row["pos"], row["alt"])


def test_score__alleles_swapped_and_ids_renamed_give_the_same_scores():
    panel, patients = panel_and_patients()
    sample = patients.subset(samples=np.arange(10))
    expected = panel.score(sample)
    # Another lab: rsID-like ids, REF/ALT the other way round, other variant order.
    order = np.random.default_rng(0).permutation(sample.n_variants)
    dosages = np.asarray(sample.dosages)[:, order]
    flipped = np.where(dosages == MISSING, MISSING, 2 - dosages).astype(np.int8)
    variants = sample.variants.iloc[order].reset_index(drop=True)
    variants = variants.assign(
        id=[f"rs{i}" for i in range(len(variants))], ref=variants["alt"], alt=variants["ref"]
    )
    theirs = DosageMatrix(flipped, sample.samples, variants)
    aligned = align_to(theirs, panel.variants)
    assert (aligned.matched, aligned.swapped, aligned.missing) == (0, len(panel.variants), 0)
    got = panel.score(theirs)
    for sample_id in sample.samples:
        for a, b in zip(expected[sample_id], got[sample_id], strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-12)
            assert a.percentile == b.percentile


def test_score__a_call_set_missing_most_model_snps_is_not_scored_and_says_why():
    panel, patients = panel_and_patients()
    sample = patients.subset(samples=[0, 1])
    model_snps = set(panel.models["additive"].snp_ids)
    keep = [i for i, v in enumerate(sample.variants["id"]) if v not in model_snps]
    partial = sample.subset(variants=keep)
    risks = panel.score(partial)[sample.samples[0]]
    additive = next(r for r in risks if r.trait == "additive")
    assert additive.score is None and additive.percentile is None
    n = len(model_snps)  # the ensemble reads the elastic net's SNPs and the selected ones
    assert additive.snps_missing == additive.n_snps == n > 20
    assert f"lacks {n} of the model's {n} variants; at most 20% may be missing" in additive.reason
    # The other trait's model shares some SNPs with this one but lacks few enough: scored.
    other = next(r for r in risks if r.trait == "depression_liability")
    shared = set(panel.models[other.trait].snp_ids) & model_snps
    assert other.snps_missing == len(shared)
    assert (other.score is not None) == (len(shared) <= 0.2 * other.n_snps)
    # A patient with a few no-calls is scored; the calls are filled with training means.
    dosages = np.array(sample.dosages)
    column = list(sample.variants["id"]).index(panel.models["additive"].snp_ids[0])
    dosages[0, column] = MISSING
    few = DosageMatrix(dosages, sample.samples, sample.variants)
    scored = next(r for r in panel.score(few)[sample.samples[0]] if r.trait == "additive")
    assert scored.score is not None and scored.snps_missing == 1
    with pytest.raises(ValueError, match="'max_missing' parameter"):
        panel.score(sample, max_missing=1.0)


def test_save_load__round_trip_scores_identically_and_tampering_is_refused(tmp_path):
    panel, patients = panel_and_patients()
    panel.save(tmp_path / "panel")
    loaded = TraitPanel.load(tmp_path / "panel")
    assert loaded.version == panel.version
    sample = patients.subset(samples=np.arange(5))
    for a, b in zip(panel.score(sample).values(), loaded.score(sample).values(), strict=True):
        assert [r.model_dump() for r in a] == [r.model_dump() for r in b]
    # A changed member, a changed manifest, a missing file: each refused, with the cause named.
    changed = tmp_path / "changed"
    shutil.copytree(tmp_path / "panel", changed)
    with (changed / "snp_sets" / "additive.json").open("a") as handle:
        handle.write(" ")
    with pytest.raises(InputError, match=r"snp_sets/additive\.json is missing or changed"):
        TraitPanel.load(changed)
    edited = tmp_path / "edited"
    shutil.copytree(tmp_path / "panel", edited)
    manifest = json.loads((edited / "panel.json").read_text())
    manifest["reference_scores"]["additive"][0] += 1.0
    (edited / "panel.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="hashes to"):
        TraitPanel.load(edited)
    (edited / "pca.npz").unlink()
    with pytest.raises(InputError, match=r"pca\.npz is missing or changed"):
        TraitPanel.load(edited)
    with pytest.raises(InputError, match=r"no readable panel\.json"):
        TraitPanel.load(tmp_path / "nowhere")


def test_train_panel__plink_case_control_coding_and_bad_inputs():
    data = simulated()
    reference = data.matrix.subset(samples=np.arange(300), variants=np.arange(0, 4_000, 4))
    plink_coded = data.trait("depression_liability")[:300] + 1  # 1 = control, 2 = case
    phenotypes = pd.DataFrame({"case": plink_coded}, index=list(reference.samples))
    quick = {
        "n_pcs": 0,
        "selector": {"n_keep": 10, "prescreen": 100, "shrink": 0.25},
        "n_bootstrap": 0,
        "kind": "xgboost",
    }
    panel = train_panel(reference, phenotypes, **quick)
    assert panel.models["case"].binary and panel.pca is None
    risks = panel.score(reference.subset(samples=[0]))[reference.samples[0]]
    assert risks[0].interval_lower is None and 0 <= risks[0].score <= 1
    with pytest.raises(InputError, match="rename the columns"):
        train_panel(reference, phenotypes.rename(columns={"case": "Case"}), **quick)
    with pytest.raises(InputError, match="have no column"):
        train_panel(reference, phenotypes, traits=["height"], **quick)
    with pytest.raises(InputError, match="name none of the genotyped samples"):
        train_panel(reference, phenotypes.set_axis([f"X{i}" for i in range(300)]), **quick)
    with pytest.raises(ValueError, match="'kind' parameter"):
        train_panel(reference, phenotypes, **{**quick, "kind": "forest"})
    with pytest.raises(InputError, match="held-out samples"):
        train_panel(reference, phenotypes, **{**quick, "test_fraction": 0.03})


def test_align_to__counts_other_alleles_and_absent_variants():
    table = pd.DataFrame(
        {
            "chrom": ["chr1"] * 4,
            "pos": [100, 200, 300, 400],
            "id": ["a", "b", "c", "d"],
            "ref": ["A", "C", "G", "T"],
            "alt": ["G", "T", "A", "C"],
        },
        columns=list(VARIANT_COLUMNS),
    )
    theirs = table.iloc[:3].assign(alt=["G", "A", "A"], id=["x", "y", "z"])  # 200: other alleles
    patient = DosageMatrix(np.array([[2, 1, MISSING]], dtype=np.int8), ("p",), theirs)
    aligned = align_to(patient, table)
    assert (aligned.matched, aligned.swapped, aligned.other_alleles, aligned.absent) == (2, 0, 1, 1)
    assert aligned.matrix.dosages.tolist() == [[2, MISSING, MISSING, MISSING]]
    assert list(aligned.matrix.variants["id"]) == ["a", "b", "c", "d"]
    # Two probes of one SNP (and the same SNP with its alleles the other way round) merge:
    # agreeing calls are kept, disagreeing ones become no-calls.
    probes = pd.concat([theirs.iloc[:1]] * 2 + [theirs.iloc[:1].assign(ref="G", alt="A")])
    calls = np.array([[2, 2, 0], [1, 2, 1], [MISSING, 1, 1], [2, MISSING, MISSING]], np.int8)
    twice = DosageMatrix(calls, ("p", "q", "r", "s"), probes.reset_index(drop=True))
    merged = align_to(twice, table)
    assert merged.repeated == 1 and merged.matched == 1
    assert merged.matrix.dosages[:, 0].tolist() == [2, MISSING, 1, 2]
    with pytest.raises(InputError, match="lacks the columns"):
        align_to(patient, table.drop(columns=["ref"]))

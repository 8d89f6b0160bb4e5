"""Tests of the CPIC guidance lookup, checked against PharmCAT's example reports."""

from __future__ import annotations

import functools
import itertools
import json
import math
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from clarity.errors import InputError
from clarity.pgx._guidance import (
    Action,
    Citation,
    Recommendation,
    guidance_drugs,
    guideline_genes,
    recommend,
)
from tests.conftest import reference_missing

EXAMPLES = Path("/work/shared/reference/pharmcat/examples")
REPORT_FILES = ("pharmcat.example.report.json", "pharmcat.example2.report.json")
OTHER_CONSIDERATIONS = '\n<h4 id="other-considerations">Other Considerations</h4>\n'

DRUGS = (
    "amitriptyline",
    "atomoxetine",
    "carbamazepine",
    "citalopram",
    "clomipramine",
    "desipramine",
    "doxepin",
    "escitalopram",
    "fluvoxamine",
    "imipramine",
    "nortriptyline",
    "oxcarbazepine",
    "paroxetine",
    "sertraline",
    "trimipramine",
    "venlafaxine",
    "vortioxetine",
)
PM, IM, NM, RM, UM = (
    "Poor Metabolizer",
    "Intermediate Metabolizer",
    "Normal Metabolizer",
    "Rapid Metabolizer",
    "Ultrarapid Metabolizer",
)
VOCABULARY = {
    "CYP2C19": (PM, IM, NM, RM, UM, "Indeterminate", None),
    "CYP2D6": (PM, IM, NM, UM, "Indeterminate", None),
    "CYP2B6": (PM, IM, NM, RM, UM, "Indeterminate", None),
    "HLA-B*15:02": ("positive", "negative", None),
    "HLA-A*31:01": ("positive", "negative", None),
}
# Every CYP2D6 activity score consistent with each phenotype, plus "not given".
CYP2D6_SCORES = {
    PM: (None, 0.0),
    IM: (None, 0.25, 0.5, 0.75, 1.0),
    NM: (None, 1.125, 1.25, 1.5, 2.0, 2.25),
    UM: (None, 2.5, 3.0),
    "Indeterminate": (None,),
    None: (None, 0.0, 0.5, 1.0, 2.0, 3.0),
}
ALLOWED_STRENGTHS = {"Strong", "Moderate", "Optional", "No recommendation", None}


@functools.cache
def _load_reports() -> dict[str, dict[str, Any]]:
    # The reports are large; read them once per session, not once per test.
    if reference_missing(EXAMPLES):
        return {}
    return {name: json.loads((EXAMPLES / name).read_text()) for name in REPORT_FILES}


def _reports() -> dict[str, dict[str, Any]]:
    reason = reference_missing(EXAMPLES)
    if reason:
        pytest.skip(reason)
    return _load_reports()


def _report_inputs(report: dict[str, Any]) -> tuple[dict[str, str | None], dict[str, float | None]]:
    """Translate a report's gene calls into the vocabulary ``recommend`` takes."""
    phenotypes: dict[str, str | None] = {}
    scores: dict[str, float | None] = {}
    for gene in ("CYP2C19", "CYP2D6", "CYP2B6"):
        [call] = report["genes"][gene]["recommendationDiplotypes"]
        [label] = call["phenotypes"]
        phenotypes[gene] = None if label == "No Result" else label
        if gene == "CYP2D6":
            score = call["activityScore"]
            scores[gene] = None if score in (None, "No Result") else float(score)
    for gene, allele in (("HLA-B", "*15:02"), ("HLA-A", "*31:01")):
        [call] = report["genes"][gene]["recommendationDiplotypes"]
        found = [p.split()[-1] for p in call["phenotypes"] if p.startswith(f"{allele} ")]
        phenotypes[f"{gene}{allele}"] = found[0] if found else None
    return phenotypes, scores


def _report_cases() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, drug, report["drugs"]["CPIC Guideline Annotation"][drug])
        for name, report in _load_reports().items()
        for drug in DRUGS
    ]


@functools.cache
def _verbatim_texts() -> set[tuple[str, str, str]]:
    texts = set()
    for _, drug, entry in _report_cases():
        for guideline in entry["guidelines"]:
            for annotation in guideline["annotations"]:
                text = annotation["drugRecommendation"].partition(OTHER_CONSIDERATIONS)[0]
                texts.add((drug, annotation["population"], text))
    return texts


def test_guidance_drugs__covers_every_drug_in_the_brief():
    assert guidance_drugs() == DRUGS


@pytest.mark.parametrize(
    ("drug", "genes"),
    [
        ("citalopram", ("CYP2C19",)),
        ("escitalopram", ("CYP2C19",)),
        ("sertraline", ("CYP2C19", "CYP2B6")),
        ("paroxetine", ("CYP2D6",)),
        ("venlafaxine", ("CYP2D6",)),
        ("amitriptyline", ("CYP2D6", "CYP2C19")),
        ("nortriptyline", ("CYP2D6",)),
        ("atomoxetine", ("CYP2D6",)),
        ("carbamazepine", ("HLA-B*15:02", "HLA-A*31:01")),
        ("oxcarbazepine", ("HLA-B*15:02",)),
    ],
)
def test_guideline_genes__per_drug(drug, genes):
    assert guideline_genes(drug) == genes


def _report_params() -> list[Any]:
    reason = reference_missing(EXAMPLES)
    if reason:
        return [pytest.param(None, None, None, marks=pytest.mark.skip(reason=reason))]
    return [
        pytest.param(name, drug, entry, id=f"{name.split('.')[1]}-{drug}")
        for name, drug, entry in _report_cases()
    ]


@pytest.mark.parametrize(("report_name", "drug", "entry"), _report_params())
def test_recommend__matches_pharmcat_report_exactly(report_name, drug, entry):
    report = _reports()[report_name]
    phenotypes, scores = _report_inputs(report)
    recommendations = recommend(drug, phenotypes, scores)
    annotations = [a for g in entry["guidelines"] for a in g["annotations"]]
    if not annotations:
        # PharmCAT gives nothing when the drug's genes are uncalled; so must we.
        assert all(r.action is Action.INDETERMINATE for r in recommendations)
        assert all(r.status == "no_recommendation" for r in recommendations)
        assert all(r.text is None for r in recommendations)
        return
    by_population = {r.population: r for r in recommendations}
    assert set(by_population) == {a["population"] for a in annotations}
    for annotation in annotations:
        rec = by_population[annotation["population"]]
        text, _, other = annotation["drugRecommendation"].partition(OTHER_CONSIDERATIONS)
        assert rec.text == text
        assert rec.other_considerations == (other or None)
        assert rec.implications == tuple(annotation["implications"])
        assert rec.strength == annotation["classification"]
        assert {c.pmid for c in rec.citations} == {c["pmid"] for c in entry["citations"]}
        report_titles = {c["pmid"]: c["title"] for c in entry["citations"]}
        assert all(c.title == report_titles[c.pmid] for c in rec.citations)


@pytest.mark.parametrize(
    ("drug", "phenotypes", "scores", "expected"),
    [
        ("citalopram", {"CYP2C19": PM}, None, Action.USE_ALTERNATIVE),
        ("citalopram", {"CYP2C19": UM}, None, Action.USE_ALTERNATIVE),
        ("citalopram", {"CYP2C19": IM}, None, Action.DOSE_CAP),
        ("citalopram", {"CYP2C19": NM}, None, Action.STANDARD_DOSE),
        ("escitalopram", {"CYP2C19": RM}, None, Action.STANDARD_DOSE),
        ("sertraline", {"CYP2C19": PM, "CYP2B6": IM}, None, Action.DOSE_CAP),
        ("sertraline", {"CYP2C19": NM, "CYP2B6": NM}, None, Action.STANDARD_DOSE),
        ("sertraline", {"CYP2C19": NM, "CYP2B6": PM}, None, Action.DOSE_CAP),
        ("paroxetine", {"CYP2D6": PM}, None, Action.DOSE_CAP),
        ("paroxetine", {"CYP2D6": UM}, None, Action.USE_ALTERNATIVE),
        ("paroxetine", {"CYP2D6": IM}, {"CYP2D6": 1.0}, Action.REDUCE_STARTING_DOSE),
        ("fluvoxamine", {"CYP2D6": UM}, None, Action.NO_RECOMMENDATION),
        ("venlafaxine", {"CYP2D6": IM}, {"CYP2D6": 1.0}, Action.NO_RECOMMENDATION),
        ("venlafaxine", {"CYP2D6": PM}, None, Action.USE_ALTERNATIVE),
        ("vortioxetine", {"CYP2D6": PM}, None, Action.DOSE_CAP),
        ("amitriptyline", {"CYP2D6": PM, "CYP2C19": NM}, None, Action.AVOID),
        ("amitriptyline", {"CYP2D6": UM, "CYP2C19": NM}, None, Action.AVOID),
        ("amitriptyline", {"CYP2D6": NM, "CYP2C19": UM}, None, Action.AVOID),
        ("amitriptyline", {"CYP2D6": NM, "CYP2C19": IM}, None, Action.STANDARD_DOSE),
        ("imipramine", {"CYP2D6": IM, "CYP2C19": NM}, None, Action.REDUCE_STARTING_DOSE),
        ("nortriptyline", {"CYP2D6": PM}, None, Action.AVOID),
        ("desipramine", {"CYP2D6": NM}, None, Action.STANDARD_DOSE),
        ("atomoxetine", {"CYP2D6": PM}, None, Action.REDUCE_STARTING_DOSE),
        ("atomoxetine", {"CYP2D6": IM}, {"CYP2D6": 0.5}, Action.REDUCE_STARTING_DOSE),
        ("atomoxetine", {"CYP2D6": IM}, {"CYP2D6": 1.0}, Action.STANDARD_DOSE),
        ("atomoxetine", {"CYP2D6": NM}, None, Action.STANDARD_DOSE),
        ("oxcarbazepine", {"HLA-B*15:02": "negative"}, None, Action.STANDARD_DOSE),
    ],
)
def test_recommend__action_classes(drug, phenotypes, scores, expected):
    recommendations = recommend(drug, phenotypes, scores)
    assert {r.action for r in recommendations} == {expected}


def test_recommend__carbamazepine_hla_b_positive_avoids_even_without_hla_a():
    recs = {r.population: r for r in recommend("carbamazepine", {"HLA-B*15:02": "positive"})}
    assert recs["CBZ naive"].action is Action.AVOID
    assert recs["CBZ-no alternatives"].action is Action.AVOID
    assert recs["CBZ use >3mos"].action is Action.STANDARD_DOSE
    for rec in recs.values():
        assert rec.status == "partial"
        assert rec.missing_genes == ("HLA-A*31:01",)
        assert rec.phenotypes == {"HLA-B*15:02": "positive", "HLA-A*31:01": None}
        assert rec.evidence_level == "A"
    assert recs["CBZ naive"].text == "If patient is carbamazepine-naïve, do not use carbamazepine."


def test_recommend__carbamazepine_with_both_alleles_known_carries_no_text():
    phenotypes = {"HLA-B*15:02": "positive", "HLA-A*31:01": "negative"}
    recs = {r.population: r for r in recommend("carbamazepine", phenotypes)}
    assert recs["CBZ naive"].action is Action.AVOID
    assert recs["CBZ naive"].status == "complete"
    assert all(r.text is None and r.strength is None for r in recs.values())


def test_recommend__carbamazepine_hla_b_negative_needs_hla_a_for_naive_patients():
    recs = {r.population: r for r in recommend("carbamazepine", {"HLA-B*15:02": "negative"})}
    assert recs["CBZ naive"].action is Action.INDETERMINATE
    assert recs["CBZ naive"].status == "no_recommendation"
    assert recs["CBZ use >3mos"].action is Action.STANDARD_DOSE
    assert recs["CBZ use >3mos"].status == "partial"


def test_recommend__tca_partial_on_cyp2d6_when_cyp2c19_missing():
    [rec] = recommend("amitriptyline", {"CYP2D6": IM, "CYP2C19": None}, {"CYP2D6": 0.5})
    assert rec.action is Action.REDUCE_STARTING_DOSE
    assert rec.status == "partial"
    assert rec.missing_genes == ("CYP2C19",)
    assert rec.phenotypes == {"CYP2D6": IM, "CYP2C19": None}
    assert rec.text is None
    assert rec.implications == ()
    assert rec.evidence_level == "A"


def test_recommend__tca_cyp2c19_poor_without_cyp2d6_is_verbatim_partial():
    [rec] = recommend("clomipramine", {"CYP2C19": PM, "CYP2D6": "Indeterminate"})
    assert rec.action is Action.AVOID
    assert rec.status == "partial"
    assert rec.missing_genes == ("CYP2D6",)
    assert rec.text is not None
    assert rec.text.startswith("Avoid tertiary amine use due to potential for sub-optimal")
    assert rec.strength == "Optional"
    assert rec.evidence_level == "B"


@pytest.mark.parametrize("missing", [None, "Indeterminate"])
@pytest.mark.parametrize("drug", ["citalopram", "paroxetine", "nortriptyline", "atomoxetine"])
def test_recommend__single_gene_uncallable_is_indeterminate(drug, missing):
    [gene] = guideline_genes(drug)
    for rec in recommend(drug, {gene: missing}):
        assert rec.action is Action.INDETERMINATE
        assert rec.status == "no_recommendation"
        assert rec.missing_genes == (gene,)
        assert rec.text is None
        assert rec.evidence_level is None


def test_recommend__absent_key_counts_as_missing():
    [rec] = recommend("sertraline", {})
    assert rec.action is Action.INDETERMINATE
    assert rec.missing_genes == ("CYP2C19", "CYP2B6")


def test_recommend__sertraline_partial_on_cyp2c19():
    [rec] = recommend("sertraline", {"CYP2C19": PM})
    assert (rec.action, rec.status, rec.missing_genes) == (
        Action.DOSE_CAP,
        "partial",
        ("CYP2B6",),
    )
    [rec] = recommend("sertraline", {"CYP2B6": NM})
    assert (rec.action, rec.status) == (Action.INDETERMINATE, "no_recommendation")


def test_recommend__atomoxetine_intermediate_needs_activity_score():
    recs = recommend("atomoxetine", {"CYP2D6": IM})
    assert [r.population for r in recs] == ["adults", "pediatrics"]
    assert all(r.action is Action.INDETERMINATE for r in recs)
    assert all(r.status == "no_recommendation" for r in recs)


def test_recommend__atomoxetine_verbatim_rows_differ_by_population():
    adults, pediatrics = recommend("atomoxetine", {"CYP2D6": IM}, {"CYP2D6": 1.0})
    assert adults.text is not None
    assert pediatrics.text is not None
    assert adults.text.startswith("Initiate with a dose of 40 mg/day")
    assert pediatrics.text.startswith("Initiate with a dose of 0.5 mg/kg/day")
    assert adults.strength == pediatrics.strength == "Moderate"


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.125, Action.REDUCE_STARTING_DOSE),
        (0.625, Action.REDUCE_STARTING_DOSE),
        (0.875, Action.REDUCE_STARTING_DOSE),
        (1.125, Action.STANDARD_DOSE),
    ],
)
def test_recommend__atomoxetine_phenoconverted_scores_split_at_one(score, expected):
    recs = recommend("atomoxetine", {}, {"CYP2D6": score})
    assert {r.action for r in recs} == {expected}
    assert all(r.text is None for r in recs)
    assert recs[0].phenotypes == {"CYP2D6": IM if score < 1 else NM}


def test_recommend__activity_score_sets_missing_phenotype():
    [rec] = recommend("paroxetine", {}, {"CYP2D6": 0.0})
    assert rec.phenotypes == {"CYP2D6": PM}
    assert rec.action is Action.DOSE_CAP


def test_recommend__cyp2d6_intermediate_without_score_has_no_text():
    [rec] = recommend("paroxetine", {"CYP2D6": IM})
    assert rec.action is Action.REDUCE_STARTING_DOSE
    assert rec.text is None
    assert rec.status == "complete"


def test_recommend__record_fields():
    [rec] = recommend("citalopram", {"CYP2C19": PM})
    assert isinstance(rec, Recommendation)
    assert rec.drug == "citalopram"
    assert rec.genes == ("CYP2C19",)
    assert rec.population == "general"
    assert rec.evidence_level == "A"
    assert rec.guideline.startswith("CPIC Guideline for CYP2D6, CYP2C19, CYP2B6")
    assert "(2023)" in rec.guideline
    assert [c.pmid for c in rec.citations] == ["25974703", "37032427"]
    assert all(isinstance(c, Citation) for c in rec.citations)
    assert rec.text is not None
    assert rec.other_considerations is not None
    assert rec.other_considerations.startswith("Per the FDA warning, citalopram 20 mg/day")
    assert "<h4" not in rec.text
    data = json.loads(files("clarity.pgx").joinpath("data/cpic_guidance.json").read_text())
    assert rec.data_version == data["version"]


@pytest.mark.parametrize("drug", DRUGS)
def test_recommend__every_phenotype_combination_is_covered(drug):
    genes = guideline_genes(drug)
    verbatim = _verbatim_texts()
    for combination in itertools.product(*(VOCABULARY[gene] for gene in genes)):
        phenotypes = dict(zip(genes, combination, strict=True))
        score_options = CYP2D6_SCORES[phenotypes["CYP2D6"]] if "CYP2D6" in genes else (None,)
        for score in score_options:
            recs = recommend(drug, phenotypes, {"CYP2D6": score})
            assert recs, (drug, phenotypes, score)
            assert len({r.population for r in recs}) == len(recs)
            for rec in recs:
                assert isinstance(rec.action, Action)
                assert rec.strength in ALLOWED_STRENGTHS
                assert rec.status in {"complete", "partial", "no_recommendation"}
                assert (rec.status == "no_recommendation") == (rec.action is Action.INDETERMINATE)
                if rec.status != "no_recommendation":
                    assert (rec.status == "complete") == (not rec.missing_genes)
                assert rec.citations
                if rec.text is None:
                    assert rec.implications == ()
                    assert rec.other_considerations is None
                    assert rec.strength is None
                elif verbatim:
                    assert (drug, rec.population, rec.text) in verbatim


def test_data__non_verbatim_rows_carry_no_text():
    data = json.loads(files("clarity.pgx").joinpath("data/cpic_guidance.json").read_text())
    for drug, spec in data["drugs"].items():
        for row in spec["rows"]:
            if row["source"] is None:
                assert row["text"] is None, drug
                assert row["implications"] == [], drug
                assert row["other_considerations"] is None, drug
                assert row["strength"] is None, drug
            else:
                assert row["text"], drug
                assert "<h4" not in row["text"], drug


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: recommend("prozac", {}),
            "Invalid value for the 'drug' parameter. Allowed values are 'amitriptyline', "
            "'atomoxetine',",
        ),
        (lambda: guideline_genes("Citalopram"), "but got 'Citalopram' instead."),
        (
            lambda: recommend("citalopram", {"CYP3A4": PM}),
            "Invalid gene in the 'phenotypes' parameter. Allowed values are 'CYP2C19', "
            "'CYP2D6', 'CYP2B6', 'HLA-B*15:02' and 'HLA-A*31:01', but got 'CYP3A4' instead.",
        ),
        (
            lambda: recommend("paroxetine", {"CYP2D6": RM}),
            "Invalid value for the 'phenotypes' parameter at key 'CYP2D6'. Allowed values are "
            "'Poor Metabolizer', 'Intermediate Metabolizer', 'Normal Metabolizer', "
            "'Ultrarapid Metabolizer', 'Indeterminate' and None, but got 'Rapid Metabolizer' "
            "instead.",
        ),
        (
            lambda: recommend("citalopram", {"CYP2C19": "PM"}),
            "but got 'PM' instead.",
        ),
        (
            lambda: recommend("carbamazepine", {"HLA-B*15:02": "Positive"}),
            "Allowed values are 'positive', 'negative' and None, but got 'Positive' instead.",
        ),
        (
            lambda: recommend("atomoxetine", {}, {"CYP2C19": 1.0}),
            "Invalid gene in the 'activity_scores' parameter. Allowed values are 'CYP2D6'",
        ),
        (
            lambda: recommend("atomoxetine", {}, {"CYP2D6": -1.0}),
            "The 'activity_scores' parameter at key 'CYP2D6' must be a non-negative number "
            "or None. Got -1.0 instead.",
        ),
        (
            lambda: recommend("atomoxetine", {}, {"CYP2D6": math.nan}),
            "Got nan instead.",
        ),
        (
            lambda: recommend("atomoxetine", {}, {"CYP2D6": "1.0"}),  # type: ignore[dict-item]
            "Got '1.0' instead.",
        ),
        (
            lambda: recommend("atomoxetine", {}, {"CYP2D6": True}),
            "Got True instead.",
        ),
        (
            lambda: recommend("atomoxetine", {"CYP2D6": NM}, {"CYP2D6": 1.0}),
            "The CYP2D6 activity score 1.0 implies 'Intermediate Metabolizer', but the "
            "'phenotypes' parameter gives 'Normal Metabolizer' for CYP2D6.",
        ),
    ],
)
def test_recommend__bad_input_raises(call, message):
    with pytest.raises(InputError) as excinfo:
        call()
    assert isinstance(excinfo.value, ValueError)
    assert message in str(excinfo.value)

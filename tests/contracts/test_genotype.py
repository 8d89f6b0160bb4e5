from __future__ import annotations

import pytest
from pydantic import ValidationError

from clarity.contracts import GenotypeModelKind, GenotypeTraitRisk, SnpContribution

VERSION = "a" * 64


def _snp(**overrides):
    fields = dict(
        variant_id="chr1:10001000:A:G",
        chrom="chr1",
        pos=10_001_000,
        effect_allele="G",
        dosage=2,
        contribution=0.31,
    )
    fields.update(overrides)
    return SnpContribution(**fields)


def _risk(**overrides):
    fields = dict(
        trait="additive",
        model_kind=GenotypeModelKind.ensemble,
        binary=False,
        score=0.42,
        interval_lower=0.1,
        interval_upper=0.7,
        percentile=66.5,
        reference_size=100,
        top_snps=(_snp(),),
        n_snps=80,
        snps_missing=2,
        held_out_metric="r2",
        held_out_value=0.31,
        baseline_held_out_value=0.25,
        model_version=VERSION,
        panel_version=VERSION,
        sample_id="SYN-00001",
    )
    fields.update(overrides)
    return GenotypeTraitRisk(**fields)


def test_trait_risk__scored_or_unscored_with_a_reason():
    assert _risk().top_snps[0].dosage == 2
    unscored = _risk(
        score=None,
        interval_lower=None,
        interval_upper=None,
        percentile=None,
        top_snps=(),
        snps_missing=60,
        reason="the call set holds 20 of the model's 80 variants; 72 needed",
    )
    assert unscored.score is None and unscored.reason.startswith("the call set")
    assert _risk(binary=True, score=0.3, interval_lower=0.2, interval_upper=0.5).binary
    assert _snp(dosage=None).dosage is None  # not called: the model used its training mean


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"score": None}, "either a score or a reason"),
        ({"reason": "both"}, "either a score or a reason"),
        ({"interval_upper": None}, "an interval needs both bounds"),
        ({"interval_lower": 0.5}, "the interval must contain the score"),
        (
            {"score": None, "interval_lower": None, "interval_upper": None, "reason": "x"},
            "not scored has no interval, percentile or SNPs",
        ),
        ({"binary": True, "score": 1.5, "interval_upper": 2.0}, "a probability in"),
        ({"snps_missing": 81}, "cannot exceed n_snps"),
        ({"percentile": 100.5}, "less than or equal to 100"),
        ({"trait": "Depression"}, "String should match"),
        ({"model_kind": "random_forest"}, "Input should be"),
        ({"top_snps": ({**_snp().model_dump(), "dosage": 3},)}, "less than or equal to 2"),
        ({"top_snps": ({**_snp().model_dump(), "chrom": "1"},)}, "String should match"),
    ],
)
def test_trait_risk__refuses_inconsistent_records(overrides, message):
    with pytest.raises(ValidationError, match=message):
        _risk(**overrides)

"""The fact check: only sentences their cited text supports survive."""

from __future__ import annotations

import pytest

from clarity.notes._factcheck import Citation, Claim, check_claim, fact_check

NOTE = (
    "S: Low mood most days; sleeping 5 hours. Denies SI/HI.\n"
    "O: PHQ-9 17, GAD-7 9.\n"
    "P: Start sertraline 50 mg daily on 2024-01-10. Review in 4 weeks."
)
SOURCES = {"n1": NOTE}


def _cite(fragment: str) -> tuple[Citation, ...]:
    start = NOTE.index(fragment)
    return (Citation("n1", start, start + len(fragment)),)


@pytest.mark.parametrize(
    ("sentence", "cited", "reason"),
    [
        ("PHQ-9 was 19.", "PHQ-9 17", "the number 19"),
        ("Started sertraline 100 mg daily.", "Start sertraline 50 mg daily", "the dose 100 mg"),
        ("Started fluoxetine 50 mg daily.", "Start sertraline 50 mg daily", "fluoxetine"),
        ("Reports SI/HI.", "Denies SI/HI", "negates"),
        ("Sertraline started on 2024-02-10.", "Start sertraline 50 mg daily on 2024-01-10", "date"),
        ("Sleep is excellent and appetite has returned.", "sleeping 5 hours", "words"),
    ],
)
def test_unsupported_sentences__are_dropped_with_the_reason(sentence: str, cited: str, reason: str):
    verdict = check_claim(Claim(sentence, _cite(cited)), SOURCES)
    assert not verdict.supported
    assert any(reason in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("sentence", "cited"),
    [
        ("PHQ-9 17, GAD-7 9.", "PHQ-9 17, GAD-7 9"),
        ("Denies SI/HI.", "Denies SI/HI"),
        (
            "Start sertraline 50 mg daily on 2024-01-10.",
            "Start sertraline 50 mg daily on 2024-01-10",
        ),
        ("Low mood most days.", "Low mood most days"),
    ],
)
def test_faithful_sentences__survive(sentence: str, cited: str):
    verdict = check_claim(Claim(sentence, _cite(cited)), SOURCES)
    assert verdict.supported, verdict.reasons


def test_citations_must_point_at_real_spans():
    bad = [
        Claim("PHQ-9 17.", ()),
        Claim("PHQ-9 17.", (Citation("n2", 0, 5),)),
        Claim("PHQ-9 17.", (Citation("n1", 50, 10_000),)),
    ]
    kept, dropped = fact_check(bad, SOURCES)
    assert kept == [] and len(dropped) == 3
    assert "cites nothing" in dropped[0].reasons


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("PHQ-9 9, GAD-7 7.", "no PHQ9 score of 9"),
        ("PHQ-9 15.", "no PHQ9 score of 15"),
        ("Stop venlafaxine (insufficient response).", "was stopped"),
        ("Venlafaxine was reduced.", "was decreased"),
        ("Continue venlafaxine.", "was continued"),
        ("Recurrent depression (F33.1).", "diagnosis code F33.1"),
    ],
)
def test_scores_actions_and_codes__bind_to_what_the_source_says(sentence: str, reason: str):
    source = {
        "n": "O: PHQ-9 19, GAD-7 15. P: Start venlafaxine 75 mg daily. A: Depression (F32.1)."
    }
    verdict = check_claim(Claim(sentence, (Citation("n", 0, len(source["n"])),)), source)
    assert not verdict.supported and any(reason in r for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    "sentence",
    ["PHQ-9 19, GAD-7 15.", "Venlafaxine 75 mg daily was started.", "Depression (F32.1)."],
)
def test_scores_actions_and_codes__the_same_facts_pass(sentence: str):
    source = {
        "n": "O: PHQ-9 19, GAD-7 15. P: Start venlafaxine 75 mg daily. A: Depression (F32.1)."
    }
    assert check_claim(Claim(sentence, (Citation("n", 0, len(source["n"])),)), source).supported

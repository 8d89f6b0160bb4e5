"""Crisis detection: C-SSRS levels, negation, history, hypotheticals, other people, the cohort."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from clarity.notes import assess_crisis


@pytest.mark.parametrize(
    ("text", "level", "self_harm", "others"),
    [
        # Positive, by C-SSRS ideation level.
        ("Reports a passive death wish.", 1, False, False),
        ("Says she wishes she could go to sleep and not wake up.", 1, False, False),
        ("+SI, no plan or intent stated.", 2, False, False),
        ("Having thoughts of killing himself most days.", 2, False, False),
        ("Endorses sucidal ideation.", 2, False, False),  # misspelt
        ("SI with method (overdose on her pills) considered, denies intent.", 3, False, False),
        ("Endorses SI with some intent to act.", 4, False, False),
        ("Has a plan to overdose and intent to act tonight.", 5, False, False),
        ("Wrote a goodbye note last night.", 5, False, False),
        ("Cut her forearms twice this week.", 0, True, False),
        ("Endorses homicidal ideation toward a neighbour.", 0, False, True),
        # Negated: never a crisis.
        ("Denies SI/HI.", 0, False, False),
        ("Denies suicidal ideation, intent or plan.", 0, False, False),
        ("No suicidal thoughts, no self-harm, no thoughts of harming others.", 0, False, False),
        ("SI denied.", 0, False, False),
        # History, hypotheticals, other people.
        ("History of overdose in 2019; none since.", 0, False, False),
        ("Past suicide attempt (2014), no current ideation.", 0, False, False),
        ("Remote history of cutting as a teenager, nothing recent.", 0, False, False),
        ("Will call the crisis line if suicidal thoughts arise.", 0, False, False),
        ("Discussed what to do should thoughts of self-harm return.", 0, False, False),
        ("Mother asked whether she could be suicidal; she denies it.", 0, False, False),
        ("Family history of suicide (uncle).", 0, False, False),
        # A clause boundary ends a negation: the second clause is positive.
        ("Denied SI last month but now reports thoughts of ending her life.", 2, False, False),
        # A current statement beats an old one in the same note.
        ("Past attempt in 2015. Currently suicidal with a plan to jump.", 5, False, False),
        # Plans that are care plans, pills that are prescriptions: nothing.
        ("Plan: continue sertraline 50 mg, pills in blister packs.", 0, False, False),
    ],
)
def test_assess_crisis__levels_and_modifiers(text: str, level: int, self_harm: bool, others: bool):
    result = assess_crisis(text)
    assert (result.level, result.self_harm, result.harm_to_others) == (level, self_harm, others), [
        (f.kind, text[f.start : f.end], f.current) for f in result.findings
    ]


def test_evidence__is_the_sentence_that_says_it():
    text = "Mood low. Denies HI. Endorses active suicidal ideation without a plan. Sleep poor."
    result = assess_crisis(text)
    [(start, end)] = result.evidence
    assert text[start:end] == "Endorses active suicidal ideation without a plan."


def test_cohort_notes__recall_first_then_precision(cohort: Path):
    notes = pq.read_table(cohort / "truth" / "notes.parquet").to_pandas()
    found = [assess_crisis(text) for text in notes["text"]]
    truth = notes["crisis"].tolist()
    tp = sum(f.crisis and t for f, t in zip(found, truth, strict=True))
    fp = sum(f.crisis and not t for f, t in zip(found, truth, strict=True))
    fn = sum(t and not f.crisis for f, t in zip(found, truth, strict=True))
    assert len(notes) > 20
    if tp + fn:
        assert tp / (tp + fn) >= 0.98
    assert fp <= max(1, 0.2 * (tp + fp))
    negated = notes["negated_mention"] & ~notes["crisis"]
    assert not any(f.crisis for f, n in zip(found, negated, strict=True) if n)

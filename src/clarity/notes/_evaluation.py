"""Measure the notes pipeline against a synthetic cohort's ground truth.

Four measurements, each a plain function so that the tests and ``clarity eval
notes`` compute the same numbers:

- :func:`phi_scores`: recall per PHI category (a true identifier counts as
  found when one redacted span covers all of it) and span precision;
- :func:`crisis_scores`: note-level recall, precision and exact C-SSRS level;
- :func:`summary_scores`: per backend, sentences drafted and removed by the
  fact check, the share of kept sentences that are supported (re-checked),
  and coverage of the cohort's facts: medication starts that a note records,
  notes with crisis language, and the first and last PHQ-9 of the window;
- :func:`corruption_scores`: the fact check against known-bad sentences made
  from faithful ones (another drug, another dose or number, a flipped
  negation, a sentence from another patient), and the faithful originals.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clarity.notes._crisis import assess_crisis
from clarity.notes._draft import SummaryBackend
from clarity.notes._extractive import SourceNote
from clarity.notes._factcheck import MEDICATIONS, Claim, Encoder, fact_check
from clarity.notes._summarise import Summary, summarise

__all__ = [
    "CorruptionScores",
    "CrisisScores",
    "PhiScores",
    "SummaryScores",
    "corruption_scores",
    "crisis_scores",
    "phi_scores",
    "summary_scores",
]

_PHQ9 = re.compile(r"PHQ-?9\W{0,3}(\d{1,2})\b", re.I)


@dataclass
class PhiScores:
    """Recall per category and span precision of the redactor."""

    found: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    spans: int = 0
    spurious: int = 0

    def recall(self, kind: str) -> float:
        """Return the share of true identifiers of ``kind`` that were redacted."""
        return self.found[kind] / self.total[kind] if self.total[kind] else float("nan")

    @property
    def precision(self) -> float:
        """Share of redacted spans that overlap a true identifier."""
        return 1 - self.spurious / self.spans if self.spans else float("nan")


def phi_scores(
    notes: Iterable[tuple[str, Sequence[Mapping[str, Any]]]],
    find: Callable[[str], list[tuple[int, int, str]]],
) -> PhiScores:
    """Score a redactor's ``find`` against true PHI spans.

    Parameters
    ----------
    notes
        ``(text, truth)`` pairs; truth items have ``start``, ``end``, ``kind``.
    find
        :meth:`PhiRedactor.find` or anything returning ``(start, end, kind)``.
    """
    scores = PhiScores()
    for text, truth in notes:
        found = find(text)
        scores.spans += len(found)
        for item in truth:
            scores.total[item["kind"]] += 1
            scores.found[item["kind"]] += any(
                s <= item["start"] and e >= item["end"] for s, e, _ in found
            )
        scores.spurious += sum(
            not any(s < t["end"] and e > t["start"] for t in truth) for s, e, _ in found
        )
    return scores


@dataclass
class CrisisScores:
    """Note-level crisis detection against the truth."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    level_exact: int = 0
    negated_flagged: int = 0
    negated: int = 0

    @property
    def recall(self) -> float:
        """Share of crisis notes flagged."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def precision(self) -> float:
        """Share of flagged notes that hold crisis language."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")


def crisis_scores(notes: Iterable[Mapping[str, Any]]) -> CrisisScores:
    """Score the crisis rules on notes with ``text``, ``crisis``, ``crisis_level`` truth."""
    scores = CrisisScores()
    for note in notes:
        found = assess_crisis(note["text"])
        truth = bool(note["crisis"])
        if found.crisis and truth:
            scores.tp += 1
            scores.level_exact += found.level == int(note["crisis_level"])
        elif found.crisis:
            scores.fp += 1
        elif truth:
            scores.fn += 1
        else:
            scores.tn += 1
        if note.get("negated_mention") and not truth:
            scores.negated += 1
            scores.negated_flagged += found.crisis
    return scores


@dataclass
class SummaryScores:
    """One backend's summaries over many patients."""

    backend: str = ""
    model_version: str = ""
    patients: int = 0
    drafted: int = 0
    dropped: int = 0
    kept: int = 0
    kept_supported: int = 0
    added_risk: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    medication_facts: int = 0
    medication_covered: int = 0
    crisis_facts: int = 0
    crisis_covered: int = 0
    trend_facts: int = 0
    trend_covered: int = 0
    seconds: float = 0.0
    failures: int = 0


def _reason_kind(reason: str) -> str:
    for key in ("number", "dose", "date", "medication", "negates", "words", "cites", "heading"):
        if key in reason:
            return key
    return "other"


def _mentions_drug(summary: Summary, drug: str) -> bool:
    return any(drug in c.text.lower() for _, c in summary.sentences())


def summary_scores(
    patients: Mapping[str, Sequence[SourceNote]],
    backend: SummaryBackend,
    *,
    drugs: Mapping[str, Sequence[str]] | None = None,
    encoder: Encoder | None = None,
    passages: Callable[[str, Sequence[SourceNote]], Any] | None = None,
) -> SummaryScores:
    """Summarise each patient with ``backend`` and score faithfulness and coverage.

    Parameters
    ----------
    patients
        Patient id to their redacted notes.
    backend
        The backend to score.
    drugs
        Patient id to the drugs they were started on (ground truth); a start
        counts as a fact when one of the notes names the drug.
    encoder
        Embedder for the fact check's semantic support.
    passages
        ``passages(patient_id, notes)`` returning retrieved passages per heading.
    """
    import time

    scores = SummaryScores(backend=backend.name, model_version=backend.model_version)
    for patient_id, notes in patients.items():
        began = time.perf_counter()
        try:
            summary = summarise(
                notes,
                backend,
                encoder=encoder,
                passages=passages(patient_id, notes) if passages else None,
            )
        except Exception:  # a model failure is counted, not fatal to the evaluation
            scores.failures += 1
            continue
        finally:
            scores.seconds += time.perf_counter() - began
        scores.patients += 1
        scores.drafted += summary.drafted
        scores.dropped += len(summary.dropped)
        scores.added_risk += summary.added_risk
        for verdict in summary.dropped:
            scores.reasons[_reason_kind(verdict.reasons[0] if verdict.reasons else "")] += 1
        claims = [c for _, c in summary.sentences()]
        sources = {n.note_id: n.text for n in notes}
        kept, _ = fact_check(claims, sources, encoder=encoder)
        scores.kept += len(claims)
        scores.kept_supported += len(kept)
        written = " ".join(n.text.lower() for n in notes)
        for drug in (drugs or {}).get(patient_id, []):
            if drug in written:
                scores.medication_facts += 1
                scores.medication_covered += _mentions_drug(summary, drug)
        risk_notes = {x.note_id for c in summary.sections.get("Risk", []) for x in c.citations}
        for note in notes:
            if assess_crisis(note.text).crisis:
                scores.crisis_facts += 1
                scores.crisis_covered += note.note_id in risk_notes
        scored = [n for n in notes if _PHQ9.search(n.text)]
        if scored:
            objective = {
                x.note_id for c in summary.sections.get("Objective", []) for x in c.citations
            }
            for note_id in {scored[0].note_id, scored[-1].note_id}:
                scores.trend_facts += 1
                scores.trend_covered += note_id in objective
    return scores


@dataclass
class CorruptionScores:
    """The fact check on faithful sentences and on known corruptions of them."""

    faithful: int = 0
    faithful_kept: int = 0
    corrupted: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    survivors: list[tuple[str, str, str]] = field(default_factory=list)
    """``(kind, sentence, cited text)`` of corruptions the check kept, to read."""


def _corruptions(claim: Claim, other: str, rng_index: int) -> dict[str, str]:
    """Known-bad variants of a faithful sentence (only those that apply)."""
    text = claim.text
    out: dict[str, str] = {}
    words = re.findall(r"[A-Za-z]+", text)
    drugs = sorted(MEDICATIONS)
    for w in words:
        if w.lower() in MEDICATIONS:
            swap = drugs[(drugs.index(w.lower()) + 7 + rng_index) % len(drugs)]
            out["another drug"] = re.sub(rf"\b{w}\b", swap, text, count=1)
            break
    number = re.search(r"\b\d+\b", text)
    if number:
        changed = str(int(number.group(0)) * 2 + 3)
        out["another number or dose"] = text[: number.start()] + changed + text[number.end() :]
    denial = re.search(r"\b(?:denies|no|not|without)\s+", text, re.I)
    if denial:
        out["negation removed"] = text[: denial.start()] + "reports " + text[denial.end() :]
    elif re.match(r"(?i)(reports|endorses|has|feels)\b", text):
        out["negation added"] = re.sub(r"(?i)^(reports|endorses|has|feels)\b", "denies", text)
    out["another patient's sentence"] = other
    return out


def corruption_scores(
    patients: Mapping[str, Sequence[SourceNote]],
    summaries: Mapping[str, Summary],
    *,
    encoder: Encoder | None = None,
) -> CorruptionScores:
    """Run the fact check on faithful sentences and on corruptions citing the same span.

    Parameters
    ----------
    patients
        Patient id to their redacted notes.
    summaries
        Patient id to a faithful (e.g. extractive) summary of those notes.
    encoder
        Embedder for semantic support.
    """
    scores = CorruptionScores()
    ids = sorted(summaries)
    for i, patient_id in enumerate(ids):
        sources = {n.note_id: n.text for n in patients[patient_id]}
        neighbour = summaries[ids[(i + 1) % len(ids)]]
        strangers = [c.text for _, c in neighbour.sentences()] or ["Patient is well."]
        claims = [c for _, c in summaries[patient_id].sentences()]
        kept, _ = fact_check(claims, sources, encoder=encoder)
        scores.faithful += len(claims)
        scores.faithful_kept += len(kept)
        bad: list[tuple[str, Claim]] = []
        for j, claim in enumerate(claims):
            other = strangers[j % len(strangers)]
            for kind, text in _corruptions(claim, other, j).items():
                if text != claim.text and text.lower() not in _cited_lower(sources, claim):
                    bad.append((kind, Claim(text, claim.citations)))
        kept_bad, _ = fact_check([c for _, c in bad], sources, encoder=encoder)
        survivors = {id(c) for c in kept_bad}
        for kind, claim in bad:
            scores.corrupted[kind] += 1
            scores.caught[kind] += id(claim) not in survivors
            if id(claim) in survivors:
                scores.survivors.append((kind, claim.text, _cited_lower(sources, claim)))
    return scores


def _cited_lower(sources: Mapping[str, str], claim: Claim) -> str:
    """Return the claim's cited text, lower-cased (a corruption already there is not one)."""
    return " ".join(sources[c.note_id][c.start : c.end].lower() for c in claim.citations)

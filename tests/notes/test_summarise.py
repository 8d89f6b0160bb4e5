"""Drafting, checking and completing summaries: the safety steps every backend goes through."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from clarity.bus import Bus, MemoryTransport
from clarity.contracts import ClinicalNote, Envelope, NotesSummary, Producer
from clarity.notes import (
    Citation,
    Claim,
    DraftRequest,
    ExtractiveBackend,
    NotesService,
    NotesSummariser,
    PhiRedactor,
    SourceNote,
    summarise,
)

NOTES = [
    SourceNote(
        "n1",
        date(2024, 1, 2),
        "S: Low mood for six weeks, poor sleep.\nO: PHQ-9 18.\nA: Moderate depression.\n"
        "P: Start sertraline 50 mg daily.",
    ),
    SourceNote(
        "n2",
        date(2024, 2, 1),
        "S: Mood a little better. She has thought about killing herself this week.\n"
        "O: PHQ-9 14.\nA: Depression, improving; passive suicidal ideation.\n"
        "P: Increase sertraline to 100 mg daily. Safety plan reviewed.",
    ),
]


@pytest.fixture(scope="module")
def embedder():
    from clarity.notes import load_embedder

    return load_embedder()


def _span(note: SourceNote, text: str) -> Citation:
    start = note.text.index(text)
    return Citation(note.note_id, start, start + len(text))


class Scripted:
    """A backend that returns a fixed draft: the interface, without a model."""

    name = "scripted"
    model_version = "scripted-1"

    def __init__(self, draft: dict[str, list[Claim]]) -> None:
        self._draft = draft
        self.requests: list[DraftRequest] = []

    def draft(self, request: DraftRequest) -> dict[str, list[Claim]]:
        self.requests.append(request)
        return self._draft


def test_summarise__drops_unsupported_sentences_and_restores_the_crisis_sentence():
    n1, n2 = NOTES
    backend = Scripted(
        {
            "Plan": [
                Claim(
                    "Sertraline was increased to 100 mg daily.",
                    (_span(n2, "Increase sertraline to 100 mg daily."),),
                ),
                Claim("Started fluoxetine 20 mg.", (_span(n1, "Start sertraline 50 mg daily."),)),
            ],
            "Risk": [Claim("Denies suicidal ideation.", (_span(n2, "Safety plan reviewed."),))],
            "Gossip": [Claim("The patient is doing great.", (_span(n1, "PHQ-9 18."),))],
        }
    )
    summary = summarise(NOTES, backend)
    plan = [c.text for c in summary.sections["Plan"]]
    assert plan == ["Sertraline was increased to 100 mg daily."]
    assert summary.drafted == 4 and len(summary.dropped) == 3
    reasons = " ".join(r for v in summary.dropped for r in v.reasons)
    assert "fluoxetine" in reasons and "unknown heading" in reasons
    # The backend's "denies" was dropped; the rules put the crisis sentence back.
    risk = summary.sections["Risk"]
    assert summary.added_risk == 2  # both sentences of n2 with current crisis language
    assert (
        "killing herself" in risk[0].text
        and "suicidal ideation" in risk[1].text
        and risk[0].citations[0].note_id == "n2"
    )
    assert backend.requests[0].notes[0].note_id == "n1"  # oldest first


def test_summarise__a_paraphrase_needs_the_encoder_and_a_new_number_never_passes(embedder):
    n1, _ = NOTES
    source = _span(n1, "S: Low mood for six weeks, poor sleep.")
    draft = {
        "Subjective": [
            Claim("Feeling down for six weeks, sleeping badly.", (source,)),
            Claim("Feeling down for eight weeks, sleeping badly.", (source,)),
        ]
    }
    lexical = summarise(NOTES, Scripted(draft))
    semantic = summarise(NOTES, Scripted(draft), encoder=embedder)
    assert "Subjective" not in lexical.sections
    assert [c.text for c in semantic.sections["Subjective"]] == [
        "Feeling down for six weeks, sleeping badly."
    ]
    [eight] = semantic.dropped
    assert "the number 8 is not in the cited text" in eight.reasons


def test_summarise__extractive_keeps_everything_and_needs_a_note():
    summary = summarise(NOTES, ExtractiveBackend())
    assert summary.dropped == () and summary.added_risk == 0
    assert summary.backend == "extractive" and summary.drafted == len(summary.sentences())
    with pytest.raises(ValueError, match="at least one note"):
        summarise([], ExtractiveBackend())


def _note(patient: str, day: int, note_id: str, text: str) -> Envelope:
    return Envelope.new(
        topic="ingest.note",
        patient_id=patient,
        observed_at=datetime(2024, 1, 1, 10, tzinfo=UTC) + timedelta(days=day),
        source="test",
        producer=Producer(service="ingest", model_name="fhir", model_version="1", code_version="0"),
        payload=ClinicalNote(note_id=note_id, text=text),
    )


def test_service__publishes_one_summary_per_patient_drawn_from_every_redacted_note(
    tmp_path: Path,
):
    bus = Bus(transport=MemoryTransport())
    redactor = PhiRedactor(b"k" * 32)
    summariser = NotesSummariser(ExtractiveBackend(), window_days=365)
    service = NotesService(redactor, summariser=summariser)
    bus.publish(
        _note("pat-1", 0, "a", "S: Seen by Dr Jane Smith. Low mood.\nP: Start sertraline 50 mg.")
    )
    first = service.run(bus)
    bus.publish(_note("pat-1", 30, "b", "S: Better.\nP: Increase sertraline to 100 mg."))
    second = service.run(bus)
    assert (first.summaries, second.summaries) == (1, 1)
    summaries = list(bus.replay("notes.summary"))
    latest = summaries[-1].record.payload
    assert isinstance(latest, NotesSummary)
    assert set(latest.note_ids) == {"a", "b"}
    text = " ".join(s.text for s in latest.sentences)
    assert "100 mg" in text and "Jane" not in text and "Smith" not in text
    assert len(summaries[-1].record.inputs) == 2  # lineage: both PHI reports
    # A replay publishes nothing new.
    again = NotesService(redactor, summariser=summariser).run(bus, group="replay")
    assert again.summaries == 0 and again.redacted == 0

"""Payloads of the ``notes.*`` topics: crisis alerts, PHI reports and summaries."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from clarity.contracts._topics import Payload
from clarity.contracts._types import ContractModel, ShortText

__all__ = [
    "CrisisEvidence",
    "NotesCrisisAlert",
    "NotesPhiReport",
    "NotesSummary",
    "PhiCount",
    "SummaryCitation",
    "SummarySection",
    "SummarySentence",
]

_Kind = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,32}$")]


class CrisisEvidence(ContractModel):
    """One sentence that carries crisis language, located in the note."""

    start: int = Field(ge=0, description="Offset of the sentence in the original note.")
    end: int = Field(ge=0, description="End offset (exclusive) in the original note.")
    text: Annotated[str, StringConstraints(max_length=4_000)] = Field(
        description="The sentence with its PHI redacted."
    )


class NotesCrisisAlert(Payload):
    """Crisis language found in a note (topic ``notes.crisis_alert``).

    Published as soon as the rules find it, whatever later steps do; the rules
    never depend on a language model.
    """

    note_id: ShortText = Field(description="The note's identifier at its source.")
    level: int = Field(
        ge=0, le=5, description="C-SSRS-style ideation level: 0 none to 5 plan with intent."
    )
    self_harm: bool = Field(description="Current self-harm is described.")
    harm_to_others: bool = Field(description="Current thoughts of harming others.")
    kinds: tuple[_Kind, ...] = Field(
        max_length=16, description="Kinds of current findings, e.g. 'ideation', 'plan'."
    )
    evidence: tuple[CrisisEvidence, ...] = Field(
        min_length=1, max_length=32, description="The sentences that say it."
    )
    detector_version: ShortText = Field(description="Version of the crisis rules.")


class PhiCount(ContractModel):
    """How many identifiers of one kind a note held."""

    kind: ShortText = Field(description="PHI category, e.g. 'NAME', 'DATE'.")
    count: int = Field(ge=0, description="Identifiers of that kind replaced.")


class NotesPhiReport(Payload):
    """A note's PHI, replaced (topic ``notes.phi_report``).

    The redacted text is what every later step (retrieval, summaries, the
    dashboard) reads; the original never leaves the notes service.
    """

    note_id: ShortText = Field(description="The note's identifier at its source.")
    counts: tuple[PhiCount, ...] = Field(
        max_length=16, description="Identifiers replaced, per category."
    )
    redacted_text: Annotated[str, StringConstraints(max_length=500_000)] = Field(
        description="The note with names and identifiers replaced and dates shifted."
    )
    shifted_date: date = Field(
        description="The note's date moved by the patient's offset, like the dates in its text."
    )
    redactor_version: ShortText = Field(description="Version of the redaction rules.")


class SummarySection(StrEnum):
    """Headings of a notes summary, in reading order."""

    Risk = "Risk"
    Subjective = "Subjective"
    Objective = "Objective"
    Assessment = "Assessment"
    Plan = "Plan"


class SummaryCitation(ContractModel):
    """A span of one redacted note that a summary sentence cites."""

    note_id: ShortText = Field(description="The cited note's identifier at its source.")
    start: int = Field(ge=0, description="Offset of the span in the note's redacted text.")
    end: int = Field(ge=1, description="End offset (exclusive) in the note's redacted text.")


class SummarySentence(ContractModel):
    """One sentence of a summary, under its heading, with what supports it."""

    section: SummarySection = Field(description="SOAP-style heading: Risk, Subjective, ... Plan.")
    text: Annotated[str, StringConstraints(min_length=1, max_length=4_000)] = Field(
        description="The sentence as shown to the clinician."
    )
    citations: tuple[SummaryCitation, ...] = Field(
        min_length=1, max_length=16, description="The spans that support it (fact-checked)."
    )


class NotesSummary(Payload):
    """A draft summary of a patient's notes, every sentence fact-checked (topic ``notes.summary``).

    Only sentences that their cited spans support are kept; the rest are
    counted in ``dropped``. Crisis sentences found by the rules are always in
    the Risk section, whatever the backend wrote.
    """

    since: date | None = Field(description="First day of the window; null for every note.")
    until: date = Field(description="Date of the newest note summarised.")
    note_ids: tuple[ShortText, ...] = Field(
        min_length=1, max_length=5_000, description="The notes the summary was drawn from."
    )
    sentences: tuple[SummarySentence, ...] = Field(
        max_length=500, description="The kept sentences, in reading order."
    )
    backend: ShortText = Field(description="The drafting backend, e.g. 'extractive', 'openai'.")
    model_version: ShortText = Field(description="The model (and adapter) that drafted it.")
    retrieval_version: ShortText = Field(
        description="Embedder and ranking used to choose passages; 'none' when not used."
    )
    drafted: int = Field(ge=0, description="Sentences the backend wrote.")
    dropped: int = Field(ge=0, description="Sentences the fact check removed.")
    drop_reasons: tuple[Annotated[str, StringConstraints(max_length=400)], ...] = Field(
        max_length=100, description="Why sentences were removed (first reason each, at most 100)."
    )
    added_risk: int = Field(
        ge=0, description="Crisis sentences the backend left out and the rules put back."
    )
    injections: int = Field(
        ge=0,
        description="Sentences in the notes that address a language model; never shown to one "
        "and never summarised.",
    )
    fact_check_version: ShortText = Field(description="Version of the fact check.")

"""Payloads of the ``notes.*`` topics: crisis alerts and PHI reports."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from clarity.contracts._topics import Payload
from clarity.contracts._types import ContractModel, ShortText

__all__ = ["CrisisEvidence", "NotesCrisisAlert", "NotesPhiReport", "PhiCount"]

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
    redactor_version: ShortText = Field(description="Version of the redaction rules.")

"""Bodies of the Clarity API, shared by the server and the SDK (one definition)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "AuditEntryOut",
    "CohortValue",
    "ConsentOut",
    "ConsentRequest",
    "ExplanationRequest",
    "ExplanationRequestOut",
    "FeatureOut",
    "FileReportOut",
    "IngestReportOut",
    "Me",
    "PatientDetail",
    "PatientPage",
    "PatientSummary",
    "TimelineItem",
    "TimelinePage",
    "Token",
]


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until it expires.")
    role: str


class Me(BaseModel):
    """Who the token speaks for."""

    username: str
    role: str
    patient_id: str | None = None


class FeatureOut(BaseModel):
    """One value of one feature, with its lineage."""

    feature: str
    value: Any
    observed_at: datetime
    event_id: str
    producer: dict[str, Any]


class PatientSummary(BaseModel):
    """A patient as the patient list shows them."""

    patient_id: str
    birth_year: int | None = None
    sex: str | None = None
    phq9: int | None = Field(default=None, description="Latest PHQ-9 total.")
    phq9_at: datetime | None = None
    phq9_trend: Literal["up", "down", "flat"] | None = Field(
        default=None, description="Direction of the last two PHQ-9 totals."
    )
    gad7: int | None = Field(default=None, description="Latest GAD-7 total.")


class PatientPage(BaseModel):
    """A page of patients."""

    items: list[PatientSummary]
    next_cursor: str | None = None


class PatientDetail(BaseModel):
    """A patient's latest state."""

    patient_id: str
    features: dict[str, FeatureOut]
    withheld: list[str] = Field(
        default=[], description="Data categories without consent, not shown."
    )


class TimelineItem(BaseModel):
    """One bus record in a patient's timeline."""

    offset: int
    topic: str
    observed_at: datetime
    record: dict[str, Any]


class TimelinePage(BaseModel):
    """A page of a patient's timeline, oldest first."""

    items: list[TimelineItem]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")
    withheld: list[str] = Field(
        default=[], description="Data categories without consent, not shown."
    )


class ConsentOut(BaseModel):
    """The consent decision in force for one data category."""

    category: str
    decision: Literal["permit", "deny"]
    explicit: bool = Field(
        description="False when no decision was recorded and the default applies."
    )
    decided_at: datetime | None = None
    decided_by: str | None = None


class ConsentRequest(BaseModel):
    """A new consent decision."""

    decision: Literal["permit", "deny"]


class ExplanationRequest(BaseModel):
    """Ask the wearable service for the attention map of one 7-day window."""

    window_end: datetime = Field(
        description="End of the window, with its offset (a scored day's window_end)."
    )
    head: str = Field(
        default="depression", pattern=r"^[a-z][a-z0-9_]{0,31}$", description="Head to explain."
    )


class ExplanationRequestOut(BaseModel):
    """A queued explanation request; the map appears on the timeline as ``wearable.attention``."""

    event_id: str
    window_end: datetime
    head: str
    duplicate: bool = Field(description="True when the same request was already queued.")


class GenotypeRiskOut(BaseModel):
    """A patient's newest genetic risk for one trait (a ``genotype.trait_risk`` record)."""

    event_id: str
    observed_at: datetime
    produced_at: datetime
    producer: dict[str, Any] = Field(description="Service, model name, version and run.")
    inputs: list[str] = Field(description="The call-set records it was computed from.")
    risk: dict[str, Any] = Field(
        description="The payload: score or reason, interval, percentile, top SNPs, versions."
    )


class GenotypeRisks(BaseModel):
    """A patient's newest genetic risk per trait."""

    patient_id: str
    risks: list[GenotypeRiskOut] = Field(description="One per trait, sorted by trait.")


class CohortValue(BaseModel):
    """A pseudonymised feature value for research."""

    patient_id: str
    feature: str
    value: float
    observed_at: datetime


class FileReportOut(BaseModel):
    """What ingesting one uploaded file did."""

    path: str
    format: str
    accepted: int
    already: int
    rejected: int
    skipped: int
    by_topic: dict[str, int]
    messages: list[str]


class IngestReportOut(BaseModel):
    """What an upload did."""

    files: list[FileReportOut]
    accepted: int
    already: int
    rejected: int


class AuditEntryOut(BaseModel):
    """One audit entry."""

    seq: int
    at: datetime
    actor: str
    role: str
    patient_id: str | None
    action: str
    resource: str
    request_id: str
    outcome: str

"""The Clarity SDK: a typed Python client of the API, sharing the API's own models."""

from clarity.sdk._client import ApiError, ClarityClient
from clarity.sdk._models import (
    AuditEntryOut,
    CohortValue,
    ConsentOut,
    ConsentRequest,
    ExplanationRequest,
    ExplanationRequestOut,
    FeatureOut,
    FileReportOut,
    IngestReportOut,
    Me,
    PatientDetail,
    PatientPage,
    PatientSummary,
    TimelineItem,
    TimelinePage,
    Token,
)

__all__ = [
    "ApiError",
    "AuditEntryOut",
    "ClarityClient",
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

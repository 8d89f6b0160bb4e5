"""Clinical notes: crisis alerts, PHI redaction, extractive summaries and the fact check.

Crisis language is found by rules that never depend on a language model, and
published at once; PHI is replaced before any text leaves the service.
"""

from clarity.notes._crisis import DETECTOR_VERSION, CrisisAssessment, CrisisFinding, assess_crisis
from clarity.notes._extractive import SECTIONS, SourceNote, extractive_summary
from clarity.notes._factcheck import Citation, Claim, Verdict, check_claim, fact_check
from clarity.notes._phi import PHI_KINDS, REDACTOR_VERSION, PhiRedactor, PhiSpan, Redacted
from clarity.notes._service import NotesService, NotesServiceReport

__all__ = [
    "DETECTOR_VERSION",
    "PHI_KINDS",
    "REDACTOR_VERSION",
    "SECTIONS",
    "Citation",
    "Claim",
    "CrisisAssessment",
    "CrisisFinding",
    "NotesService",
    "NotesServiceReport",
    "PhiRedactor",
    "PhiSpan",
    "Redacted",
    "SourceNote",
    "Verdict",
    "assess_crisis",
    "check_claim",
    "extractive_summary",
    "fact_check",
]

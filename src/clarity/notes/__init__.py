"""Clinical notes: PHI redaction and crisis detection (more of the notes service follows)."""

from clarity.notes._crisis import CrisisAssessment, CrisisFinding, assess_crisis
from clarity.notes._phi import PHI_KINDS, PhiRedactor, PhiSpan, Redacted

__all__ = [
    "PHI_KINDS",
    "CrisisAssessment",
    "CrisisFinding",
    "PhiRedactor",
    "PhiSpan",
    "Redacted",
    "assess_crisis",
]

"""Clinical notes: PHI redaction (more of the notes service follows)."""

from clarity.notes._phi import PHI_KINDS, PhiRedactor, PhiSpan, Redacted

__all__ = ["PHI_KINDS", "PhiRedactor", "PhiSpan", "Redacted"]

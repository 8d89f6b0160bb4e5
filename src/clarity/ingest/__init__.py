"""Ingest: one reader per input format, each streaming contract records onto the bus.

Readers never crash on bad input and never drop it: each refused item goes to
the dead-letter topic with its file, location, field and reason, and every good
record is still ingested. Each record's ``patient_id`` is a pseudonym
(:class:`Pseudonymizer`); a patient's source identifier is not copied into the
payload (provenance fields - ``source``, resource ids, a genotype's
``sample_id``, which services need to read the file - keep what the source
file calls things, so access to them is restricted by the API). Event ids
derive from the source content, so ingesting the same file twice adds nothing.
"""

from clarity.ingest._core import (
    Accepted,
    FileReport,
    IngestReport,
    Pseudonymizer,
    ReadContext,
    Rejected,
    Skipped,
)
from clarity.ingest._run import FORMATS, IngestTarget, detect_format, ingest_paths, plan
from clarity.ingest.actigraphy import choi_nonwear

__all__ = [
    "FORMATS",
    "Accepted",
    "FileReport",
    "IngestReport",
    "IngestTarget",
    "Pseudonymizer",
    "ReadContext",
    "Rejected",
    "Skipped",
    "choi_nonwear",
    "detect_format",
    "ingest_paths",
    "plan",
]

"""Clinical notes: crisis alerts, PHI redaction, retrieval and fact-checked summaries.

Crisis language is found by rules that never depend on a language model, and
published at once; PHI is replaced before any text leaves the service. A
summary is drafted by a pluggable backend (extractive by default; a local
transformers model with a LoRA adapter; any OpenAI-compatible server) from the
redacted notes and retrieved passages, and only sentences their cited spans
support are kept.

Nothing here imports torch or transformers until a model is loaded.
"""

from clarity.notes._crisis import DETECTOR_VERSION, CrisisAssessment, CrisisFinding, assess_crisis
from clarity.notes._draft import DraftRequest, Passage, SummaryBackend
from clarity.notes._extractive import (
    EXTRACTIVE_VERSION,
    SECTIONS,
    ExtractiveBackend,
    SourceNote,
    extractive_summary,
)
from clarity.notes._factcheck import (
    FACT_CHECK_VERSION,
    Citation,
    Claim,
    Encoder,
    Verdict,
    check_claim,
    fact_check,
)
from clarity.notes._index import NoteIndex, SqliteNoteIndex, retrieve_for_summary
from clarity.notes._index_postgres import PostgresNoteIndex
from clarity.notes._llm import LlamaCppBackend, OpenAIBackend, TransformersBackend, make_backend
from clarity.notes._phi import PHI_KINDS, REDACTOR_VERSION, PhiRedactor, PhiSpan, Redacted
from clarity.notes._prompt import TEMPLATES, build_prompt, parse_draft, render
from clarity.notes._retrieval import (
    SECTION_QUERIES,
    Chunk,
    Embedder,
    chunk_note,
    hybrid_rank,
    load_embedder,
)
from clarity.notes._service import NotesService, NotesServiceReport
from clarity.notes._summarise import Summary, summarise
from clarity.notes._summariser import NotesSummariser, source_notes

__all__ = [
    "DETECTOR_VERSION",
    "EXTRACTIVE_VERSION",
    "FACT_CHECK_VERSION",
    "PHI_KINDS",
    "REDACTOR_VERSION",
    "SECTIONS",
    "SECTION_QUERIES",
    "TEMPLATES",
    "Chunk",
    "Citation",
    "Claim",
    "CrisisAssessment",
    "CrisisFinding",
    "DraftRequest",
    "Embedder",
    "Encoder",
    "ExtractiveBackend",
    "LlamaCppBackend",
    "NoteIndex",
    "NotesService",
    "NotesServiceReport",
    "NotesSummariser",
    "OpenAIBackend",
    "Passage",
    "PhiRedactor",
    "PhiSpan",
    "PostgresNoteIndex",
    "Redacted",
    "SourceNote",
    "SqliteNoteIndex",
    "Summary",
    "SummaryBackend",
    "TransformersBackend",
    "Verdict",
    "assess_crisis",
    "build_prompt",
    "check_claim",
    "chunk_note",
    "extractive_summary",
    "fact_check",
    "hybrid_rank",
    "load_embedder",
    "make_backend",
    "parse_draft",
    "render",
    "retrieve_for_summary",
    "source_notes",
    "summarise",
]

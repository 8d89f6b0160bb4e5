"""FHIR R4 bundles: patients, questionnaires, diagnoses, medications and notes.

Each resource is checked with ``fhir.resources``' R4B model first (structure and
data types), then Clarity's own rules (codes, units, consistency), and becomes
one record or one rejection; a bad resource never stops the rest of the bundle.
Resources Clarity does not use (vitals, encounters, ...) are skipped and counted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from clarity.contracts import (
    INSTRUMENTS,
    Ancestry,
    ClinicalNote,
    ConditionStatus,
    Diagnosis,
    Instrument,
    MedicationStatement,
    MedicationStatus,
    OriginalFormat,
    PatientDemographics,
    QuestionnaireObservation,
)
from clarity.errors import FieldError
from clarity.ingest._core import Accepted, Item, ReadContext, Rejected, Skipped, content_digest, rejection_from

__all__ = ["read_fhir"]

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"}
BIOGEOGRAPHIC_GROUP_URL = "https://clarity.dev/fhir/StructureDefinition/cpic-biogeographic-group"
_USED = {"Patient", "Observation", "Condition", "MedicationStatement", "MedicationRequest", "DocumentReference"}
_BY_PANEL = {spec.panel_loinc: i for i, spec in INSTRUMENTS.items()}
_BY_TOTAL = {spec.total_loinc: i for i, spec in INSTRUMENTS.items()}
_ITEM_CODES = {code for spec in INSTRUMENTS.values() for code in spec.item_loincs}
_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_PERIOD_PER_DAY = {"d": 1.0, "h": 24.0, "wk": 1 / 7, "mo": 1 / 30}
_REQUEST_STATUS = {
    "active": "active", "on-hold": "on_hold", "cancelled": "stopped", "completed": "completed",
    "entered-in-error": "entered_in_error", "stopped": "stopped", "draft": "intended", "unknown": "unknown",
}


class _Problem(ValueError):
    """A resource Clarity cannot use, with the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415 - heavy import

    return get_fhir_model_class(resource_type)


def _coding(concept: dict[str, Any] | None, systems: set[str]) -> dict[str, Any] | None:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") in systems and coding.get("code"):
            return dict(coding)
    return None


def _when(value: str | None, zone: str | None, field: str) -> datetime:
    if not value:
        raise _Problem(field, "missing; Clarity needs the time of the observation")
    if len(value) <= 10:  # a date (or year-month): local midnight
        parts = [int(p) for p in value.split("-")] + [1, 1]
        local = datetime.combine(date(parts[0], parts[1], parts[2]), time())
        return local.replace(tzinfo=ZoneInfo(zone or "UTC")).astimezone(UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:  # FHIR requires an offset when there is a time
        raise _Problem(field, f"{value!r} has a time but no timezone offset")
    return moment.astimezone(UTC)


def _date(value: str | None) -> date | None:
    if not value:
        return None
    parts = [int(p) for p in value[:10].split("-")] + [1, 1]
    return date(parts[0], parts[1], parts[2])


def _patient_ref(resource: dict[str, Any], known: dict[str, str]) -> str:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    source = known.get(reference) or known.get(reference.split("/")[-1])
    if not source:
        raise _Problem("subject", f"refers to {reference or 'no patient'}, which is not a Patient in this bundle")
    return source


def _demographics(resource: dict[str, Any]) -> PatientDemographics:
    birth = resource.get("birthDate")
    if not birth:
        raise _Problem("birthDate", "missing; Clarity keeps the birth year")
    group = next(
        (e.get("valueCode") for e in resource.get("extension", []) if e.get("url") == BIOGEOGRAPHIC_GROUP_URL),
        None,
    )
    return PatientDemographics(
        birth_year=int(birth[:4]),
        sex=resource.get("gender", "unknown"),
        ancestry=group if group in Ancestry.__members__ else Ancestry.unknown,
        site=(resource.get("managingOrganization") or {}).get("display"),
        fhir_id=resource.get("id"),
    )


def _score(observation: dict[str, Any], field: str) -> int:
    if "valueInteger" in observation:
        value = observation["valueInteger"]
    elif "valueQuantity" in observation:
        value = observation["valueQuantity"].get("value")
    else:
        raise _Problem(field, "has no valueInteger or valueQuantity")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise _Problem(field, f"score {value!r} is not a whole number")
    return int(value)


def _questionnaire(
    instrument: Instrument, total: dict[str, Any], items: list[tuple[str, int]]
) -> QuestionnaireObservation:
    spec = INSTRUMENTS[instrument]
    return QuestionnaireObservation(
        instrument=instrument,
        panel_loinc=spec.panel_loinc,
        total_loinc=spec.total_loinc,
        total_score=_score(total, "value"),
        items=[{"loinc": code, "score": score} for code, score in items],
        fhir_id=total.get("id"),
    )


def _medication(resource: dict[str, Any], zone: str | None) -> tuple[MedicationStatement, datetime]:
    coding = _coding(resource.get("medicationCodeableConcept"), {RXNORM})
    if coding is None:
        raise _Problem("medicationCodeableConcept", "has no RxNorm coding")
    kind = resource["resourceType"]
    dosages = resource.get("dosage" if kind == "MedicationStatement" else "dosageInstruction") or [{}]
    dosage = dosages[0]
    dose_mg = None
    for rate in dosage.get("doseAndRate", []):
        quantity = rate.get("doseQuantity")
        if quantity:
            unit = quantity.get("code") or quantity.get("unit")
            if unit not in _MASS_TO_MG:
                raise _Problem("dosage.doseQuantity.unit", f"{unit!r} is not a mass unit (mg, g, ug)")
            dose_mg = float(quantity["value"]) * _MASS_TO_MG[unit]
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    frequency = None
    if "frequency" in repeat:
        unit = repeat.get("periodUnit", "d")
        if unit not in _PERIOD_PER_DAY:
            raise _Problem("dosage.timing.repeat.periodUnit", f"{unit!r} is not one of d, h, wk, mo")
        frequency = repeat["frequency"] / repeat.get("period", 1) * _PERIOD_PER_DAY[unit]
    if kind == "MedicationStatement":
        status = resource.get("status", "unknown").replace("-", "_")
        period = resource.get("effectivePeriod") or {}
        start, end = period.get("start") or resource.get("effectiveDateTime"), period.get("end")
        observed = start or resource.get("dateAsserted")
    else:
        status = _REQUEST_STATUS.get(resource.get("status", "unknown"), "unknown")
        validity = (resource.get("dispenseRequest") or {}).get("validityPeriod") or {}
        start, end = validity.get("start") or resource.get("authoredOn"), validity.get("end")
        observed = resource.get("authoredOn") or start
    reason = _coding((resource.get("reasonCode") or [None])[0], ICD10_SYSTEMS)
    payload = MedicationStatement(
        rxnorm=coding["code"],
        name=coding.get("display") or (resource.get("medicationCodeableConcept") or {}).get("text") or coding["code"],
        status=MedicationStatus(status) if status in MedicationStatus.__members__ else MedicationStatus.unknown,
        dose_mg=dose_mg,
        frequency_per_day=frequency,
        route=(dosage.get("route") or {}).get("text"),
        started_on=_date(start),
        ended_on=_date(end),
        reason=reason["code"] if reason else None,
        fhir_id=resource.get("id"),
    )
    return payload, _when(observed, zone, "effectivePeriod.start")


def _note(resource: dict[str, Any], zone: str | None) -> tuple[ClinicalNote, datetime]:
    contents = resource.get("content") or []
    attachment = (contents[0] if contents else {}).get("attachment") or {}
    content_type = attachment.get("contentType", "")
    if not content_type.startswith("text/plain"):
        raise _Problem("content.attachment.contentType", f"{content_type!r} is not text/plain")
    if "data" not in attachment:
        raise _Problem("content.attachment.data", "the note text is not inline (a url cannot be fetched)")
    try:
        text = base64.b64decode(attachment["data"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _Problem("content.attachment.data", f"is not base64 of UTF-8 text ({error})") from None
    doc_type = _coding(resource.get("type"), {LOINC})
    note = ClinicalNote(
        note_id=resource.get("id") or content_digest(text),
        note_type_loinc=doc_type["code"] if doc_type else "11506-3",
        text=text,
        language=(attachment.get("language") or "en").split("-")[0],
    )
    when = resource.get("date") or ((resource.get("context") or {}).get("period") or {}).get("start")
    return note, _when(when, zone, "date")


def read_fhir(context: ReadContext) -> Iterator[Item]:  # noqa: PLR0912, PLR0915
    """Read a FHIR R4 bundle (or a single resource) into contract records.

    Parameters
    ----------
    context
        The file and how to name and place its records.

    Yields
    ------
    Accepted, Rejected or Skipped
        One per resource (questionnaire panels and their members make one record).
    """
    raw = context.path.read_bytes()
    try:
        document = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        yield Rejected(
            location=f"byte {getattr(error, 'pos', 0)}",
            reason=f"not valid JSON: {error}; the whole file was refused",
            original=raw[:65_536],
            errors=(FieldError("", str(error), "malformed_json"),),
        )
        return
    if not isinstance(document, dict) or "resourceType" not in document:
        yield Rejected(location="file", reason="not a FHIR resource (no resourceType)", original=raw[:65_536])
        return
    if document["resourceType"] == "Bundle":
        resources = [(i, e.get("resource")) for i, e in enumerate(document.get("entry") or [])]
        bundle_time = document.get("timestamp")
    else:
        resources, bundle_time = [(0, document)], None
    zone = context.timezone
    checked: list[tuple[int, dict[str, Any]]] = []
    for index, resource in resources:
        location = f"entry {index}"
        if not isinstance(resource, dict) or "resourceType" not in resource:
            yield Rejected(location=location, reason="entry has no resource", original=json.dumps(resource).encode())
            continue
        kind = resource["resourceType"]
        location = f"entry {index} ({kind}/{resource.get('id', '?')})"
        if kind not in _USED:
            yield Skipped(location, f"{kind} is not used by Clarity")
            continue
        try:
            _model_class(kind).model_validate(resource)
        except (ValidationError, ValueError, TypeError) as error:
            yield rejection_from(error, location, json.dumps(resource).encode(), original_format=OriginalFormat.json)
            continue
        checked.append((index, resource))

    patients = {}
    for _, resource in checked:
        if resource["resourceType"] == "Patient":
            patients[f"Patient/{resource.get('id')}"] = resource.get("id")
            patients[str(resource.get("id"))] = resource.get("id")
    by_id = {r.get("id"): r for _, r in checked if r["resourceType"] == "Observation"}
    members = {
        ref.get("reference", "").split("/")[-1]
        for r in by_id.values()
        if _coding(r.get("code"), {LOINC}) and _coding(r.get("code"), {LOINC})["code"] in _BY_PANEL
        for ref in r.get("hasMember", [])
    }
    for index, resource in checked:
        kind = resource["resourceType"]
        location = f"entry {index} ({kind}/{resource.get('id', '?')})"
        original = json.dumps(resource, sort_keys=True).encode()
        digest = content_digest(original)
        identity = (kind, str(resource.get("id")), digest)
        topic = None
        try:
            if kind == "Patient":
                topic = "ingest.patient"
                source_patient = str(resource.get("id"))
                payload: Any = _demographics(resource)
                observed = _when(bundle_time, zone, "Bundle.timestamp") if bundle_time else context.now
            else:
                source_patient = _patient_ref(resource, patients)
            if kind == "Condition":
                topic = "ingest.condition"
                coding = _coding(resource.get("code"), ICD10_SYSTEMS)
                if coding is None:
                    raise _Problem("code", "has no ICD-10 coding")
                status = _coding(resource.get("clinicalStatus"), {"http://terminology.hl7.org/CodeSystem/condition-clinical"})
                payload = Diagnosis(
                    icd10=coding["code"],
                    clinical_status=status["code"] if status and status["code"] in ConditionStatus.__members__ else "unknown",
                    onset=_date(resource.get("onsetDateTime")),
                    fhir_id=resource.get("id"),
                )
                observed = _when(resource.get("onsetDateTime") or resource.get("recordedDate") or bundle_time, zone, "onsetDateTime")
            elif kind == "Observation":
                coding = _coding(resource.get("code"), {LOINC})
                code = coding["code"] if coding else None
                if resource.get("status") not in ("final", "amended", "corrected"):
                    yield Skipped(location, f"status {resource.get('status')!r} is not final")
                    continue
                if code in _BY_PANEL:
                    topic = "ingest.observation"
                    instrument = _BY_PANEL[code]
                    parts = [by_id.get(ref.get("reference", "").split("/")[-1]) for ref in resource.get("hasMember", [])]
                    if any(p is None for p in parts):
                        raise _Problem("hasMember", "refers to an Observation that is not in the bundle")
                    total = next((p for p in parts if p and _coding(p.get("code"), {LOINC}) and _coding(p.get("code"), {LOINC})["code"] == INSTRUMENTS[instrument].total_loinc), None)
                    if total is None:
                        raise _Problem("hasMember", f"has no {instrument.value} total score ({INSTRUMENTS[instrument].total_loinc})")
                    items = []
                    for part in parts:
                        assert part is not None
                        part_code = _coding(part.get("code"), {LOINC})
                        if part is not total:
                            items.append((part_code["code"] if part_code else "?", _score(part, f"hasMember {part.get('id')}")))
                    payload = _questionnaire(instrument, total, items)
                elif code in _BY_TOTAL and resource.get("id") not in members:
                    topic = "ingest.observation"
                    items = []
                    for number, component in enumerate(resource.get("component", [])):
                        component_code = _coding(component.get("code"), {LOINC})
                        items.append((component_code["code"] if component_code else "?", _score(component, f"component {number}")))
                    payload = _questionnaire(_BY_TOTAL[code], resource, items)
                elif code in _BY_TOTAL or code in _ITEM_CODES:
                    yield Skipped(location, "part of a questionnaire panel")
                    continue
                else:
                    yield Skipped(location, f"LOINC {code} is not an observation Clarity uses")
                    continue
                observed = _when(resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start"), zone, "effectiveDateTime")
            elif kind in ("MedicationStatement", "MedicationRequest"):
                topic = "ingest.medication"
                payload, observed = _medication(resource, zone)
            elif kind == "DocumentReference":
                topic = "ingest.note"
                if resource.get("status") == "entered-in-error":
                    yield Skipped(location, "entered in error")
                    continue
                payload, observed = _note(resource, zone)
            assert topic is not None
            yield Accepted(
                context.envelope(
                    reader="fhir",
                    topic=topic,
                    source_patient=source_patient,
                    observed_at=observed,
                    locator=location,
                    identity=identity,
                    payload=payload,
                )
            )
        except (_Problem, ValidationError, ValueError) as error:
            if isinstance(error, _Problem):
                error = _as_violation(error, topic)
            yield rejection_from(
                error,
                location,
                original,
                original_format=OriginalFormat.json,
                topic=topic,
                patient_id=context.pseudonym(patients[_ref_key(resource)]) if _ref_key(resource) in patients else None,
            )


def _ref_key(resource: dict[str, Any]) -> str:
    if resource.get("resourceType") == "Patient":
        return str(resource.get("id"))
    return str((resource.get("subject") or {}).get("reference", ""))


def _as_violation(problem: _Problem, topic: str | None) -> Exception:
    from clarity.errors import ContractViolation  # noqa: PLC0415

    return ContractViolation(problem.reason, topic=topic, errors=[FieldError(problem.field, problem.reason)])

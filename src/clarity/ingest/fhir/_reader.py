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
from clarity.errors import ContractViolation, FieldError
from clarity.ingest._core import (
    Accepted,
    Item,
    ReadContext,
    Rejected,
    Skipped,
    content_digest,
    rejection_from,
)

__all__ = ["read_fhir"]

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10", "http://hl7.org/fhir/sid/icd-10-cm"}
_CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
BIOGEOGRAPHIC_GROUP_URL = "https://clarity.dev/fhir/StructureDefinition/cpic-biogeographic-group"
_USED = {
    "Patient",
    "Observation",
    "Condition",
    "MedicationStatement",
    "MedicationRequest",
    "DocumentReference",
}
_BY_PANEL = {spec.panel_loinc: i for i, spec in INSTRUMENTS.items()}
_BY_TOTAL = {spec.total_loinc: i for i, spec in INSTRUMENTS.items()}
_ITEM_CODES = {code for spec in INSTRUMENTS.values() for code in spec.item_loincs}
_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "mcg": 0.001, "µg": 0.001}
_PERIOD_PER_DAY = {"d": 1.0, "h": 24.0, "wk": 1 / 7, "mo": 1 / 30}
_REQUEST_STATUS = {
    "active": "active",
    "on-hold": "on_hold",
    "cancelled": "stopped",
    "completed": "completed",
    "entered-in-error": "entered_in_error",
    "stopped": "stopped",
    "draft": "intended",
    "unknown": "unknown",
}


class _Problem(ValueError):
    """A resource Clarity cannot use, with the field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _model_class(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

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


def _demographics(resource: dict[str, Any]) -> PatientDemographics:
    birth = resource.get("birthDate")
    if not birth:
        raise _Problem("birthDate", "missing; Clarity keeps the birth year")
    group = next(
        (
            e.get("valueCode")
            for e in resource.get("extension", [])
            if e.get("url") == BIOGEOGRAPHIC_GROUP_URL
        ),
        None,
    )
    return PatientDemographics(
        birth_year=int(birth[:4]),
        sex=resource.get("gender", "unknown"),
        ancestry=group if group in Ancestry.__members__ else Ancestry.unknown,
        site=(resource.get("managingOrganization") or {}).get("display"),
    )


def _score(observation: dict[str, Any], field: str) -> int:
    if observation.get("valueInteger") is not None:
        value = observation["valueInteger"]
    elif observation.get("valueQuantity"):
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
    dosages = resource.get("dosage" if kind == "MedicationStatement" else "dosageInstruction") or [
        {}
    ]
    dosage = dosages[0]
    dose_mg = None
    for rate in dosage.get("doseAndRate", []):
        quantity = rate.get("doseQuantity")
        if quantity:
            unit = quantity.get("code") or quantity.get("unit")
            if unit in _MASS_TO_MG:  # other units are reported, and the drug kept without dose
                dose_mg = float(quantity["value"]) * _MASS_TO_MG[unit]
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    frequency = None
    if "frequency" in repeat:
        unit = repeat.get("periodUnit", "d")
        if unit not in _PERIOD_PER_DAY:
            raise _Problem(
                "dosage.timing.repeat.periodUnit", f"{unit!r} is not one of d, h, wk, mo"
            )
        if not repeat.get("period", 1) > 0:
            raise _Problem(
                "dosage.timing.repeat.period", f"{repeat.get('period')!r} is not positive"
            )
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
        name=coding.get("display")
        or (resource.get("medicationCodeableConcept") or {}).get("text")
        or coding["code"],
        status=MedicationStatus(status)
        if status in MedicationStatus.__members__
        else MedicationStatus.unknown,
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
        raise _Problem(
            "content.attachment.data", "the note text is not inline (a url cannot be fetched)"
        )
    try:
        text = base64.b64decode(attachment["data"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _Problem(
            "content.attachment.data", f"is not base64 of UTF-8 text ({error})"
        ) from None
    doc_type = _coding(resource.get("type"), {LOINC})
    note = ClinicalNote(
        note_id=resource.get("id") or content_digest(text),
        note_type_loinc=doc_type["code"] if doc_type else "11506-3",
        text=text,
        language=(attachment.get("language") or "en").split("-")[0],
    )
    when = resource.get("date") or ((resource.get("context") or {}).get("period") or {}).get(
        "start"
    )
    return note, _when(when, zone, "date")


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value if v is not None]
    return value


def _location(index: int, resource: dict[str, Any]) -> str:
    # A Patient's id is its source identifier: the location names the entry, not the id.
    kind = resource["resourceType"]
    if kind == "Patient":
        return f"entry {index} (Patient)"
    return f"entry {index} ({kind}/{resource.get('id', '?')})"


def _dose_unit(resource: dict[str, Any]) -> str | None:
    """Return the unit of a dose that is not a mass, or None."""
    key = "dosage" if resource["resourceType"] == "MedicationStatement" else "dosageInstruction"
    for dosage in resource.get(key) or []:
        for rate in dosage.get("doseAndRate", []):
            quantity = rate.get("doseQuantity") or {}
            unit = quantity.get("code") or quantity.get("unit")
            if quantity and unit not in _MASS_TO_MG:
                return str(unit)
    return None


def _loinc(resource: dict[str, Any] | None) -> str | None:
    coding = _coding((resource or {}).get("code"), {LOINC})
    return str(coding["code"]) if coding else None


class _Bundle:
    """The resources of one bundle that passed the R4B model check, indexed for references.

    References resolve by ``Type/id``, by ``fullUrl`` (``urn:uuid:...`` in most
    exports), and by the ``Type/id`` tail of an absolute URL.
    """

    def __init__(
        self, resources: list[tuple[int, dict[str, Any], str | None]], timestamp: str | None
    ) -> None:
        self.resources = resources
        self.timestamp = timestamp
        self._by_ref: dict[str, dict[str, Any]] = {}
        for _, resource, url in resources:
            if resource.get("id"):
                self._by_ref[f"{resource['resourceType']}/{resource['id']}"] = resource
            if url:
                self._by_ref[url] = resource
        self.members: set[int] = set()
        for _, resource, _ in resources:
            if resource["resourceType"] == "Observation" and _loinc(resource) in _BY_PANEL:
                for ref in resource.get("hasMember", []):
                    member = self.resolve(ref.get("reference", ""))
                    if member is not None:
                        self.members.add(id(member))

    def resolve(self, reference: str) -> dict[str, Any] | None:
        found = self._by_ref.get(reference)
        if found is None and "/" in reference:
            found = self._by_ref.get("/".join(reference.rstrip("/").split("/")[-2:]))
        return found

    def patient_of(self, resource: dict[str, Any]) -> str | None:
        if resource["resourceType"] == "Patient":
            return str(resource["id"]) if resource.get("id") else None
        patient = self.resolve((resource.get("subject") or {}).get("reference", ""))
        if patient is None or patient["resourceType"] != "Patient" or not patient.get("id"):
            return None
        return str(patient["id"])

    def content(self, resource: dict[str, Any]) -> bytes:
        """Return the resource, and a panel's members, as canonical JSON (for the event id)."""
        parts = [resource]
        if resource["resourceType"] == "Observation" and _loinc(resource) in _BY_PANEL:
            parts += [
                self.resolve(r.get("reference", "")) or {} for r in resource.get("hasMember", [])
            ]
        return json.dumps(parts, sort_keys=True).encode()


def _panel(resource: dict[str, Any], bundle: _Bundle) -> QuestionnaireObservation:
    instrument = _BY_PANEL[str(_loinc(resource))]
    spec = INSTRUMENTS[instrument]
    parts = [bundle.resolve(ref.get("reference", "")) for ref in resource.get("hasMember", [])]
    found = [p for p in parts if p is not None]
    if len(found) != len(parts):
        raise _Problem("hasMember", "refers to an Observation that is not in the bundle")
    total = next((p for p in found if _loinc(p) == spec.total_loinc), None)
    if total is None:
        raise _Problem("hasMember", f"has no {instrument.value} total score ({spec.total_loinc})")
    items = [
        (_loinc(p) or "?", _score(p, f"hasMember {p.get('id')}")) for p in found if p is not total
    ]
    return _questionnaire(instrument, total, items)


def _scored(resource: dict[str, Any]) -> QuestionnaireObservation:
    items = []
    for number, component in enumerate(resource.get("component", [])):
        items.append((_loinc(component) or "?", _score(component, f"component {number}")))
    return _questionnaire(_BY_TOTAL[str(_loinc(resource))], resource, items)


_Built = tuple[str, Any, datetime]


def _build(resource: dict[str, Any], bundle: _Bundle, context: ReadContext) -> _Built | str:
    """Turn one resource into (topic, payload, observed time), or a reason to skip it."""
    kind = resource["resourceType"]
    zone = context.timezone
    if kind == "Patient":
        observed = (
            _when(bundle.timestamp, zone, "Bundle.timestamp") if bundle.timestamp else context.now
        )
        return "ingest.patient", _demographics(resource), observed
    if kind == "Condition":
        coding = _coding(resource.get("code"), ICD10_SYSTEMS)
        if coding is None:
            raise _Problem("code", "has no ICD-10 coding")
        status = _coding(resource.get("clinicalStatus"), {_CLINICAL_STATUS})
        payload = Diagnosis(
            icd10=coding["code"],
            clinical_status=status["code"]
            if status and status["code"] in ConditionStatus.__members__
            else "unknown",
            onset=_date(resource.get("onsetDateTime")),
            fhir_id=resource.get("id"),
        )
        when = resource.get("onsetDateTime") or resource.get("recordedDate") or bundle.timestamp
        return "ingest.condition", payload, _when(when, zone, "onsetDateTime")
    if kind in ("MedicationStatement", "MedicationRequest"):
        medication, observed = _medication(resource, zone)
        return "ingest.medication", medication, observed
    if kind == "DocumentReference":
        if resource.get("status") == "entered-in-error":
            return "entered in error"
        note, observed = _note(resource, zone)
        return "ingest.note", note, observed
    # Observation
    if resource.get("status") not in ("final", "amended", "corrected"):
        return f"status {resource.get('status')!r} is not final"
    code = _loinc(resource)
    if code in _BY_PANEL:
        questionnaire = _panel(resource, bundle)
    elif code in _BY_TOTAL and id(resource) not in bundle.members:
        questionnaire = _scored(resource)
    elif code in _BY_TOTAL or code in _ITEM_CODES:
        return "part of a questionnaire panel"
    else:
        return f"LOINC {code} is not an observation Clarity uses"
    when = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    return "ingest.observation", questionnaire, _when(when, zone, "effectiveDateTime")


_TOPIC_OF = {
    "Patient": "ingest.patient",
    "Condition": "ingest.condition",
    "Observation": "ingest.observation",
    "MedicationStatement": "ingest.medication",
    "MedicationRequest": "ingest.medication",
    "DocumentReference": "ingest.note",
}


def _checked(
    document: dict[str, Any],
) -> Iterator[Item | tuple[int, dict[str, Any], str | None]]:
    """Yield each entry that passes the R4B model check, and an item for every other."""
    if document["resourceType"] == "Bundle":
        entries = [
            (i, e.get("resource"), e.get("fullUrl")) if isinstance(e, dict) else (i, None, None)
            for i, e in enumerate(document.get("entry") or [])
        ]
    else:
        entries = [(0, document, None)]
    for index, entry, url in entries:
        # JSON nulls are not valid FHIR; the R4B model reads them as absent, and so do we.
        resource = _drop_nulls(entry)
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            yield Rejected(
                location=f"entry {index}",
                reason="entry has no resource",
                original=json.dumps(resource).encode(),
            )
            continue
        kind = resource["resourceType"]
        location = _location(index, resource)
        if kind not in _USED:
            yield Skipped(location, f"{kind} is not used by Clarity")
            continue
        try:
            _model_class(kind).model_validate(resource)
        except (ValidationError, ValueError, TypeError) as error:
            yield rejection_from(
                error,
                location,
                json.dumps(resource).encode(),
                original_format=OriginalFormat.json,
                topic=_TOPIC_OF[kind],
            )
            continue
        yield index, resource, url


def read_fhir(context: ReadContext) -> Iterator[Item]:
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
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        yield Rejected(
            location=f"byte {getattr(error, 'pos', 0)}",
            reason=f"not valid JSON: {error}; the whole file was refused",
            original=raw[:65_536],
            errors=(FieldError("", str(error), "malformed_json"),),
        )
        return
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        yield Rejected(
            location="file", reason="not a FHIR resource (no resourceType)", original=raw[:65_536]
        )
        return
    resources: list[tuple[int, dict[str, Any], str | None]] = []
    for checked in _checked(document):
        if isinstance(checked, tuple):
            resources.append(checked)
        else:
            yield checked
    bundle = _Bundle(
        resources, document.get("timestamp") if document["resourceType"] == "Bundle" else None
    )
    for index, resource, _ in resources:
        kind = resource["resourceType"]
        location = _location(index, resource)
        original = json.dumps(resource, sort_keys=True).encode()
        source_patient = bundle.patient_of(resource)
        pseudonym = context.pseudonym(source_patient) if source_patient else None
        try:
            if source_patient is None:
                raise _Problem("subject", "does not refer to a Patient in this bundle")
            built = _build(resource, bundle, context)
            if isinstance(built, str):
                yield Skipped(location, built)
                continue
            topic, payload, observed = built
            yield Accepted(
                context.envelope(
                    reader="fhir",
                    topic=topic,
                    source_patient=source_patient,
                    observed_at=observed,
                    locator=location,
                    identity=(
                        kind,
                        str(resource.get("id")),
                        content_digest(bundle.content(resource)),
                    ),
                    payload=payload,
                ),
                original=original,
            )
            if isinstance(payload, MedicationStatement) and payload.dose_mg is None:
                unit = _dose_unit(resource)
                if unit is not None:
                    yield Rejected(
                        location=location,
                        reason=f"dosage unit {unit!r} is not a mass unit (mg, g, ug); the "
                        "medication was ingested without its dose",
                        original=original,
                        original_format=OriginalFormat.json,
                        topic="ingest.medication",
                        errors=(
                            FieldError(
                                "dosage.doseQuantity.unit", f"{unit!r} is not a mass unit", "unit"
                            ),
                        ),
                        patient_id=pseudonym,
                    )
        except _Problem as problem:
            violation = ContractViolation(
                problem.reason,
                topic=_TOPIC_OF[kind],
                errors=[FieldError(problem.field, problem.reason)],
            )
            yield rejection_from(
                violation,
                location,
                original,
                original_format=OriginalFormat.json,
                topic=_TOPIC_OF[kind],
                patient_id=pseudonym,
            )
        except (ValidationError, ValueError) as error:
            yield rejection_from(
                error,
                location,
                original,
                original_format=OriginalFormat.json,
                topic=_TOPIC_OF[kind],
                patient_id=pseudonym,
            )
        except (TypeError, AttributeError, KeyError, IndexError) as error:
            # A shape the R4B model allows but these rules did not foresee: refuse, never crash.
            yield rejection_from(
                ValueError(f"unexpected structure ({type(error).__name__}: {error})"),
                location,
                original,
                original_format=OriginalFormat.json,
                topic=_TOPIC_OF[kind],
                patient_id=pseudonym,
            )

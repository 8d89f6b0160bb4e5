"""FHIR R4 bundles of one patient's clinical record.

Plain JSON built from the simulation; the tests validate every bundle with
``fhir.resources``' R4B models. Questionnaires are written in the two shapes
EHRs export: a panel Observation whose ``hasMember`` points at the item and
total Observations, or a single total-score Observation with one component per
item.
"""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from clarity.contracts import INSTRUMENTS, Instrument
from clarity.synth._latent import PatientTraits, Trajectory
from clarity.synth._notes import Identity, Note

__all__ = ["BIOGEOGRAPHIC_GROUP_URL", "SYNTH_NAMESPACE", "VisitScores", "build_bundle"]

BIOGEOGRAPHIC_GROUP_URL = "https://clarity.dev/fhir/StructureDefinition/cpic-biogeographic-group"
"""Extension on Patient carrying the CPIC biogeographic group."""

SYNTH_NAMESPACE = uuid.UUID("8f0c6b52-4d0e-5c8e-9b6a-6f1b0b2c9e33")

_LOINC = "http://loinc.org"
_RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_ICD10 = "http://hl7.org/fhir/sid/icd-10"
_UCUM = "http://unitsofmeasure.org"
_SURVEY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
        }
    ]
}


class VisitScores:
    """The item scores recorded at one visit."""

    def __init__(self, day: int, minute: int, phq9: list[int], gad7: list[int]) -> None:
        self.day = day
        self.minute = minute
        self.phq9 = phq9
        self.gad7 = gad7


def _id(*parts: object) -> str:
    return str(uuid.uuid5(SYNTH_NAMESPACE, "/".join(map(str, parts))))


def _local(traits: PatientTraits, when: date, minute: int) -> str:
    moment = datetime.combine(when, time()) + timedelta(minutes=minute)
    return moment.replace(tzinfo=ZoneInfo(traits.timezone)).isoformat()


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    url = f"https://fhir.synthetic.clarity.dev/{resource['resourceType']}/{resource['id']}"
    return {"fullUrl": url, "resource": resource}


def _patient(traits: PatientTraits, identity: Identity) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": traits.source_id,
        "extension": [{"url": BIOGEOGRAPHIC_GROUP_URL, "valueCode": traits.ancestry}],
        "identifier": [{"system": "urn:clarity:synthetic:mrn", "value": identity.mrn}],
        "name": [{"family": identity.last, "given": [identity.first]}],
        "gender": traits.sex,
        "birthDate": identity.dob.isoformat(),
        "telecom": [
            {"system": "phone", "value": identity.phone},
            {"system": "email", "value": identity.email},
        ],
        "address": [{"text": identity.address}],
        "managingOrganization": {"display": "Clarity Synthetic Clinic"},
    }


def _questionnaire(
    traits: PatientTraits,
    instrument: Instrument,
    scores: list[int],
    when: str,
    visit: int,
    panel_style: bool,
) -> list[dict[str, Any]]:
    spec = INSTRUMENTS[instrument]
    subject = {"reference": f"Patient/{traits.source_id}"}
    total = sum(scores)
    total_value = {"value": total, "unit": "{score}", "system": _UCUM, "code": "{score}"}
    key = (traits.source_id, instrument.value, visit)
    if not panel_style:
        return [
            {
                "resourceType": "Observation",
                "id": _id(*key, "total"),
                "status": "final",
                "category": [_SURVEY],
                "code": {"coding": [{"system": _LOINC, "code": spec.total_loinc}]},
                "subject": subject,
                "effectiveDateTime": when,
                "valueQuantity": total_value,
                "component": [
                    {"code": {"coding": [{"system": _LOINC, "code": code}]}, "valueInteger": score}
                    for code, score in zip(spec.item_loincs, scores, strict=True)
                ],
            }
        ]
    members = [
        {
            "resourceType": "Observation",
            "id": _id(*key, code),
            "status": "final",
            "category": [_SURVEY],
            "code": {"coding": [{"system": _LOINC, "code": code}]},
            "subject": subject,
            "effectiveDateTime": when,
            "valueInteger": score,
        }
        for code, score in zip(spec.item_loincs, scores, strict=True)
    ]
    members.append(
        {
            "resourceType": "Observation",
            "id": _id(*key, "total"),
            "status": "final",
            "category": [_SURVEY],
            "code": {"coding": [{"system": _LOINC, "code": spec.total_loinc}]},
            "subject": subject,
            "effectiveDateTime": when,
            "valueQuantity": total_value,
        }
    )
    panel = {
        "resourceType": "Observation",
        "id": _id(*key, "panel"),
        "status": "final",
        "category": [_SURVEY],
        "code": {"coding": [{"system": _LOINC, "code": spec.panel_loinc}]},
        "subject": subject,
        "effectiveDateTime": when,
        "hasMember": [{"reference": f"Observation/{m['id']}"} for m in members],
    }
    return [panel, *members]


def _medications(
    traits: PatientTraits, trajectory: Trajectory, as_request: bool, reason: str
) -> list[dict[str, Any]]:
    resources = []
    end = trajectory.days
    for number, course in enumerate(c for c in trajectory.courses if c.kind == "drug"):
        concept = {
            "coding": [{"system": _RXNORM, "code": course.rxnorm, "display": course.name}],
            "text": course.name,
        }
        dosage = {
            "text": f"{course.dose_mg:g} mg once daily",
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "route": {"text": "oral"},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": course.dose_mg,
                        "unit": "mg",
                        "system": _UCUM,
                        "code": "mg",
                    }
                }
            ],
        }
        started = trajectory.date_of(course.start_day).isoformat()
        stopped = course.stop_day is not None and course.stop_day < end
        if as_request:
            resources.append(
                {
                    "resourceType": "MedicationRequest",
                    "id": _id(traits.source_id, "medication", number),
                    "status": "stopped" if stopped else "active",
                    "intent": "order",
                    "medicationCodeableConcept": concept,
                    "subject": {"reference": f"Patient/{traits.source_id}"},
                    "authoredOn": started,
                    "dosageInstruction": [dosage],
                    "dispenseRequest": {
                        "validityPeriod": {"start": started}
                        | (
                            {"end": trajectory.date_of(course.stop_day).isoformat()}
                            if stopped and course.stop_day is not None
                            else {}
                        )
                    },
                }
            )
            continue
        period = {"start": started}
        if stopped:
            assert course.stop_day is not None
            period["end"] = trajectory.date_of(course.stop_day).isoformat()
        statement: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": _id(traits.source_id, "medication", number),
            "status": "stopped" if stopped else "active",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{traits.source_id}"},
            "effectivePeriod": period,
            "dosage": [dosage],
            "reasonCode": [{"coding": [{"system": _ICD10, "code": reason}]}],
        }
        if stopped and course.stop_reason:
            statement["statusReason"] = [{"text": course.stop_reason}]
        resources.append(statement)
    return resources


def build_bundle(
    traits: PatientTraits,
    identity: Identity,
    trajectory: Trajectory,
    visits: list[VisitScores],
    notes: list[Note],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """Assemble one patient's FHIR R4 collection bundle.

    Parameters
    ----------
    traits
        The patient.
    identity
        Identifying details (they are PHI inside the bundle, as in real exports).
    trajectory
        The latent state and treatment courses.
    visits
        The questionnaire scores of each visit.
    notes
        The progress note of each visit.
    rng
        Random generator (for export-style choices).

    Returns
    -------
    dict
        The bundle as JSON-compatible data.
    """
    panel_style = bool(rng.random() < 0.5)
    resources: list[dict[str, Any]] = [_patient(traits, identity)]
    first = trajectory.date_of(0).isoformat()
    recurrent = traits.vulnerability > 0.6
    resources.append(
        {
            "resourceType": "Condition",
            "id": _id(traits.source_id, "condition", "depression"),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"coding": [{"system": _ICD10, "code": "F33.1" if recurrent else "F32.1"}]},
            "subject": {"reference": f"Patient/{traits.source_id}"},
            "onsetDateTime": first,
        }
    )
    if traits.anxiety_trait > 0.3:
        resources.append(
            {
                "resourceType": "Condition",
                "id": _id(traits.source_id, "condition", "anxiety"),
                "code": {"coding": [{"system": _ICD10, "code": "F41.1"}]},
                "subject": {"reference": f"Patient/{traits.source_id}"},
                "onsetDateTime": first,
            }
        )
    for visit in visits:
        when = _local(traits, trajectory.date_of(visit.day), visit.minute)
        resources += _questionnaire(
            traits, Instrument.phq9, visit.phq9, when, visit.day, panel_style
        )
        resources += _questionnaire(
            traits, Instrument.gad7, visit.gad7, when, visit.day, panel_style
        )
    # Vitals are in real exports too; Clarity does not use them and must skip them.
    resources.append(
        {
            "resourceType": "Observation",
            "id": _id(traits.source_id, "weight"),
            "status": "final",
            "code": {"coding": [{"system": _LOINC, "code": "29463-7", "display": "Body weight"}]},
            "subject": {"reference": f"Patient/{traits.source_id}"},
            "effectiveDateTime": _local(traits, trajectory.date_of(0), 600),
            "valueQuantity": {"value": 72.5, "unit": "kg", "system": _UCUM, "code": "kg"},
        }
    )
    diagnosis = "F33.1" if recurrent else "F32.1"
    resources += _medications(
        traits, trajectory, as_request=bool(rng.random() < 0.3), reason=diagnosis
    )
    for note, visit in zip(notes, visits, strict=True):
        resources.append(
            {
                "resourceType": "DocumentReference",
                "id": note.note_id,  # the ground truth's note id, so the two join
                "status": "current",
                "type": {"coding": [{"system": _LOINC, "code": "11506-3"}]},
                "subject": {"reference": f"Patient/{traits.source_id}"},
                "date": _local(traits, trajectory.date_of(visit.day), visit.minute + 30),
                "author": [{"display": identity.clinician}],
                "content": [
                    {
                        "attachment": {
                            "contentType": "text/plain; charset=utf-8",
                            "language": "en",
                            "title": f"Progress note {note.note_id}",
                            "data": base64.b64encode(note.text.encode()).decode("ascii"),
                        }
                    }
                ],
            }
        )
    return {
        "resourceType": "Bundle",
        "id": _id(traits.source_id, "bundle"),
        "type": "collection",
        "timestamp": _local(traits, trajectory.date_of(trajectory.days - 1), 23 * 60),
        "entry": [_entry(r) for r in resources],
    }

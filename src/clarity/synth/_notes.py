"""Clinical progress notes written from the latent state, with PHI and crisis labels.

Each note is a SOAP progress note. Wording, order, abbreviations and spelling
vary, negated mentions ("denies SI") are far more common than positive ones,
and some notes mention past events or other people's worries, so that a keyword
list cannot score perfectly. Every PHI span and every crisis statement is
recorded as ground truth with its character offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from clarity.synth._latent import DRUGS, PatientTraits, Trajectory

__all__ = ["Identity", "Note", "draw_identity", "write_note"]

_FIRST = {
    "female": [
        "Anna",
        "Maria",
        "Sofie",
        "Ingrid",
        "Aisha",
        "Yuki",
        "Grace",
        "Emma",
        "Nora",
        "Fatima",
        "Mei",
        "Wanjiru",
        "Laura",
        "Hanna",
        "Olivia",
        "Amara",
    ],
    "male": [
        "Lars",
        "Jonas",
        "Ahmed",
        "Kenji",
        "David",
        "Erik",
        "Samuel",
        "Omar",
        "Hiroshi",
        "Thomas",
        "Daniel",
        "Kwame",
        "Mats",
        "Lucas",
        "Peter",
        "Juma",
    ],
}
_LAST = [
    "Hansen",
    "Johansen",
    "Olsen",
    "Larsen",
    "Andersen",
    "Nakamura",
    "Tanaka",
    "Mwangi",
    "Otieno",
    "Smith",
    "Brown",
    "Berg",
    "Haugen",
    "Khan",
    "Suzuki",
    "Kamau",
    "Nilsen",
    "Dahl",
    "Lie",
    "Moen",
]
_STREETS = [
    "Birch Lane",
    "Storgata",
    "Elm Street",
    "Kirkeveien",
    "Harbour Road",
    "Maple Avenue",
    "Sakura-dori",
    "Ngong Road",
    "Bjerregaards gate",
    "Mill Street",
]
_CITIES = ["Oslo", "Bergen", "Springfield", "Nairobi", "Osaka", "Trondheim", "Riverton"]
_CLINICIANS = [
    "Dr. Ruth Hansen",
    "Dr. Ole Brekke",
    "Dr. Amina Said",
    "Dr. Kenta Mori",
    "Dr. Sarah Lind",
    "Dr. Peter Okafor",
]
_SIDE_EFFECTS = [
    "nausea",
    "headaches",
    "sexual side effects",
    "feeling jittery",
    "insomnia",
    "daytime drowsiness",
    "dizziness",
    "GI upset",
]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@dataclass(frozen=True)
class Identity:
    """The identifying details a real note would contain (all invented)."""

    first: str
    last: str
    dob: date
    mrn: str
    phone: str
    address: str
    email: str
    clinician: str


@dataclass
class Note:
    """A generated note with its ground truth."""

    note_id: str
    day: int
    text: str
    phi: list[tuple[int, int, str]] = field(default_factory=list)
    crisis_level: int = 0
    self_harm: bool = False
    harm_to_others: bool = False
    crisis_evidence: list[tuple[int, int]] = field(default_factory=list)
    negated_mention: bool = False
    historical_mention: bool = False

    @property
    def crisis(self) -> bool:
        """True when the note states current risk that must be escalated."""
        return self.crisis_level > 0 or self.self_harm or self.harm_to_others


def draw_identity(traits: PatientTraits, rng: np.random.Generator) -> Identity:
    """Invent the identifying details of a patient.

    Parameters
    ----------
    traits
        The patient.
    rng
        Random generator.

    Returns
    -------
    Identity
        Name, date of birth, record number, phone, address, e-mail and clinician.
    """
    first = str(rng.choice(_FIRST[traits.sex]))
    last = str(rng.choice(_LAST))
    dob = date(traits.birth_year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
    phone = (
        f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}"
        if rng.random() < 0.5
        else f"+47 {rng.integers(400, 999)} {rng.integers(10, 99)} {rng.integers(100, 999)}"
    )
    return Identity(
        first=first,
        last=last,
        dob=dob,
        mrn=str(rng.integers(10_000_000, 99_999_999)),
        phone=phone,
        address=f"{rng.integers(1, 200)} {rng.choice(_STREETS)}, {rng.choice(_CITIES)}",
        email=f"{first.lower()}.{last.lower()}{rng.integers(1, 99)}@example.org",
        clinician=str(rng.choice(_CLINICIANS)),
    )


class _Writer:
    """Builds text piece by piece, remembering where each labelled piece lands."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.phi: list[tuple[int, int, str]] = []
        self.evidence: list[tuple[int, int]] = []

    def add(self, text: str, phi: str | None = None, evidence: bool = False) -> None:
        start = self.length
        self.parts.append(text)
        self.length += len(text)
        if phi:
            self.phi.append((start, self.length, phi))
        if evidence:
            self.evidence.append((start, self.length))

    def text(self) -> str:
        return "".join(self.parts)


def _date_text(when: date, rng: np.random.Generator) -> str:
    style = int(rng.integers(0, 3))
    if style == 0:
        return f"{when.month:02d}/{when.day:02d}/{when.year}"
    if style == 1:
        return f"{when.day} {_MONTHS[when.month - 1]} {when.year}"
    return when.isoformat()


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return str(options[int(rng.integers(0, len(options)))])


def _misspell(text: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.12:
        for right, wrong in (
            ("suicidal", "sucidal"),
            ("suicidal", "suicidial"),
            ("ideation", "ideaton"),
            ("thoughts", "thougths"),  # codespell:ignore
        ):
            if right in text:
                return text.replace(right, wrong, 1)
    return text


_NEGATED = [
    "Denies SI/HI.",
    "Denies suicidal ideation, intent or plan.",
    "No suicidal thoughts; denies thoughts of harming others.",
    "Pt denies any SI or self-harm.",
    "She/he denies thoughts of self-harm or suicide.",
    "Not suicidal. No HI.",
    "Denies passive or active suicidal ideation.",
    "Safety: no SI, no HI, no self-injurious behaviour.",
]
_HISTORICAL = [
    "History of overdose in {year}; none since.",
    "Past suicide attempt ({year}), no current ideation.",
    "Remote history of cutting as a teenager, nothing recent.",
]
_HYPOTHETICAL = [
    "Safety plan reviewed: will call the crisis line if suicidal thoughts arise.",
    "Discussed what to do should thoughts of self-harm return.",
]
_REPORTED = [
    "Partner worried about {pronoun} withdrawal; patient denies SI.",
    "Mother asked whether {pronoun} could be suicidal; on direct questioning {pronoun2} denies it.",
]
_CRISIS = {
    1: [
        "Endorses passive SI - wishes {pronoun2} could go to sleep and not wake up.",
        "Reports passive death wish without intent.",
        "States 'sometimes I think everyone would be better off without me.'",
    ],
    2: [
        "Endorses active suicidal ideation without a plan.",
        "Having thoughts of killing {reflexive} most days this week.",
        "+SI, no plan or intent stated.",
    ],
    3: [
        "Reports suicidal thoughts and has thought about overdosing on {pronoun_pos} pills, "
        "denies intent.",
        "SI with method (jumping from the bridge) considered, no intent.",
    ],
    4: [
        "Endorses SI with some intent to act, has not decided how.",
        "Says {pronoun2} intends to end {pronoun_pos} life 'if things don't change'.",
    ],
    5: [
        "Has a plan to overdose and has been stockpiling medication.",
        "Wrote a goodbye note last night and has a specific plan; intent to act.",
    ],
}
_SELF_HARM = [
    "Reports cutting {pronoun_pos} forearms twice this week.",
    "Burned {reflexive} with a lighter on Sunday.",
    "New superficial lacerations on the left wrist, self-inflicted this week.",
]
_OTHERS = [
    "Reports thoughts of hurting {pronoun_pos} coworker; no plan.",
    "Endorses homicidal ideation toward a neighbour.",
]


def _pronouns(sex: str) -> dict[str, str]:
    if sex == "female":
        return {"pronoun": "her", "pronoun2": "she", "pronoun_pos": "her", "reflexive": "herself"}
    return {"pronoun": "him", "pronoun2": "he", "pronoun_pos": "his", "reflexive": "himself"}


def _severity_words(value: float) -> str:
    if value < 0.2:
        return "Mood good, enjoying things again"
    if value < 0.4:
        return "Some low days but mostly coping"
    if value < 0.6:
        return "Low mood most days with reduced interest"
    return "Persistently depressed, little interest or pleasure in anything"


def write_note(
    traits: PatientTraits,
    identity: Identity,
    trajectory: Trajectory,
    day: int,
    scores: tuple[int, int],
    rng: np.random.Generator,
) -> Note:
    """Write the progress note of one visit.

    Parameters
    ----------
    traits
        The patient.
    identity
        Invented identifying details, written into the note as PHI.
    trajectory
        The patient's latent state; the note reflects the state on ``day``.
    day
        The visit day.
    scores
        PHQ-9 and GAD-7 totals recorded at the visit.
    rng
        Random generator.

    Returns
    -------
    Note
        The text with its PHI spans and crisis labels.
    """
    words = _pronouns(traits.sex)
    w = _Writer()
    when = trajectory.date_of(day)
    dep, anx = float(trajectory.depression[day]), float(trajectory.anxiety[day])
    w.add("PROGRESS NOTE\nPatient: ")
    w.add(f"{identity.first} {identity.last}", "NAME")
    w.add("  DOB: ")
    w.add(_date_text(identity.dob, rng), "DATE")
    w.add("  MRN: ")
    w.add(identity.mrn, "ID")
    w.add("\nDate of service: ")
    w.add(_date_text(when, rng), "DATE")
    w.add("  Clinician: ")
    w.add(identity.clinician, "NAME")
    if rng.random() < 0.3:
        w.add("\nContact: ")
        w.add(identity.phone, "PHONE")
        if rng.random() < 0.5:
            w.add(", ")
            w.add(identity.address, "ADDRESS")
    w.add("\n\nS: ")
    w.add(f"{_severity_words(dep)}. ")
    if trajectory.sleep_regularity[day] < 0.5:
        w.add(
            _pick(
                rng,
                [
                    "Sleep is broken, wakes at 3-4 am. ",
                    "Poor sleep, irregular bedtimes. ",
                    "Sleeping badly, up several times a night. ",
                ],
            )
        )
    if anx > 0.5:
        w.add(
            _pick(
                rng,
                [
                    "Worrying constantly. ",
                    "Feels on edge and tense. ",
                    "Anxiety high, some panic symptoms. ",
                ],
            )
        )
    drug = trajectory.drug_on(day)
    if drug is not None and day - drug.start_day >= 7:
        weeks = (day - drug.start_day) // 7
        w.add(f"On {drug.name} {drug.dose_mg:g} mg for {weeks} week{'s' if weeks > 1 else ''}. ")
        if trajectory.side_effects[day] > 0.12:
            w.add(f"Complains of {_pick(rng, _SIDE_EFFECTS)}. ")
    if rng.random() < 0.15:
        w.add("Reached by phone at ")
        w.add(identity.phone, "PHONE")
        w.add(" to confirm the appointment. ")
    note = Note(note_id=f"{traits.source_id}-N{day:03d}", day=day, text="")
    w.add("\n")
    # Risk: current statements are labelled; everything else must not be.
    if trajectory.crisis[day]:
        level = int(np.clip(1 + int(rng.integers(0, 3)) + int(dep > 0.85) * 2, 1, 5))
        statement = _pick(rng, _CRISIS[level]).format(**words)
        w.add(_misspell(statement, rng), evidence=True)
        note.crisis_level = level
        if rng.random() < 0.3:
            w.add(" " + _pick(rng, _SELF_HARM).format(**words), evidence=True)
            note.self_harm = True
        if rng.random() < 0.05:
            w.add(" " + _pick(rng, _OTHERS).format(**words), evidence=True)
            note.harm_to_others = True
        w.add(" ")
    else:
        w.add(_misspell(_pick(rng, _NEGATED), rng).replace("She/he", words["pronoun2"].title()))
        w.add(" ")
        note.negated_mention = True
        if rng.random() < 0.15:
            w.add(_pick(rng, _REPORTED).format(**words) + " ")
    if traits.crisis_propensity > 0.3 and rng.random() < 0.4:
        year = when.year - int(rng.integers(2, 12))
        w.add(_pick(rng, _HISTORICAL).format(year=year) + " ")
        note.historical_mention = True
    if rng.random() < 0.2:
        w.add(_pick(rng, _HYPOTHETICAL) + " ")
    phq9, gad7 = scores
    w.add(f"\nO: PHQ-9 {phq9}, GAD-7 {gad7}. ")
    w.add(
        _pick(
            rng,
            [
                "Affect restricted, speech normal.",
                "Tearful at times, linear thought.",
                "Good eye contact, affect reactive.",
                "Psychomotor slowing noted.",
            ],
        )
    )
    w.add("\nA: ")
    severity = "severe" if phq9 >= 20 else "moderate" if phq9 >= 10 else "mild"
    code = {"severe": "F32.2", "moderate": "F32.1", "mild": "F32.0"}[severity]
    w.add(f"Major depressive episode, {severity} ({code})")
    if anx > 0.5:
        w.add("; generalised anxiety (F41.1)")
    w.add(".\nP: ")
    started = next((c for c in trajectory.courses if c.kind == "drug" and c.start_day == day), None)
    stopped = next((c for c in trajectory.courses if c.kind == "drug" and c.stop_day == day), None)
    if stopped is not None:
        w.add(f"Stop {stopped.name} ({stopped.stop_reason}). ")
    if started is not None:
        spec = DRUGS[started.name]
        w.add(f"Start {started.name} {spec.dose_mg:g} mg daily. ")
    elif drug is not None:
        w.add(f"Continue {drug.name}. ")
    if any(c.kind == "psychotherapy" and c.start_day == day for c in trajectory.courses):
        w.add("Refer to CBT, weekly sessions. ")
    w.add("Follow up in 2-4 weeks")
    if rng.random() < 0.25:
        w.add("; questions to ")
        w.add(identity.email, "EMAIL")
    w.add(".\n")
    note.text = w.text()
    note.phi = w.phi
    note.crisis_evidence = w.evidence
    return note

"""The causal model of one patient: traits, daily latent state, and treatments.

Every observable the cohort writes (questionnaires, mood reports, actigraphy,
RR intervals, notes) is generated from the daily latent state produced here,
and the state itself is written as ground truth. See docs/synthetic-cohort.md
for the equations and their parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from clarity.synth._pgx import PgxCall, draw_pgx

__all__ = [
    "DRUGS",
    "Drug",
    "PatientTraits",
    "Trajectory",
    "TreatmentCourse",
    "draw_traits",
    "simulate",
]


@dataclass(frozen=True)
class Drug:
    """A psychiatric drug the simulated clinicians prescribe."""

    name: str
    rxnorm: str
    dose_mg: float
    gene: str  # the pharmacogene that clears it
    side_effect_rate: float


DRUGS = {
    d.name: d
    for d in (
        Drug("escitalopram", "321988", 10.0, "CYP2C19", 1.0),
        Drug("sertraline", "36437", 50.0, "CYP2C19", 0.9),
        Drug("citalopram", "2556", 20.0, "CYP2C19", 1.0),
        Drug("fluoxetine", "4493", 20.0, "CYP2D6", 0.8),
        Drug("paroxetine", "32937", 20.0, "CYP2D6", 1.1),
        Drug("venlafaxine", "39786", 75.0, "CYP2D6", 1.2),
        Drug("bupropion", "42347", 150.0, "CYP2B6", 0.7),
    )
}
"""Drugs by name, with RxNorm ingredient codes and the gene that clears them."""

# Relative drug exposure by metaboliser phenotype: poor metabolisers clear slowly.
EXPOSURE = {"PM": 2.0, "IM": 1.4, "NM": 1.0, "RM": 0.75, "UM": 0.5}

_ANCESTRIES = ("european", "east_asian", "sub_saharan_african")
_ANCESTRY_WEIGHTS = (0.7, 0.15, 0.15)
_ZONES = {
    "european": "Europe/Oslo",
    "east_asian": "Asia/Tokyo",
    "sub_saharan_african": "Africa/Nairobi",
}


@dataclass(frozen=True)
class PatientTraits:
    """Everything fixed about a patient for the whole simulation."""

    index: int
    source_id: str
    sex: str
    birth_year: int
    ancestry: str
    timezone: str
    enrolled_on: date
    vulnerability: float
    anxiety_trait: float
    activity_baseline: float
    sleep_baseline: float
    drug_response: float
    cbt_response: float
    crisis_propensity: float
    wears_actigraph: bool
    pgx: tuple[PgxCall, ...]

    def phenotype(self, gene: str) -> str:
        """Return the patient's metaboliser phenotype for a gene."""
        return next(c.phenotype for c in self.pgx if c.gene == gene)


@dataclass
class TreatmentCourse:
    """One drug or psychotherapy course, as it really happened."""

    kind: str  # "drug" or "psychotherapy"
    name: str
    start_day: int
    stop_day: int | None = None
    stop_reason: str | None = None
    exposure: float = 1.0
    rxnorm: str | None = None
    dose_mg: float | None = None


@dataclass
class Trajectory:
    """The daily latent state of one patient and the events that shaped it."""

    start: date
    depression: np.ndarray
    anxiety: np.ndarray
    stress: np.ndarray
    activity: np.ndarray
    sleep_regularity: np.ndarray
    episode: np.ndarray
    crisis: np.ndarray
    side_effects: np.ndarray
    visits: list[int] = field(default_factory=list)
    courses: list[TreatmentCourse] = field(default_factory=list)

    @property
    def days(self) -> int:
        """Number of simulated days."""
        return len(self.depression)

    def date_of(self, day: int) -> date:
        """Return the calendar date of a simulation day."""
        return self.start + timedelta(days=day)

    def drug_on(self, day: int) -> TreatmentCourse | None:
        """Return the drug course active on a day, if any."""
        for course in self.courses:
            if (
                course.kind == "drug"
                and course.start_day <= day
                and (course.stop_day is None or day < course.stop_day)
            ):
                return course
        return None


def draw_traits(rng: np.random.Generator, index: int, start: date) -> PatientTraits:
    """Draw the fixed traits of one patient.

    Parameters
    ----------
    rng
        The patient's random generator.
    index
        The patient's number in the cohort.
    start
        First day of the cohort; enrolment falls in its first four weeks.

    Returns
    -------
    PatientTraits
        The traits.
    """
    ancestry = str(rng.choice(_ANCESTRIES, p=_ANCESTRY_WEIGHTS))
    return PatientTraits(
        index=index,
        source_id=f"SYN-{index:05d}",
        sex=str(rng.choice(["female", "male"], p=[0.62, 0.38])),
        birth_year=int(rng.integers(1950, 2006)),
        ancestry=ancestry,
        timezone=_ZONES[ancestry],
        enrolled_on=start + timedelta(days=int(rng.integers(0, 28))),
        vulnerability=float(rng.beta(2.5, 2.5)),
        anxiety_trait=float(rng.uniform(0.05, 0.45)),
        activity_baseline=float(rng.lognormal(0.0, 0.25)),
        sleep_baseline=float(rng.uniform(0.6, 0.95)),
        drug_response=float(np.clip(rng.normal(0.28, 0.12), 0.0, 0.6)),
        cbt_response=float(np.clip(rng.normal(0.15, 0.07), 0.0, 0.35)),
        crisis_propensity=float(rng.beta(1.2, 6.0)),
        wears_actigraph=bool(rng.random() < 0.8),
        pgx=tuple(draw_pgx(rng, ancestry)),
    )


def _efficacy(exposure: float) -> float:
    # Saturating in exposure, 1 at normal metabolism: ultrarapid metabolisers get less.
    return min((1 - math.exp(-1.5 * exposure)) / (1 - math.exp(-1.5)), 1.15)


def simulate(traits: PatientTraits, days: int, rng: np.random.Generator) -> Trajectory:
    """Simulate a patient's daily latent state and treatment history.

    Depression follows an Ornstein-Uhlenbeck process whose mean jumps between
    remission and episode (a two-state Markov chain with relapse); drug and
    psychotherapy courses lower the episode mean with a patient-specific,
    metaboliser-dependent benefit; side effects grow with drug exposure and
    drive dropout.

    Parameters
    ----------
    traits
        The patient.
    days
        Days to simulate from enrolment.
    rng
        The patient's random generator.

    Returns
    -------
    Trajectory
        Daily state, visits and treatment courses.
    """
    v = traits.vulnerability
    dep = np.empty(days)
    anx = np.empty(days)
    stress = np.empty(days)
    side = np.zeros(days)
    episode = np.zeros(days, dtype=bool)
    crisis = np.zeros(days, dtype=bool)
    in_episode = bool(rng.random() < 0.55 + 0.35 * v)
    d = float(np.clip(rng.normal(0.6 if in_episode else 0.2, 0.08), 0.02, 0.95))
    a = float(np.clip(traits.anxiety_trait + 0.3 * d + rng.normal(0, 0.05), 0.0, 1.0))
    last_remission = -999
    courses: list[TreatmentCourse] = []
    visits = [0]
    next_visit = int(rng.integers(14, 29))
    in_crisis = False
    for t in range(days):
        # Treatments: decided at visits, then followed day by day.
        drug = next((c for c in courses if c.kind == "drug" and c.stop_day is None), None)
        cbt = next((c for c in courses if c.kind == "psychotherapy" and c.stop_day is None), None)
        if t == next_visit or t == 0:
            if t:
                visits.append(t)
                next_visit = t + int(rng.integers(14, 29))
            if drug is None and d > 0.35 and (in_episode or d > 0.5):
                name = str(rng.choice(list(DRUGS)))
                spec = DRUGS[name]
                drug = TreatmentCourse(
                    "drug",
                    name,
                    t,
                    exposure=EXPOSURE[traits.phenotype(spec.gene)],
                    rxnorm=spec.rxnorm,
                    dose_mg=spec.dose_mg,
                )
                courses.append(drug)
            elif drug is not None and t - drug.start_day > 42 and d > 0.45:
                drug.stop_day, drug.stop_reason = t, "insufficient response"
                drug = None
            if cbt is None and d > 0.3 and rng.random() < 0.35:
                cbt = TreatmentCourse("psychotherapy", "cbt", t)
                courses.append(cbt)
        benefit = 0.0
        if drug is not None:
            spec = DRUGS[drug.name]
            weeks_on = (t - drug.start_day) / 7
            side[t] = max(
                0.0,
                0.18 * drug.exposure * spec.side_effect_rate * math.exp(-weeks_on / 6)
                + rng.normal(0, 0.03),
            )
            if rng.random() < 0.001 + 0.05 * side[t] ** 2:
                drug.stop_day, drug.stop_reason = t, "side effects"
            else:
                ramp = 1 - math.exp(-(t - drug.start_day) / 14)
                benefit += traits.drug_response * _efficacy(drug.exposure) * ramp
        if cbt is not None:
            benefit += traits.cbt_response * (1 - math.exp(-(t - cbt.start_day) / 35))
            if t - cbt.start_day >= 84:
                cbt.stop_day, cbt.stop_reason = t, "completed"
        # Episode chain: onsets are likelier for the vulnerable and soon after remission.
        if in_episode:
            if rng.random() < 0.004 + 0.03 * benefit:
                in_episode, last_remission = False, t
        else:
            relapse = 3.0 if t - last_remission < 60 else 1.0
            if rng.random() < 0.0015 * (1 + 4 * v) * relapse:
                in_episode = True
        target = (0.6 + 0.3 * v if in_episode else 0.1 + 0.12 * v) - benefit
        d = float(np.clip(d + 0.1 * (max(target, 0.02) - d) + rng.normal(0, 0.035), 0.0, 1.0))
        a_target = traits.anxiety_trait + 0.35 * d + 0.5 * side[t]
        a = float(np.clip(a + 0.15 * (a_target - a) + rng.normal(0, 0.04), 0.0, 1.0))
        life_event = rng.random() < 0.02
        stress[t] = float(np.clip(0.6 * a + 0.25 * life_event + rng.normal(0, 0.05), 0, 1))
        # Crisis spells: in deep episodes, for patients prone to them.
        if in_crisis:
            in_crisis = rng.random() < 0.92 and d > 0.45
        else:
            depth = min(max((d - 0.5) / 0.3, 0.0), 1.5)
            in_crisis = rng.random() < 0.03 * (traits.crisis_propensity / 0.17) * depth
        dep[t], anx[t], episode[t], crisis[t] = d, a, in_episode, in_crisis
    weekday = np.array([(traits.enrolled_on + timedelta(days=t)).weekday() for t in range(days)])
    activity = np.clip(
        traits.activity_baseline * (1 - 0.55 * dep) * np.where(weekday >= 5, 0.9, 1.0)
        + rng.normal(0, 0.05, days),
        0.05,
        None,
    )
    sleep = np.clip(traits.sleep_baseline - 0.5 * dep + rng.normal(0, 0.05, days), 0.05, 1.0)
    return Trajectory(
        start=traits.enrolled_on,
        depression=dep,
        anxiety=anx,
        stress=stress,
        activity=activity,
        sleep_regularity=sleep,
        episode=episode,
        crisis=crisis,
        side_effects=side,
        visits=visits,
        courses=courses,
    )

"""Research-grade antidepressant response and adverse-event model.

No open individual-level pharmacogenomic response data exist, so this model is
trained on the Clarity synthetic cohort (``clarity.synth``), whose causal model
makes drug exposure depend on the metaboliser phenotype of the gene that clears
the drug, and exposure drive both efficacy and side effects. Every prediction
says so (``research_grade`` is always True): the probabilities describe the
simulator, not patients.

Labels, one row per drug course (:func:`training_frame`)
----------------------------------------------------------
``response_8w``
    1 when the latent depression severity, averaged over week 8 of the course
    (days 49-55), is at most half of its value on the first day; 0 otherwise.
    The latent severity is used rather than PHQ-9 because PHQ-9 is observed
    only at visits 2-4 weeks apart, so a week-8 score would often be missing or
    weeks off, and its item rounding adds label noise the model cannot learn.
    Censoring: a course stopped for insufficient response before day 56 is a
    non-response (that is why it stopped); a course stopped for side effects
    before day 56, or still running when follow-up ends before day 56, has no
    response label (missing) and is left out of the response model, because
    counting side-effect dropouts as non-responders would teach the response
    model the adverse-event signal a second time.
``adverse_event``
    1 when the course was stopped for side effects within 8 weeks, or the
    7-day mean of the latent side-effect burden reached
    :data:`SIDE_EFFECT_THRESHOLD` within its first 56 days on the drug; 0 when
    neither happened and the course was followed for 56 days or stopped for
    another reason; missing otherwise (follow-up ended first). In the simulator
    the side-effect burden is nearly a deterministic function of drug and
    phenotype, so this label is much more learnable than it would be in real
    data; read the adverse-event AUC as a check of the pipeline, not as
    evidence about patients.

Features
--------
The drug (one-hot), the ordinal metaboliser phenotype (PM=0 < IM < NM < RM <
UM=4) and activity score of the drug's gene and of every PGx gene, each with a
missing indicator, age, sex, the PHQ-9 total at course start, and history (prior
drug courses, prior courses stopped for insufficient response). Missing values
stay NaN; histogram gradient boosting routes them natively [1]_.

References
----------
.. [1] Ke G, et al. "LightGBM: A Highly Efficient Gradient Boosting Decision
   Tree." NeurIPS 2017 (the algorithm of scikit-learn's
   HistGradientBoostingClassifier).
.. [2] Hicks JK, et al. "Clinical Pharmacogenetics Implementation Consortium
   (CPIC) Guideline for CYP2D6 and CYP2C19 Genotypes and Dosing of Selective
   Serotonin Reuptake Inhibitors." Clin Pharmacol Ther 2015;98(2):127-134.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from clarity.errors import InputError, NotFittedError

__all__ = [
    "FEATURES",
    "LABELS",
    "PGX_GENES",
    "PHENOTYPE_LABELS",
    "RESPONSE_DRUGS",
    "SIDE_EFFECT_THRESHOLD",
    "DrugResponseModel",
    "ResponsePrediction",
    "evaluate",
    "training_frame",
]

# Mirrors clarity.synth's drug table; a service may not import another service,
# so the test suite checks that the two agree.
_DRUG_GENES = {
    "escitalopram": "CYP2C19",
    "sertraline": "CYP2C19",
    "citalopram": "CYP2C19",
    "fluoxetine": "CYP2D6",
    "paroxetine": "CYP2D6",
    "venlafaxine": "CYP2D6",
    "bupropion": "CYP2B6",
}
RESPONSE_DRUGS: tuple[str, ...] = tuple(_DRUG_GENES)
"""The drugs the synthetic cohort prescribes, and so the drugs the model knows."""

PGX_GENES: tuple[str, ...] = ("CYP2D6", "CYP2C19", "CYP2B6", "CYP2C9")
"""The genes of the synthetic PGx panel."""

PHENOTYPE_LABELS: dict[str, str] = {
    "Poor Metabolizer": "PM",
    "Intermediate Metabolizer": "IM",
    "Normal Metabolizer": "NM",
    "Rapid Metabolizer": "RM",
    "Ultrarapid Metabolizer": "UM",
}
"""PharmCAT phenotype wording, mapped to the short codes of the cohort's truth tables."""

_ORDINAL = {"PM": 0.0, "IM": 1.0, "NM": 2.0, "RM": 3.0, "UM": 4.0}

SIDE_EFFECT_THRESHOLD = 0.25
"""7-day mean latent side-effect burden that counts as an adverse event.

At 0.25 poor metabolisers of most drugs and intermediate metabolisers of the
drugs with the highest side-effect rates cross it; normal metabolisers do not.
"""

_WINDOW = 7 * 8  # days: the label horizon is 8 weeks

_NOTE_MODEL = (
    "Research-grade: trained on the Clarity synthetic cohort, not on patients; "
    "do not use for clinical decisions."
)
_NOTE_PRIOR = (
    "Research-grade population prior: no PGx result was given, so this is the drug's base "
    "rate in the Clarity synthetic cohort (pooled over phenotypes), not a personal prediction."
)

_FEATURE_KEYS = (
    "age",
    "sex",
    "baseline_phq9",
    "prior_courses",
    "prior_nonresponse",
    "phenotypes",
    "activity_scores",
)
_SEXES = {"female": 1.0, "male": 0.0, "unknown": math.nan}


def _feature_names() -> list[str]:
    names = [f"drug_{d}" for d in RESPONSE_DRUGS]
    names += ["drug_gene_phenotype", "drug_gene_phenotype_missing", "drug_gene_activity"]
    for gene in PGX_GENES:
        names += [f"{gene}_phenotype", f"{gene}_phenotype_missing", f"{gene}_activity"]
    names += ["age", "sex_female", "baseline_phq9", "prior_courses", "prior_nonresponse"]
    return names


FEATURES: tuple[str, ...] = tuple(_feature_names())
LABELS = ("response_8w", "adverse_event")


@dataclass(frozen=True)
class ResponsePrediction:
    """Predicted response and adverse-event probabilities for one drug.

    Parameters
    ----------
    drug
        The drug, one of :data:`RESPONSE_DRUGS`.
    response_probability
        Probability of a 50 % fall in depression severity by week 8.
    adverse_event_probability
        Probability of a side-effect stop or a clinically significant
        side-effect burden within 8 weeks.
    source
        ``"model"``, or ``"population_prior"`` when no PGx result was given.
    research_grade
        Always True: the model is trained on synthetic data.
    note
        What the numbers are, in words, for display next to them.
    """

    drug: str
    response_probability: float
    adverse_event_probability: float
    source: str
    research_grade: bool
    note: str


def _course_labels(
    course: pd.Series, days: pd.DataFrame, last_day: pd.Timestamp
) -> tuple[float, float]:
    """Return (response_8w, adverse_event) of one course; NaN where censored."""
    start = course["start"]
    stop = course["stop"]
    reason = course["stop_reason"]
    end_of_window = start + pd.Timedelta(days=_WINDOW)
    stopped_early = pd.notna(stop) and stop < end_of_window
    followed = last_day >= end_of_window - pd.Timedelta(days=1)
    on_drug = days[(days["date"] >= start) & (days["date"] < end_of_window)]
    on_drug = on_drug[on_drug["drug"] == course["name"]]

    response = math.nan
    if stopped_early and reason == "insufficient response":
        response = 0.0
    elif not stopped_early and followed:
        at_start = days.loc[days["date"] == start, "depression"]
        week8 = on_drug.loc[on_drug["date"] >= start + pd.Timedelta(days=_WINDOW - 7), "depression"]
        if len(at_start) and len(week8):
            response = float(week8.mean() <= 0.5 * float(at_start.iloc[0]))

    burden = on_drug["side_effects"].rolling(7, min_periods=7).mean().max()
    if (stopped_early and reason == "side effects") or burden >= SIDE_EFFECT_THRESHOLD:
        adverse = 1.0
    elif followed or stopped_early:
        adverse = 0.0
    else:
        adverse = math.nan
    return response, adverse


def training_frame(cohort_dir: Path) -> pd.DataFrame:
    """Build one row per drug course of a synthetic cohort: features and labels.

    Parameters
    ----------
    cohort_dir
        A directory written by ``clarity.synth.generate_cohort``; only its
        ``truth/`` Parquet tables are read.

    Returns
    -------
    pandas.DataFrame
        Columns ``source_id``, ``drug``, ``start``, every name in
        :data:`FEATURES`, ``response_8w`` and ``adverse_event`` (floats, NaN
        where censored; see the module docstring).

    Raises
    ------
    FileNotFoundError
        If a truth table is missing.
    """
    truth = Path(cohort_dir) / "truth"
    tables = {}
    for name in ("patients", "treatments", "daily", "observations"):
        path = truth / f"{name}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"No {name} truth table at {path}; is it a synthetic cohort?")
        tables[name] = pd.read_parquet(path)
    patients = tables["patients"].set_index("source_id")
    courses = tables["treatments"]
    courses = courses[courses["kind"] == "drug"].copy()
    for column in ("start", "stop"):
        courses[column] = pd.to_datetime(courses[column])
    courses = courses.sort_values(["source_id", "start"], kind="stable")
    daily = tables["daily"][["source_id", "date", "depression", "side_effects", "drug"]].copy()
    daily["date"] = pd.to_datetime(daily["date"])
    phq9 = tables["observations"]
    phq9 = phq9[phq9["instrument"] == "phq9"][["source_id", "date", "total"]].copy()
    phq9["date"] = pd.to_datetime(phq9["date"])
    daily_by = dict(tuple(daily.groupby("source_id", sort=False)))
    phq9_by = dict(tuple(phq9.groupby("source_id", sort=False)))

    rows: list[dict[str, Any]] = []
    for sid, group in courses.groupby("source_id", sort=False):
        patient = patients.loc[sid]
        days = daily_by[sid]
        last_day = days["date"].max()
        scores = phq9_by.get(sid, phq9.iloc[:0])
        prior_courses = prior_nonresponse = 0
        for _, course in group.iterrows():
            drug = str(course["name"])
            if drug not in _DRUG_GENES:
                raise InputError(
                    f"The cohort prescribes {drug!r}, which the response model does not know. "
                    f"Known drugs are {', '.join(RESPONSE_DRUGS)}."
                )
            # Courses start at visits; a score up to two weeks old stands in otherwise.
            before = scores[
                (scores["date"] <= course["start"])
                & (scores["date"] > course["start"] - pd.Timedelta(days=14))
            ]
            phenotypes = {g: patient[f"{g}_phenotype"] for g in PGX_GENES}
            activity = {g: patient[f"{g}_activity_score"] for g in PGX_GENES}
            row = _encode(
                drug,
                phenotypes=phenotypes,
                activity=activity,
                age=float(course["start"].year - int(patient["birth_year"])),
                sex=_SEXES[str(patient["sex"])],
                baseline_phq9=float(before["total"].iloc[-1]) if len(before) else math.nan,
                prior_courses=float(prior_courses),
                prior_nonresponse=float(prior_nonresponse),
            )
            response, adverse = _course_labels(course, days, last_day)
            rows.append(
                {
                    "source_id": sid,
                    "drug": drug,
                    "start": course["start"],
                    **row,
                    "response_8w": response,
                    "adverse_event": adverse,
                }
            )
            prior_courses += 1
            prior_nonresponse += course["stop_reason"] == "insufficient response"
    columns = ["source_id", "drug", "start", *FEATURES, *LABELS]
    return pd.DataFrame(rows, columns=columns)


def _encode(
    drug: str,
    *,
    phenotypes: Mapping[str, object],
    activity: Mapping[str, object],
    age: float,
    sex: float,
    baseline_phq9: float,
    prior_courses: float,
    prior_nonresponse: float,
) -> dict[str, float]:
    """Encode one course's features; phenotypes are short codes or None."""
    row = {f"drug_{d}": float(d == drug) for d in RESPONSE_DRUGS}
    encoded = {}
    for gene in PGX_GENES:
        code = phenotypes.get(gene)
        value = _ORDINAL[str(code)] if code is not None and not pd.isna(code) else math.nan
        score = activity.get(gene)
        score = float(score) if score is not None and not pd.isna(score) else math.nan  # type: ignore[arg-type]
        encoded[gene] = (value, score)
        row[f"{gene}_phenotype"] = value
        row[f"{gene}_phenotype_missing"] = float(math.isnan(value))
        row[f"{gene}_activity"] = score
    value, score = encoded[_DRUG_GENES[drug]]
    row["drug_gene_phenotype"] = value
    row["drug_gene_phenotype_missing"] = float(math.isnan(value))
    row["drug_gene_activity"] = score
    row.update(
        age=age,
        sex_female=sex,
        baseline_phq9=baseline_phq9,
        prior_courses=prior_courses,
        prior_nonresponse=prior_nonresponse,
    )
    return row


def _number(features: Mapping[str, object], key: str, low: float, high: float) -> float:
    value = features.get(key)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InputError(
            f"The {key!r} feature must be a number in the range [{low:g}, {high:g}] or None. "
            f"Got {value!r} instead."
        )
    return float(value)


def _gene_mapping(features: Mapping[str, object], key: str) -> Mapping[str, object]:
    value = features.get(key) or {}
    if not isinstance(value, Mapping):
        raise InputError(
            f"The {key!r} feature must be a mapping of gene to value. Got {value!r} instead."
        )
    unknown = sorted(str(g) for g in value if g not in PGX_GENES)
    if unknown:
        raise InputError(
            f"Invalid gene in {key!r}. Allowed genes are {', '.join(PGX_GENES)}, "
            f"but got {', '.join(unknown)} instead."
        )
    return value


def _parse_features(features: Mapping[str, object]) -> tuple[dict[str, Any], bool]:
    """Validate features; return the encoder's keyword arguments and whether PGx is given."""
    if not isinstance(features, Mapping):
        raise InputError(f"The features must be a mapping. Got {type(features).__name__} instead.")
    unknown = sorted(str(k) for k in features if k not in _FEATURE_KEYS)
    if unknown:
        raise InputError(
            f"Unknown feature {', '.join(repr(k) for k in unknown)}. "
            f"Allowed features are {', '.join(_FEATURE_KEYS)}."
        )
    sex = features.get("sex")
    if sex is not None and sex not in _SEXES:
        raise InputError(
            "Invalid value for the 'sex' feature. Allowed values are 'female', 'male', "
            f"'unknown' and None, but got {sex!r} instead."
        )
    phenotypes: dict[str, str | None] = {}
    for gene, label in _gene_mapping(features, "phenotypes").items():
        if label is not None and label not in PHENOTYPE_LABELS:
            raise InputError(
                f"Invalid phenotype for {gene}. Allowed values are "
                f"{', '.join(repr(p) for p in PHENOTYPE_LABELS)} and None, "
                f"but got {label!r} instead."
            )
        phenotypes[gene] = PHENOTYPE_LABELS[label] if label is not None else None
    activity: dict[str, float | None] = {}
    scores = _gene_mapping(features, "activity_scores")
    for gene in scores:
        activity[gene] = _number(scores, gene, 0.0, 10.0) if scores[gene] is not None else None
    given = any(v is not None for v in phenotypes.values()) or any(
        v is not None for v in activity.values()
    )
    kwargs = {
        "phenotypes": phenotypes,
        "activity": activity,
        "age": _number(features, "age", 0, 120),
        "sex": _SEXES[str(sex)] if sex is not None else math.nan,
        "baseline_phq9": _number(features, "baseline_phq9", 0, 27),
        "prior_courses": _number(features, "prior_courses", 0, 100),
        "prior_nonresponse": _number(features, "prior_nonresponse", 0, 100),
    }
    return kwargs, given


def _labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    return frame[frame[label].notna()]


def _base_rates(frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per-drug rates of response and adverse events; the pooled rate where a drug has no data."""
    pooled = [_labelled(frame, label)[label].mean() for label in LABELS]
    priors = {}
    for drug in RESPONSE_DRUGS:
        rates = []
        for label, fallback in zip(LABELS, pooled, strict=True):
            values = _labelled(frame, label)
            values = values.loc[values["drug"] == drug, label]
            rates.append(float(values.mean()) if len(values) else float(fallback))
        priors[drug] = (rates[0], rates[1])
    return priors


def _check_frame(frame: pd.DataFrame) -> None:
    missing = [c for c in ("drug", *FEATURES, *LABELS) if c not in frame.columns]
    if missing:
        raise InputError(
            f"The training frame lacks the columns {', '.join(missing)}; build it with "
            "training_frame()."
        )
    unknown = sorted(set(frame["drug"]) - set(RESPONSE_DRUGS))
    if unknown:
        raise InputError(
            f"Invalid drug in the training frame. Allowed drugs are {', '.join(RESPONSE_DRUGS)}, "
            f"but got {', '.join(unknown)} instead."
        )
    for label in LABELS:
        if _labelled(frame, label)[label].nunique() < 2:
            raise InputError(
                f"The training frame needs both classes of {label!r} among its labelled "
                "courses; generate a larger cohort."
            )


class DrugResponseModel:
    """Gradient-boosted drug response and adverse-event model, with population priors.

    Two :class:`~sklearn.ensemble.HistGradientBoostingClassifier` models [1]_,
    one per label, share the features of :data:`FEATURES`. The adverse-event
    model is constrained to be non-increasing in the phenotype and activity of
    the drug's gene: lower clearance means higher exposure and more side
    effects (CPIC [2]_), and the constraint keeps a small training set from
    learning the opposite by chance.

    Parameters
    ----------
    max_iter
        Boosting iterations of each model.
    learning_rate
        Shrinkage of each model.
    max_depth
        Depth of each tree.
    min_samples_leaf
        Courses per leaf at least; large, since the training sets are small.
    random_state
        Seed of the models.
    """

    def __init__(
        self,
        *,
        max_iter: int = 150,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_samples_leaf: int = 10,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _classifier(self, monotonic: list[int] | None = None) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_depth=self.max_depth,
            min_samples_leaf=self.min_samples_leaf,
            l2_regularization=1.0,
            early_stopping=False,
            monotonic_cst=monotonic,
            random_state=self.random_state,
        )

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit both models and the population priors.

        Parameters
        ----------
        frame
            Courses from :func:`training_frame`; rows with a missing label are
            left out of that label's model.

        Returns
        -------
        DrugResponseModel
            The fitted model.

        Raises
        ------
        InputError
            If the frame lacks columns, names an unknown drug, or has a single
            class of a label.
        """
        _check_frame(frame)
        response = _labelled(frame, "response_8w")
        adverse = _labelled(frame, "adverse_event")
        self.response_model_ = self._classifier().fit(
            response[list(FEATURES)].to_numpy(float), response["response_8w"].astype(int)
        )
        # Column names are dropped for fitting, so constraints are given by position.
        decreasing = ("drug_gene_phenotype", "drug_gene_activity")
        monotonic = [-1 if f in decreasing else 0 for f in FEATURES]
        self.adverse_model_ = self._classifier(monotonic).fit(
            adverse[list(FEATURES)].to_numpy(float), adverse["adverse_event"].astype(int)
        )
        self.priors_ = _base_rates(frame)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "priors_"):
            raise NotFittedError(
                "This DrugResponseModel instance is not fitted yet. Call 'fit' with a training "
                "frame, or 'load' a saved model, before using it."
            )

    def priors(self) -> dict[str, tuple[float, float]]:
        """Return each drug's base rates of response and adverse events.

        Returns
        -------
        dict
            Drug to (response rate, adverse-event rate) in the training cohort,
            pooled over phenotypes.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        """
        self._check_fitted()
        return dict(self.priors_)

    def predict(
        self, features: Mapping[str, object], drugs: Sequence[str] | None = None
    ) -> list[ResponsePrediction]:
        """Predict response and adverse-event probabilities of each drug for one patient.

        Parameters
        ----------
        features
            Any of ``age``, ``sex`` (``"female"``, ``"male"``, ``"unknown"``),
            ``baseline_phq9`` (0-27), ``prior_courses``, ``prior_nonresponse``,
            ``phenotypes`` (gene to PharmCAT wording such as ``"Poor
            Metabolizer"``, or None) and ``activity_scores`` (gene to score, or
            None). Absent values are treated as missing. Without any phenotype
            or activity score the drug's population prior is returned.
        drugs
            Drugs to score; all of :data:`RESPONSE_DRUGS` by default.

        Returns
        -------
        list of ResponsePrediction
            One per drug, in the order asked.

        Raises
        ------
        InputError
            If a feature, gene, phenotype label or drug is not recognised or a
            value is out of range.
        NotFittedError
            If the model is not fitted.

        Examples
        --------
        >>> model = DrugResponseModel()
        >>> model.predict({"age": 40})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        clarity.errors.NotFittedError: This DrugResponseModel instance is not fitted yet...
        """
        self._check_fitted()
        kwargs, given = _parse_features(features)
        if isinstance(drugs, str):
            raise InputError(
                f"The 'drugs' parameter must be a sequence of drug names. Got {drugs!r} instead."
            )
        chosen = list(RESPONSE_DRUGS if drugs is None else drugs)
        unknown = [d for d in chosen if d not in RESPONSE_DRUGS]
        if unknown:
            raise InputError(
                f"Invalid drug. Allowed drugs are {', '.join(RESPONSE_DRUGS)}, but got "
                f"{', '.join(repr(d) for d in unknown)} instead."
            )
        if not given:
            return [
                ResponsePrediction(drug, *self.priors_[drug], "population_prior", True, _NOTE_PRIOR)
                for drug in chosen
            ]
        rows = np.array([[_encode(d, **kwargs)[f] for f in FEATURES] for d in chosen], dtype=float)
        response = self.response_model_.predict_proba(rows)[:, 1]
        adverse = self.adverse_model_.predict_proba(rows)[:, 1]
        return [
            ResponsePrediction(d, float(r), float(a), "model", True, _NOTE_MODEL)
            for d, r, a in zip(chosen, response, adverse, strict=True)
        ]

    def save(self, path: Path) -> None:
        """Write the fitted model to a skops file (safe to load: no pickle).

        Parameters
        ----------
        path
            Target file, conventionally ``*.skops``.

        Raises
        ------
        NotFittedError
            If the model is not fitted.
        """
        import skops.io as sio  # type: ignore[import-untyped]

        self._check_fitted()
        state = {
            "format": _FORMAT,
            "params": {
                "max_iter": self.max_iter,
                "learning_rate": self.learning_rate,
                "max_depth": self.max_depth,
                "min_samples_leaf": self.min_samples_leaf,
                "random_state": self.random_state,
            },
            "features": list(FEATURES),
            "priors": {d: list(p) for d, p in self.priors_.items()},
            "response": self.response_model_,
            "adverse_event": self.adverse_model_,
        }
        sio.dump(state, Path(path))

    @classmethod
    def load(cls, path: Path) -> DrugResponseModel:
        """Read a model written by :meth:`save`.

        Only the types a fitted model contains are trusted; a file holding any
        other type is refused rather than loaded.

        Parameters
        ----------
        path
            A file written by :meth:`save`.

        Returns
        -------
        DrugResponseModel
            The fitted model.

        Raises
        ------
        InputError
            If the file holds untrusted types or is not a model of this format.
        """
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=Path(path))
        unexpected = sorted(set(untrusted) - _TRUSTED)
        if unexpected:
            raise InputError(
                f"Refusing to load {path}: it holds types a DrugResponseModel never contains "
                f"({', '.join(unexpected)})."
            )
        state = sio.load(Path(path), trusted=sorted(set(untrusted)))
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise InputError(f"{path} is not a {_FORMAT} file.")
        if state["features"] != list(FEATURES):
            raise InputError(
                f"{path} was saved with other features than this version of Clarity uses."
            )
        model = cls(**state["params"])
        model.response_model_ = state["response"]
        model.adverse_model_ = state["adverse_event"]
        model.priors_ = {d: (float(p[0]), float(p[1])) for d, p in state["priors"].items()}
        return model


_FORMAT = "clarity.pgx.DrugResponseModel/1"
# Types a saved model holds beyond skops' defaults (scikit-learn's own internals).
_TRUSTED = {
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.common.PREDICTOR_RECORD_DTYPE",
    "builtins.float",
    "builtins.int",
    "builtins.str",
    "builtins.list",
    "builtins.tuple",
    "builtins.dict",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.float64",
    "numpy.int64",
}


def evaluate(frame: pd.DataFrame, test_fraction: float = 0.25, seed: int = 0) -> dict[str, float]:
    """Compare the model with the population priors on held-out patients.

    Patients, not courses, are split, so no patient's later courses leak into
    training. The prior scores each course by its drug's base rate in the
    training part.

    Parameters
    ----------
    frame
        Courses from :func:`training_frame`.
    test_fraction
        Share of patients held out.
    seed
        Seed of the split and of the model.

    Returns
    -------
    dict
        ``response_auc_model``, ``response_auc_prior``,
        ``adverse_event_auc_model``, ``adverse_event_auc_prior`` (ROC AUC on
        held-out labelled courses; NaN when they hold a single class), and the
        counts ``train_patients``, ``test_patients``, ``test_response_courses``
        and ``test_adverse_event_courses``.

    Raises
    ------
    InputError
        If ``test_fraction`` is not in (0, 1) or the training part cannot be fitted.
    """
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupShuffleSplit

    if not 0 < test_fraction < 1:
        raise InputError(
            "The 'test_fraction' parameter of evaluate must be a float in the range (0, 1). "
            f"Got {test_fraction!r} instead."
        )
    _check_frame(frame)
    split = GroupShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train_index, test_index = next(split.split(frame, groups=frame["source_id"]))
    train, test = frame.iloc[train_index], frame.iloc[test_index]
    model = DrugResponseModel(random_state=seed).fit(train)
    priors = model.priors()
    result: dict[str, float] = {
        "train_patients": float(train["source_id"].nunique()),
        "test_patients": float(test["source_id"].nunique()),
    }
    estimators = {"response_8w": model.response_model_, "adverse_event": model.adverse_model_}
    for position, (label, key) in enumerate(
        (("response_8w", "response"), ("adverse_event", "adverse_event"))
    ):
        held = _labelled(test, label)
        y = held[label].astype(int).to_numpy()
        result[f"test_{key}_courses"] = float(len(held))
        if len(np.unique(y)) < 2:
            result[f"{key}_auc_model"] = result[f"{key}_auc_prior"] = math.nan
            continue
        scores = estimators[label].predict_proba(held[list(FEATURES)].to_numpy(float))[:, 1]
        prior = np.array([priors[d][position] for d in held["drug"]], dtype=float)
        result[f"{key}_auc_model"] = float(roc_auc_score(y, scores))
        result[f"{key}_auc_prior"] = float(roc_auc_score(y, prior))
    return result

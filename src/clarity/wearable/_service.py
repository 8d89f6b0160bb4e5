"""The wearable service on the bus: actigraphy weeks in, daily risk and attention maps out.

It reads ``ingest.actigraphy`` as a consumer group and publishes, for each of
the week's seven days, the risk of every head over the 7 days that end with
that day (``wearable.daily_risk``). A window worn less than the model's
threshold gets a record too, with no risk and the reason. Requests on
``wearable.explain_request`` are answered with ``wearable.attention``.

Output event ids derive from the model version, the window and the input
records, so replaying the same input publishes nothing new, while a new model
version or newly arrived data gives new records.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from clarity._version_info import __version__
from clarity.bus import Bus, Consumer, Delivery
from clarity.contracts import (
    MINUTES_PER_WEEK,
    Envelope,
    HeadRisk,
    Producer,
    WearableAttention,
    WearableDailyRisk,
    WearableExplainRequest,
    event_id_for,
    explain_request,
)
from clarity.errors import ClarityError
from clarity.registry import ModelRegistry
from clarity.store import FeatureStore
from clarity.wearable._bundle import SCORE_BATCH, Backend, WearableModel
from clarity.wearable._windows import Week, Window, daily_windows, window_ending

__all__ = [
    "MODEL_NAME",
    "ExplainError",
    "ServiceReport",
    "WearableService",
    "request_explanation",
]

MODEL_NAME = "wearable.pat"
"""Name of the served wearable model in the registry."""

log = logging.getLogger(__name__)

Allowed = Callable[[str, str], bool]


@dataclass
class ServiceReport:
    """What one :meth:`WearableService.run` did.

    Parameters
    ----------
    weeks
        Actigraphy weeks read.
    days
        Daily-risk records published (scored or not).
    unscored
        Of those, windows with too little wear.
    explained
        Attention maps published.
    rejected
        Records dead-lettered (with the reason).
    skipped
        Records not processed because the patient has not consented.
    """

    weeks: int = 0
    days: int = 0
    unscored: int = 0
    explained: int = 0
    rejected: int = 0
    skipped: int = 0


class ExplainError(ClarityError):
    """An explanation request that cannot be answered (no data, too little wear, unknown head)."""


class WearableService:
    """Score actigraphy from the bus with a :class:`WearableModel`.

    Parameters
    ----------
    model
        The trained model.
    model_name, model_version, run_id
        Its registry lineage, stamped on every record.
    store
        Where to find a patient's earlier weeks (the days before a new week
        that its first windows reach into) when they were read in another
        run; without it only weeks seen by this process are used.
    allowed
        ``allowed(patient_id, topic)``: False skips the record (no consent).
    batch_size
        Records per poll (each week gives seven windows).
    score_batch
        Windows per forward pass.
    cache_patients
        Patients whose latest week is kept in memory.
    """

    def __init__(
        self,
        model: WearableModel,
        *,
        model_name: str,
        model_version: str,
        run_id: str | None = None,
        store: FeatureStore | None = None,
        allowed: Allowed | None = None,
        batch_size: int = 64,
        score_batch: int = SCORE_BATCH,
        cache_patients: int = 2048,
    ) -> None:
        self.model = model
        self.store = store
        self.allowed = allowed
        self.batch_size = batch_size
        self.score_batch = score_batch
        self.producer = Producer(
            service="wearable",
            model_name=model_name,
            model_version=model_version,
            run_id=run_id,
            code_version=__version__,
        )
        self._cache: OrderedDict[str, list[Week]] = OrderedDict()
        self._cache_patients = cache_patients

    @classmethod
    def from_registry(
        cls,
        registry: ModelRegistry,
        name: str = MODEL_NAME,
        *,
        alias: str | None = "production",
        version: int | None = None,
        backend: Backend = "torch",
        **options: Any,
    ) -> WearableService:
        """Serve a registered model version.

        Parameters
        ----------
        registry
            The model registry.
        name
            Registered model name.
        alias, version
            Which version (the alias unless a version is given).
        backend
            Scoring backend (see :meth:`WearableModel.load`). Torch by default:
            ONNX Runtime scored no faster on CPU in ``bench/wearable.py`` and
            needed more memory for PAT-M and PAT-L.
        **options
            Passed to the service (``store``, ``allowed``, ``batch_size``).

        Returns
        -------
        WearableService
            The service, its records stamped with the version's lineage.
        """
        found = registry.load(name, version=version, alias=None if version else alias)
        return cls(
            WearableModel.load(found.path, backend=backend),
            model_name=name,
            model_version=str(found.version.version),
            run_id=found.version.run_id,
            **options,
        )

    # ----------------------------------------------------------------- history

    def _remember(self, week: Week) -> None:
        weeks = [w for w in self._cache.get(week.patient_id, []) if w.start != week.start]
        weeks = sorted([*weeks, week], key=lambda w: w.start)[-2:]
        self._cache[week.patient_id] = weeks
        self._cache.move_to_end(week.patient_id)
        while len(self._cache) > self._cache_patients:
            self._cache.popitem(last=False)

    def _weeks_between(self, patient_id: str, start: datetime, end: datetime) -> list[Week]:
        """Known weeks of a patient that overlap ``[start, end)``."""
        found = {
            w.start: w for w in self._cache.get(patient_id, []) if w.start < end and w.end > start
        }
        if self.store is not None:
            rows = self.store.timeline(
                patient_id,
                topics=["ingest.actigraphy"],
                start=start - timedelta(minutes=MINUTES_PER_WEEK - 1),
                end=end,
                limit=10,
            )
            stored: dict[datetime, Week] = {}
            for row in rows:  # in bus order: a later copy of a week replaces an earlier one
                week = Week.from_record(Envelope.model_validate(dict(row.record)))
                if week.end > start:
                    stored[week.start] = week
            found = {**stored, **found}  # what this process saw last wins over the store
        return sorted(found.values(), key=lambda w: w.start)

    # ----------------------------------------------------------------- scoring

    def score_weeks(self, records: Sequence[Envelope]) -> list[Envelope]:
        """Daily-risk records for some actigraphy weeks (seven each).

        Parameters
        ----------
        records
            ``ingest.actigraphy`` envelopes, any patients, any order.

        Returns
        -------
        list of Envelope
            ``wearable.daily_risk`` records, in input order, day by day.
        """
        windows: list[Window] = []
        for record in sorted(records, key=lambda r: (r.patient_id, r.observed_at)):
            week = Week.from_record(record)
            earlier = self._weeks_between(
                week.patient_id, week.start - timedelta(minutes=MINUTES_PER_WEEK), week.start
            )
            windows.extend(daily_windows(week, [w for w in earlier if w.start < week.start]))
            self._remember(week)
        if not windows:
            return []
        scores = self.model.score(
            np.stack([w.counts for w in windows]),
            np.stack([w.wear for w in windows]),
            batch_size=self.score_batch,
        )
        out = []
        for i, window in enumerate(windows):
            risks: tuple[HeadRisk, ...] = ()
            reason = None
            if scores.scored[i]:
                risks = tuple(
                    HeadRisk(head=head, probability=round(float(p[i]), 6))
                    for head, p in scores.probabilities.items()
                )
            else:
                reason = (
                    f"worn {scores.wear_fraction[i]:.0%} of the 7 days; the model needs "
                    f"{self.model.min_wear_fraction:.0%} to score a window"
                )
            payload = WearableDailyRisk(
                day=window.day,
                window_start=window.start,
                window_end=window.end,
                timezone=window.timezone,
                wear_fraction=round(float(scores.wear_fraction[i]), 6),
                day_wear_fraction=round(window.day_wear_fraction, 6),
                min_wear_fraction=self.model.min_wear_fraction,
                risks=risks,
                reason=reason,
            )
            out.append(self._envelope("wearable.daily_risk", window, payload))
        return out

    def _score_or_isolate(
        self,
        weeks: list[Envelope],
        batch: Sequence[Delivery[Envelope]],
        consumer: Consumer[Envelope],
        report: ServiceReport,
    ) -> list[Envelope]:
        """Score a poll's weeks together; if that fails, one by one, rejecting the culprits.

        A week that cannot be scored (a record the model cannot read, history
        that no longer validates) goes to the dead letters with the error,
        instead of failing every later poll and holding up every patient.
        """
        try:
            return self.score_weeks(weeks)
        except Exception:
            log.exception("wearable: scoring a batch failed; retrying its weeks one by one")
        by_event = {d.record.event_id: d for d in batch}
        days: list[Envelope] = []
        for record in weeks:
            try:
                days.extend(self.score_weeks([record]))
            except Exception as error:
                consumer.reject(by_event[record.event_id], f"the service failed on it: {error!r}")
                report.rejected += 1
        return days

    def _envelope(
        self, topic: str, window: Window, payload: WearableDailyRisk | WearableAttention
    ) -> Envelope:
        identity = [
            topic,
            self.producer.model_name,
            self.producer.model_version,
            window.patient_id,
            window.end.isoformat(),
            *(str(i) for i in window.inputs),
        ]
        if isinstance(payload, WearableAttention):
            identity.append(payload.head)
        return Envelope.new(
            event_id=event_id_for(*identity),
            topic=topic,
            patient_id=window.patient_id,
            observed_at=window.end,
            source=f"wearable:{self.producer.model_name}:{self.producer.model_version}",
            producer=self.producer,
            inputs=window.inputs,
            payload=payload,
        )

    def explain(self, request: Envelope) -> Envelope:
        """Answer an explanation request with the attention map of its window.

        Parameters
        ----------
        request
            A ``wearable.explain_request`` envelope.

        Returns
        -------
        Envelope
            The ``wearable.attention`` record.

        Raises
        ------
        ExplainError
            If the head is unknown, no actigraphy covers the window, or the
            window has too little wear to be scored.
        """
        asked = request.payload
        if not isinstance(asked, WearableExplainRequest):
            raise TypeError(f"expected a wearable.explain_request; got {request.topic}")
        if asked.head not in self.model.heads:
            heads = ", ".join(sorted(self.model.heads))
            raise ExplainError(f"the model has no head {asked.head!r} (heads: {heads})")
        start = asked.window_end - timedelta(minutes=MINUTES_PER_WEEK)
        weeks = self._weeks_between(request.patient_id, start, asked.window_end)
        window = window_ending(asked.window_end, weeks)
        if window is None:
            raise ExplainError(
                f"no actigraphy of {request.patient_id} covers the 7 days ending "
                f"{asked.window_end.isoformat()}"
            )
        fraction = float(window.wear.mean())
        if fraction < self.model.min_wear_fraction:
            raise ExplainError(
                f"the 7 days ending {asked.window_end.isoformat()} were worn {fraction:.0%}; "
                f"a window needs {self.model.min_wear_fraction:.0%} to be scored or explained"
            )
        probability, minutes = self.model.explain(
            window.counts[None], window.wear[None], asked.head
        )
        payload = WearableAttention(
            window_start=window.start,
            window_end=window.end,
            timezone=window.timezone,
            head=asked.head,
            probability=round(float(probability[0]), 6),
            patch_minutes=self.model.config.patch_size,
            minutes=tuple(float(m) for m in minutes[0].astype("float32")),
        )
        return self._envelope("wearable.attention", window, payload)

    # ----------------------------------------------------------------- the bus

    def run(self, bus: Bus, *, group: str = "wearable") -> ServiceReport:
        """Consume new weeks and explanation requests; publish what they give.

        Each poll's outputs are published before its offsets are committed,
        and outputs have stable event ids, so a crash loses nothing and a
        replay duplicates nothing.

        Parameters
        ----------
        bus
            The feature bus.
        group
            Consumer group (``<group>-explain`` for the requests).

        Returns
        -------
        ServiceReport
            Counts of this run.
        """
        report = ServiceReport()
        with bus.subscribe("ingest.actigraphy", group=group) as consumer:
            while batch := consumer.poll(max_records=self.batch_size):
                weeks = []
                for delivery in batch:
                    if self.allowed and not self.allowed(
                        delivery.record.patient_id, delivery.topic
                    ):
                        report.skipped += 1
                    else:
                        weeks.append(delivery.record)
                days = self._score_or_isolate(weeks, batch, consumer, report)
                published = bus.publish_batch(days)
                report.weeks += len(weeks)
                report.days += published.accepted
                report.unscored += sum(
                    1
                    for d, result in zip(days, published, strict=True)
                    if isinstance(d.payload, WearableDailyRisk)
                    and d.payload.reason
                    and not result.duplicate
                )
                consumer.commit()
            report.rejected += consumer.dead_lettered
        with bus.subscribe("wearable.explain_request", group=f"{group}-explain") as consumer:
            while batch := consumer.poll(max_records=self.batch_size):
                answers = []
                for delivery in batch:
                    if self.allowed and not self.allowed(
                        delivery.record.patient_id, "wearable.attention"
                    ):
                        report.skipped += 1
                        continue
                    try:
                        answers.append(self.explain(delivery.record))
                    except ExplainError as error:
                        consumer.reject(delivery, str(error))
                        report.rejected += 1
                    except Exception as error:  # one bad request must not stop the others
                        log.exception("wearable: explanation request %s failed", delivery.offset)
                        consumer.reject(delivery, f"the service failed on it: {error!r}")
                        report.rejected += 1
                report.explained += bus.publish_batch(answers).accepted
                consumer.commit()
            report.rejected += consumer.dead_lettered
        log.info("wearable service: %s", json.dumps(report.__dict__))
        return report


def request_explanation(
    bus: Bus,
    patient_id: str,
    window_end: datetime,
    *,
    head: str = "depression",
    requested_by: str,
    model_version: str | None = None,
) -> Envelope:
    """Publish a request for the attention map of one window.

    Asking again for the same window, head, requester and model version is a
    no-op.

    Parameters
    ----------
    bus
        The feature bus.
    patient_id
        The patient.
    window_end
        End of the 7-day window (timezone-aware).
    head
        The head to explain.
    requested_by
        Who asks.
    model_version
        The version expected to answer, so that a new version can be asked again.

    Returns
    -------
    Envelope
        The request.
    """
    record = explain_request(
        patient_id,
        window_end,
        head=head,
        requested_by=requested_by,
        model_version=model_version,
        service="wearable",
        source=f"request:{requested_by}",
    )
    bus.publish(record)
    return record

"""Consumers that write bus records into the feature store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from clarity.bus import Bus
from clarity.contracts import (
    ActigraphyWeek,
    Envelope,
    GenotypeTraitRisk,
    MedicationStatement,
    MoodReport,
    PatientDemographics,
    PGxPanelResult,
    QuestionnaireObservation,
    WearableDailyRisk,
)
from clarity.errors import ClarityError
from clarity.store._base import FeatureStore, FeatureValue, JsonValue

__all__ = ["MaterializeReport", "materialize", "record_features"]


@dataclass(frozen=True, slots=True)
class MaterializeReport:
    """What one :func:`materialize` run did.

    Parameters
    ----------
    consumed
        Records read from the bus.
    written
        New feature values stored (replays write none).
    rejected
        Records moved to the dead-letter topic: those the feature function
        refused and those the bus could not decode.
    """

    consumed: int
    written: int
    rejected: int


def _values(record: Envelope) -> list[tuple[str, JsonValue]]:
    payload = record.payload
    if isinstance(payload, QuestionnaireObservation):
        return [(f"{payload.instrument.value}.total", payload.total_score)]
    if isinstance(payload, MoodReport):
        fields = ("mood", "anxiety", "energy", "sleep_hours", "sleep_quality")
        return [
            (f"mood.{f}", getattr(payload, f)) for f in fields if getattr(payload, f) is not None
        ]
    if isinstance(payload, MedicationStatement):
        drug = "".join(c if c.isalnum() else "_" for c in payload.name.lower())
        return [(f"medication.{drug}.status", payload.status.value)] + (
            [(f"medication.{drug}.dose_mg", payload.dose_mg)] if payload.dose_mg else []
        )
    if isinstance(payload, PatientDemographics):
        return [
            ("demographics.birth_year", payload.birth_year),
            ("demographics.sex", payload.sex.value),
            ("demographics.ancestry", payload.ancestry.value),
        ]
    if isinstance(payload, PGxPanelResult):
        return [
            (f"pgx.{call.gene.lower().replace('-', '_')}.diplotype", call.diplotype)
            for call in payload.calls
        ]
    if isinstance(payload, ActigraphyWeek):
        return [("actigraphy.wear_fraction", round(sum(payload.wear) / len(payload.wear), 4))]
    if isinstance(payload, GenotypeTraitRisk):
        if payload.score is None:
            return []
        found: list[tuple[str, JsonValue]] = [(f"genotype.{payload.trait}.score", payload.score)]
        if payload.percentile is not None:
            found.append((f"genotype.{payload.trait}.percentile", payload.percentile))
        return found
    if isinstance(payload, WearableDailyRisk):
        values: list[tuple[str, JsonValue]] = [("wearable.wear_fraction", payload.wear_fraction)]
        return values + [(f"wearable.{risk.head}.risk", risk.probability) for risk in payload.risks]
    return []


def record_features(record: Envelope) -> list[FeatureValue]:
    """Turn a bus record into the feature values the dashboard and twin read.

    Parameters
    ----------
    record
        A record of any topic.

    Returns
    -------
    list of FeatureValue
        E.g. ``phq9.total`` for a PHQ-9, ``mood.mood`` for a mood report,
        ``wearable.depression.risk`` for a scored day; empty for records that
        are kept only in the timeline (notes, ECG, attention maps, ...).
    """
    producer = record.producer.model_dump()
    return [
        FeatureValue(
            patient_id=record.patient_id,
            feature=name,
            value=value,
            observed_at=record.observed_at,
            event_id=record.event_id,
            producer=producer,
        )
        for name, value in _values(record)
    ]


def materialize(
    bus: Bus,
    store: FeatureStore,
    *,
    group: str,
    pattern: str = ">",
    features: Callable[[Envelope], Sequence[FeatureValue]] = record_features,
    batch_size: int = 500,
) -> MaterializeReport:
    """Consume the bus as a group; write each record and its features into the store.

    Each batch is written to the store before its offsets are committed, and
    the store ignores values it already has, so a crash at any point loses
    nothing and duplicates nothing.

    Parameters
    ----------
    bus
        The feature bus.
    store
        The feature store to write.
    group
        Consumer group; its positions make later runs incremental.
    pattern
        Topics to read; every topic by default (never the dead letters).
    features
        Turns a record into feature values; a :class:`~clarity.errors.ClarityError`
        or ``ValueError`` it raises dead-letters the record.
    batch_size
        Records per store transaction.

    Returns
    -------
    MaterializeReport
        Counts of this run.
    """
    consumed = written = rejected = 0
    with bus.subscribe(pattern, group=group) as consumer:
        while batch := consumer.poll(max_records=batch_size):
            values: list[FeatureValue] = []
            for delivery in batch:
                try:
                    values.extend(features(delivery.record))
                except (ClarityError, ValueError) as error:
                    consumer.reject(delivery, f"cannot derive features: {error}")
                    rejected += 1
            written += store.put(values)
            store.put_records((d.offset, d.record) for d in batch)
            consumed += len(batch)
            consumer.commit()
        # Records the bus itself could not decode were dead-lettered while polling.
        rejected += consumer.dead_lettered
    return MaterializeReport(consumed=consumed, written=written, rejected=rejected)

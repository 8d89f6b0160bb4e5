"""The feature store interface: latest value and history per patient and feature."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from clarity.contracts import Envelope, ensure_utc

__all__ = ["FeatureStore", "FeatureValue", "JsonValue", "TimelineRecord"]

JsonValue = None | bool | int | float | str | Sequence[Any] | Mapping[str, Any]
"""A feature value: anything that JSON can carry."""

_FEATURE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


@dataclass(frozen=True, slots=True)
class FeatureValue:
    """One value of one feature for one patient, with its lineage.

    Parameters
    ----------
    patient_id
        Pseudonymous patient id.
    feature
        Dotted lower-case name, e.g. ``"phq9.total"``.
    value
        The value; JSON-serialisable.
    observed_at
        When the value holds (event time, timezone-aware).
    event_id
        The bus record the value was computed from.
    producer
        Who computed it (service, model name and version), as a mapping.
    written_at
        When the store received it; set by the store.
    """

    patient_id: str
    feature: str
    value: JsonValue
    observed_at: datetime
    event_id: uuid.UUID
    producer: Mapping[str, Any] = field(default_factory=dict)
    written_at: datetime | None = None

    def __post_init__(self) -> None:
        if not _FEATURE.match(self.feature):
            raise ValueError(
                "The 'feature' name must be dot-separated lower-case tokens of letters, "
                f"digits and '_', e.g. 'phq9.total'. Got {self.feature!r} instead."
            )
        object.__setattr__(self, "observed_at", ensure_utc(self.observed_at))
        try:
            json.dumps(self.value, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"The value of feature {self.feature!r} must be JSON-serialisable and finite. "
                f"Got {self.value!r} instead ({error})."
            ) from None


@dataclass(frozen=True, slots=True)
class TimelineRecord:
    """A bus record kept in the store for reading by patient and time.

    Parameters
    ----------
    offset
        Its bus offset.
    topic
        Its topic.
    observed_at
        Its event time.
    record
        The envelope as JSON-compatible data.
    """

    offset: int
    topic: str
    observed_at: datetime
    record: Mapping[str, Any]


@runtime_checkable
class FeatureStore(Protocol):
    """What a feature/twin store must provide."""

    def put(self, values: Iterable[FeatureValue]) -> int:
        """Store values atomically.

        A value with the same patient, feature, observation time and event id as
        one already stored is a no-op, so replaying the bus is safe.

        Parameters
        ----------
        values
            The values to store.

        Returns
        -------
        int
            How many values were new.
        """
        ...

    def latest(
        self,
        patient_id: str,
        features: Iterable[str] | None = None,
        *,
        as_of: datetime | None = None,
    ) -> dict[str, FeatureValue]:
        """Return the newest value of each feature of a patient.

        Parameters
        ----------
        patient_id
            The patient.
        features
            The features wanted; all when None.
        as_of
            Only values observed at or before this time.

        Returns
        -------
        dict
            The newest value by feature name; features without a value are absent.
        """
        ...

    def history(
        self,
        patient_id: str,
        feature: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[FeatureValue]:
        """Return a feature's values observed in ``[start, end)``.

        Parameters
        ----------
        patient_id
            The patient.
        feature
            The feature name.
        start, end
            Observation-time bounds; open when None.

        Returns
        -------
        list of FeatureValue
            Oldest first.
        """
        ...

    def put_records(self, records: Iterable[tuple[int, Envelope]]) -> int:
        """Keep bus records for timeline reads; a record already kept is a no-op.

        Parameters
        ----------
        records
            ``(offset, envelope)`` pairs.

        Returns
        -------
        int
            How many were new.
        """
        ...

    def timeline(
        self,
        patient_id: str,
        *,
        topics: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: tuple[datetime, int] | None = None,
        limit: int = 100,
    ) -> list[TimelineRecord]:
        """Return a patient's records in ``[start, end)``, in time order.

        Parameters
        ----------
        patient_id
            The patient.
        topics
            Only these topics; all when None.
        start, end
            Event-time bounds.
        after
            Continue after this ``(observed_at, offset)`` (keyset pagination).
        limit
            The most records to return.

        Returns
        -------
        list of TimelineRecord
            Ordered by event time, then offset.
        """
        ...

    def patients(self) -> list[str]:
        """Return every patient with at least one value.

        Returns
        -------
        list of str
            Patient ids, sorted.
        """
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...

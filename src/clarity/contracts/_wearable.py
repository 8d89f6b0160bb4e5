"""Payloads of the ``wearable.*`` topics: PAT's risk scores and explanations."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from pydantic import Field, StringConstraints, model_validator

from clarity.contracts._ingest import MINUTES_PER_WEEK
from clarity.contracts._topics import Payload
from clarity.contracts._types import ContractModel, ShortText, UtcDatetime

__all__ = [
    "HeadName",
    "HeadRisk",
    "WearableAttention",
    "WearableDailyRisk",
    "WearableExplainRequest",
    "window_day",
]

HeadName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$"),
    Field(description="A fine-tuned head of the wearable model, e.g. 'depression'."),
]

_Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


def window_day(window_end: datetime, timezone: str) -> date:
    """Name a 7-day window by the wearer's local day that it ends.

    Windows are whole 24-hour steps from a week's first local midnight, so
    after a daylight-saving change they end at 23:00 or 01:00 local time;
    twelve hours back is always inside the day the window ends.

    Parameters
    ----------
    window_end
        End of the window (timezone-aware).
    timezone
        IANA zone of the wearer.

    Returns
    -------
    datetime.date
        The window's day, as ``WearableDailyRisk.day`` names it.
    """
    return (window_end.astimezone(ZoneInfo(timezone)) - timedelta(hours=12)).date()


class HeadRisk(ContractModel):
    """The probability one fine-tuned head gives to the 7 days it read."""

    head: HeadName
    probability: _Fraction = Field(description="Predicted probability, 0 to 1.")


class WearableDailyRisk(Payload):
    """Risk from the 7 days of actigraphy that end with one day (topic ``wearable.daily_risk``).

    Each day is scored on the week that ends with it, so consecutive days share
    six days of data. A window worn less than ``min_wear_fraction`` of the
    time is not scored, and ``reason`` says why.
    """

    day: date = Field(description="Local calendar day that ends the window.")
    window_start: UtcDatetime = Field(description="First minute of the 7-day window.")
    window_end: UtcDatetime = Field(description="End of the window (exclusive).")
    timezone: ShortText = Field(default="UTC", description="IANA zone of the wearer.")
    wear_fraction: _Fraction = Field(description="Share of the window's minutes worn.")
    day_wear_fraction: _Fraction = Field(description="Share of this day's minutes worn.")
    min_wear_fraction: _Fraction = Field(description="The wear a window needs to be scored.")
    risks: tuple[HeadRisk, ...] = Field(
        default=(), max_length=16, description="One risk per head; empty when not scored."
    )
    reason: ShortText | None = Field(
        default=None, description="Why the window was not scored; absent when it was."
    )

    @model_validator(mode="after")
    def _scored_or_explained(self) -> Self:
        if bool(self.risks) == (self.reason is not None):
            raise ValueError("a daily risk has either risks or a reason it was not scored")
        if self.window_end <= self.window_start:
            raise ValueError("window_end must follow window_start")
        heads = [r.head for r in self.risks]
        if len(set(heads)) != len(heads):
            raise ValueError(f"each head may appear once; got {heads}")
        return self


class WearableExplainRequest(Payload):
    """Ask the wearable service to explain one window (topic ``wearable.explain_request``).

    Attention maps are large (one value per minute), so the service computes
    them only when asked.
    """

    window_end: UtcDatetime = Field(description="End of the 7-day window to explain.")
    head: HeadName = Field(default="depression", description="The head whose encoder to explain.")
    requested_by: ShortText = Field(description="Who asked (a user name or a service).")


class WearableAttention(Payload):
    """What the model looked at in one window (topic ``wearable.attention``).

    The attention each patch receives in the encoder's last layer, averaged
    over heads and over the patches attending, spread back to the patch's
    minutes (Ruan et al. 2024). Minutes not worn get 0.
    """

    window_start: UtcDatetime = Field(description="First minute of the window.")
    window_end: UtcDatetime = Field(description="End of the window (exclusive).")
    timezone: ShortText = Field(default="UTC", description="IANA zone of the wearer.")
    head: HeadName
    probability: _Fraction = Field(description="The head's risk for this window.")
    patch_minutes: int = Field(ge=1, le=1440, description="Minutes per patch of the model.")
    minutes: tuple[Annotated[float, Field(ge=0.0, allow_inf_nan=False)], ...] = Field(
        min_length=MINUTES_PER_WEEK,
        max_length=MINUTES_PER_WEEK,
        description="Attention per minute, summing to 1 over the window.",
    )

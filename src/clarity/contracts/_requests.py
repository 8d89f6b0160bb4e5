"""Request records that more than one producer writes (the API, the CLI)."""

from __future__ import annotations

from datetime import datetime

from clarity._version_info import __version__
from clarity.contracts._envelope import Envelope, Producer, event_id_for
from clarity.contracts._wearable import WearableExplainRequest

__all__ = ["explain_request"]


def explain_request(
    patient_id: str,
    window_end: datetime,
    *,
    head: str = "depression",
    requested_by: str,
    model_version: str | None = None,
    service: str,
    source: str,
) -> Envelope:
    """Build a ``wearable.explain_request`` record for one window.

    Its event id derives from the patient, window, head, requester and the
    model version expected to answer: asking again of the same version is a
    duplicate (its answer stands), a new version can be asked again.

    Parameters
    ----------
    patient_id
        The patient.
    window_end
        End of the 7-day window (timezone-aware).
    head
        The head to explain.
    requested_by
        Who asks.
    model_version
        The version expected to answer, if known.
    service, source
        The producing service (``"api"``, ``"wearable"``) and the record's source.

    Returns
    -------
    Envelope
        The request, ready to publish.
    """
    payload = WearableExplainRequest(window_end=window_end, head=head, requested_by=requested_by)
    return Envelope.new(
        event_id=event_id_for(
            "wearable.explain_request",
            patient_id,
            payload.window_end.isoformat(),
            payload.head,
            requested_by,
            *([model_version] if model_version else []),
        ),
        topic="wearable.explain_request",
        patient_id=patient_id,
        observed_at=payload.window_end,
        source=source,
        producer=Producer(
            service=service,
            model_name="explain-request",
            model_version=__version__,
            code_version=__version__,
        ),
        payload=payload,
    )

"""A typed Python client of the Clarity API."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from clarity.errors import ClarityError
from clarity.sdk._models import (
    AuditEntryOut,
    CohortValue,
    ConsentOut,
    ExplanationRequest,
    ExplanationRequestOut,
    FeatureOut,
    GenotypeRisks,
    IngestReportOut,
    Me,
    PatientDetail,
    PatientPage,
    PatientSummary,
    TimelineItem,
    TimelinePage,
    Token,
)

__all__ = ["ApiError", "ClarityClient"]

M = TypeVar("M", bound=BaseModel)


class ApiError(ClarityError):
    """The API answered with a problem document.

    Parameters
    ----------
    status
        HTTP status.
    problem
        The RFC 9457 document (``type``, ``title``, ``detail``, ...).
    """

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', 'Error')}: {problem.get('detail', '')}")


class ClarityClient:
    """Call the Clarity API with a bearer token.

    Parameters
    ----------
    base_url
        E.g. ``http://127.0.0.1:8000``.
    token
        A bearer token (:meth:`sign_in` gets one).
    transport
        An httpx transport, e.g. to call an application in-process in tests.
    timeout
        Seconds per request.

    Notes
    -----
    Typical use against a running server::

        with ClarityClient.sign_in("http://127.0.0.1:8000", "clinician", password) as client:
            for patient in client.patients():
                print(patient.patient_id, patient.phq9)

    ``tests/api/test_sdk_and_fuzz.py`` runs this end to end.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=base_url, headers=headers, transport=transport, timeout=timeout
        )

    @classmethod
    def sign_in(
        cls,
        base_url: str,
        username: str,
        password: str,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> ClarityClient:
        """Sign in with a password and return a client holding the token.

        Parameters
        ----------
        base_url
            The API.
        username, password
            Credentials.
        transport
            See the class.

        Returns
        -------
        ClarityClient
            An authenticated client.
        """
        anonymous = cls(base_url, transport=transport)
        try:
            token = anonymous._model(
                "POST", "/auth/token", Token, data={"username": username, "password": password}
            )
        finally:
            anonymous.close()
        return cls(base_url, token=token.access_token, transport=transport)

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"title": response.reason_phrase, "detail": response.text[:500]}
            raise ApiError(response.status_code, problem)
        return response

    def _model(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        return model.model_validate(self._send(method, path, **kwargs).json())

    def _models(self, path: str, model: type[M], **kwargs: Any) -> list[M]:
        adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
        result: list[M] = adapter.validate_python(self._send("GET", path, **kwargs).json())
        return result

    # ------------------------------------------------------------------ endpoints

    def me(self) -> Me:
        """Return who the token speaks for.

        Returns
        -------
        Me
            User name, role and (for patients) their record.
        """
        return self._model("GET", "/me", Me)

    def patients(self, *, page_size: int = 50) -> Iterator[PatientSummary]:
        """Yield every patient the caller may see, following pages.

        Parameters
        ----------
        page_size
            Patients fetched per request.

        Yields
        ------
        PatientSummary
            Each patient, in pseudonym order.
        """
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            page = self._model("GET", "/patients", PatientPage, params=params)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def patient(self, patient_id: str) -> PatientDetail:
        """Return a patient's latest features.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.

        Returns
        -------
        PatientDetail
            The newest value of every feature the caller may see.
        """
        return self._model("GET", f"/patients/{patient_id}", PatientDetail)

    def timeline_page(
        self,
        patient_id: str,
        *,
        topics: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
        arrays: bool = False,
        etag: str | None = None,
    ) -> tuple[TimelinePage | None, str | None]:
        """Fetch one page of a timeline.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        topics
            Only these topics.
        start, end
            Event-time bounds (timezone-aware).
        limit
            Records per page.
        cursor
            From the previous page.
        arrays
            Include long arrays in full.
        etag
            An ETag from an earlier answer; a match answers "not modified".

        Returns
        -------
        tuple
            The page (None when ``etag`` still matches: not modified) and its ETag.
        """
        params: dict[str, Any] = {"limit": limit, "arrays": arrays}
        if topics is not None:
            params["topic"] = list(topics)
        if start is not None:
            params["start"] = start.isoformat()
        if end is not None:
            params["end"] = end.isoformat()
        if cursor is not None:
            params["cursor"] = cursor
        headers = {"If-None-Match": etag} if etag else {}
        response = self._send(
            "GET", f"/patients/{patient_id}/timeline", params=params, headers=headers
        )
        new_tag = response.headers.get("etag")
        if response.status_code == 304:
            return None, new_tag
        return TimelinePage.model_validate(response.json()), new_tag

    def timeline(
        self,
        patient_id: str,
        *,
        topics: Iterable[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 200,
        arrays: bool = False,
    ) -> Iterator[TimelineItem]:
        """Yield a patient's records in time order, following pages.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        topics
            Only these topics.
        start, end
            Event-time bounds (timezone-aware).
        page_size
            Records fetched per request.
        arrays
            Include long arrays in full.

        Yields
        ------
        TimelineItem
            Each record, oldest first.
        """
        cursor: str | None = None
        wanted = list(topics) if topics is not None else None
        while True:
            page, _ = self.timeline_page(
                patient_id,
                topics=wanted,
                start=start,
                end=end,
                limit=page_size,
                cursor=cursor,
                arrays=arrays,
            )
            assert page is not None
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def feature_history(
        self,
        patient_id: str,
        feature: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[FeatureOut]:
        """Return every value of one feature of a patient.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        feature
            The feature, e.g. ``"phq9.total"``.
        start, end
            Event-time bounds (timezone-aware).

        Returns
        -------
        list of FeatureOut
            Oldest first.
        """
        params = {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
        return self._models(f"/patients/{patient_id}/features/{feature}", FeatureOut, params=params)

    def consent(self, patient_id: str) -> list[ConsentOut]:
        """Return the consent decision in force for every category.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.

        Returns
        -------
        list of ConsentOut
            One per category.
        """
        return self._models(f"/patients/{patient_id}/consent", ConsentOut)

    def set_consent(self, patient_id: str, category: str, decision: str) -> ConsentOut:
        """Give (``"permit"``) or withdraw (``"deny"``) consent for a category.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        category
            E.g. ``"notes"`` or ``"research"``.
        decision
            ``"permit"`` or ``"deny"``.

        Returns
        -------
        ConsentOut
            The decision recorded.
        """
        return self._model(
            "PUT",
            f"/patients/{patient_id}/consent/{category}",
            ConsentOut,
            json={"decision": decision},
        )

    def request_explanation(
        self, patient_id: str, window_end: datetime, *, head: str = "depression"
    ) -> ExplanationRequestOut:
        """Ask the wearable service for the attention map of one 7-day window.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.
        window_end
            End of the window (timezone-aware), e.g. a daily risk's ``window_end``.
        head
            The head to explain.

        Returns
        -------
        ExplanationRequestOut
            The queued request; the map arrives on the timeline as ``wearable.attention``.
        """
        body = ExplanationRequest(window_end=window_end, head=head)
        return self._model(
            "POST",
            f"/patients/{patient_id}/wearable/explanations",
            ExplanationRequestOut,
            json=body.model_dump(mode="json"),
        )

    def pgx_report(self, patient_id: str) -> dict[str, Any]:
        """Return the patient's latest PGx report as JSON.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.

        Returns
        -------
        dict
            ``genes`` (call, phenotypes, missing loci) and ``drugs`` (CPIC guidance).
        """
        result: dict[str, Any] = self._send("GET", f"/patients/{patient_id}/pgx/report").json()
        return result

    def pgx_report_html(self, patient_id: str) -> str:
        """Return the patient's latest PGx report as a standalone HTML page.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.

        Returns
        -------
        str
            The page (no scripts, no remote assets).
        """
        path = f"/patients/{patient_id}/pgx/report"
        return self._send("GET", path, params={"format": "html"}).text

    def genotype_risks(self, patient_id: str) -> GenotypeRisks:
        """Return the patient's newest genetic risk per trait.

        Parameters
        ----------
        patient_id
            The patient's pseudonym.

        Returns
        -------
        GenotypeRisks
            One risk per trait, with its model lineage.
        """
        return self._model("GET", f"/patients/{patient_id}/genotype", GenotypeRisks)

    def cohort_feature(self, feature: str) -> list[CohortValue]:
        """Return a numeric feature across consenting patients (researchers, admins).

        Parameters
        ----------
        feature
            The feature, e.g. ``"phq9.total"``.

        Returns
        -------
        list of CohortValue
            Pseudonymised values.
        """
        return self._models(f"/cohort/features/{feature}", CohortValue)

    def ingest(
        self, paths: Iterable[Path], *, timezone: str | None = None, patient: str | None = None
    ) -> IngestReportOut:
        """Upload files for ingest (admins).

        Parameters
        ----------
        paths
            The files.
        timezone
            IANA zone of local device times in them.
        patient
            Source patient id of single-patient files.

        Returns
        -------
        IngestReportOut
            Accepted, already present and rejected, per file.
        """
        opened = [(p.name, p.open("rb")) for p in paths]
        try:
            data = {k: v for k, v in (("timezone", timezone), ("patient", patient)) if v}
            files = [("files", (name, handle)) for name, handle in opened]
            return self._model("POST", "/ingest", IngestReportOut, files=files, data=data)
        finally:
            for _, handle in opened:
                handle.close()

    def audit(self, *, patient_id: str | None = None, limit: int = 200) -> list[AuditEntryOut]:
        """Return the newest audit entries (admins).

        Parameters
        ----------
        patient_id
            Only this patient's entries.
        limit
            The most entries.

        Returns
        -------
        list of AuditEntryOut
            Newest first.
        """
        params: dict[str, Any] = {"limit": limit}
        if patient_id:
            params["patient_id"] = patient_id
        return self._models("/audit", AuditEntryOut, params=params)

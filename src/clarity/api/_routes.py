"""The endpoints of the API.

Sign-in, patients, timelines, features, consent, cohort, wearable explanations,
ingest and audit; each is audited where it touches patient data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from fastapi.security import OAuth2PasswordRequestForm

from clarity.api._problems import Problem
from clarity.api._security import (
    Caller,
    audited,
    caller,
    context_of,
    request_id_of,
    require_patient,
    require_role,
)
from clarity.contracts import (
    TOPICS,
    PGxGuidance,
    PGxPhenotype,
    WearableExplainRequest,
    explain_request,
)
from clarity.sdk._models import (
    AuditEntryOut,
    CohortValue,
    ConsentOut,
    ConsentRequest,
    ExplanationRequest,
    ExplanationRequestOut,
    FeatureOut,
    FileReportOut,
    GenotypeRiskOut,
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
from clarity.security import AuditEntry, ConsentCategory, Role, category_of

__all__ = ["router"]

router = APIRouter()
_PATIENT_PATH = r"^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$"
_LONG_ARRAY = 48


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Problem(
            400,
            "bad-request",
            "Bad request",
            f"{name} must carry a timezone offset, e.g. 2024-05-01T00:00:00Z",
        )
    return value


def _encode_text_cursor(value: str, kind: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}|{value}".encode()).decode().rstrip("=")


def _decode_text_cursor(cursor: str, kind: str) -> str:
    """Decode a cursor this API issued; anything else is a 400, never a guess."""
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode("ascii")
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        found, value = text.split("|", 1)
        if found != kind:
            raise ValueError(kind)
        return value
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        raise Problem(
            400, "bad-request", "Bad request", f"cursor {cursor[:80]!r} is not one this API issued"
        ) from None


def _encode_cursor(observed_at: datetime, offset: int) -> str:
    return _encode_text_cursor(f"{observed_at.isoformat()}|{offset}", "timeline")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    text = _decode_text_cursor(cursor, "timeline")
    try:
        moment, offset = text.split("|")
        parsed = datetime.fromisoformat(moment)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, int(offset)
    except ValueError:
        raise Problem(
            400, "bad-request", "Bad request", f"cursor {cursor[:80]!r} is not one this API issued"
        ) from None


def _shorten(value: Any) -> Any:
    """Replace long arrays (a week of actigraphy) by their length, unless asked for."""
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        if len(value) > _LONG_ARRAY:
            return {"length": len(value), "omitted": "pass arrays=true for the values"}
        return [_shorten(v) for v in value]
    return value


# ---------------------------------------------------------------------------- sign-in


@router.post("/auth/token", response_model=Token, tags=["auth"], summary="Sign in with a password")
def sign_in(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """Exchange a user name and password for a bearer token (OAuth2 password flow)."""
    context = context_of(request)
    user = context.access.authenticate(form.username, form.password)
    request_id = request_id_of(request)
    if user is None:
        context.audit.append(
            AuditEntry(
                form.username[:64],
                "unknown",
                None,
                "sign-in",
                "POST /auth/token",
                request_id,
                "401",
            )
        )
        raise Problem(
            401,
            "invalid-credentials",
            "Invalid credentials",
            "the user name or password is wrong",
            {"WWW-Authenticate": "Bearer"},
        )
    context.audit.append(
        AuditEntry(
            user.username,
            user.role.value,
            user.patient_id,
            "sign-in",
            "POST /auth/token",
            request_id,
            "200",
        )
    )
    minutes = context.tokens.minutes
    return Token(
        access_token=context.tokens.issue(user), expires_in=minutes * 60, role=user.role.value
    )


@router.get("/me", response_model=Me, tags=["auth"], summary="Who am I")
def me(who: Annotated[Caller, Depends(caller)]) -> Me:
    """Return the user, role and (for patients) record the token speaks for."""
    return Me(username=who.name, role=who.role.value, patient_id=who.claims.patient_id)


# ---------------------------------------------------------------------------- patients


def _visible_patients(who: Caller) -> list[str]:
    context = who.context
    if who.role is Role.admin:
        return context.store.patients()
    if who.role is Role.clinician:
        return [p for p in context.access.patients_of(who.name)]
    assert who.claims.patient_id is not None
    return [who.claims.patient_id]


def _summary(who: Caller, patient_id: str) -> PatientSummary:
    store = who.context.store
    latest = store.latest(
        patient_id, ["demographics.birth_year", "demographics.sex", "phq9.total", "gad7.total"]
    )
    history = store.history(patient_id, "phq9.total")
    trend = None
    if len(history) >= 2:
        last, before = history[-1].value, history[-2].value
        if isinstance(last, int | float) and isinstance(before, int | float):
            trend = "up" if last > before else "down" if last < before else "flat"
    phq9 = latest.get("phq9.total")
    return PatientSummary(
        patient_id=patient_id,
        birth_year=latest["demographics.birth_year"].value
        if "demographics.birth_year" in latest
        else None,
        sex=latest["demographics.sex"].value if "demographics.sex" in latest else None,
        phq9=phq9.value if phq9 else None,
        phq9_at=phq9.observed_at if phq9 else None,
        phq9_trend=trend,
        gad7=latest["gad7.total"].value if "gad7.total" in latest else None,
    )


@router.get(
    "/patients",
    response_model=PatientPage,
    tags=["patients"],
    summary="List the patients you may see",
)
def list_patients(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="From the previous page.")
    ] = None,
) -> PatientPage:
    """List patients: all for admins, assigned ones for clinicians, oneself for a patient."""
    require_role(who, Role.admin, Role.clinician, Role.patient)
    who.context.refresh()
    patients = _visible_patients(who)
    if cursor is not None:
        after = _decode_text_cursor(cursor, "patient")
        patients = [p for p in patients if p > after]
    page = patients[:limit]
    items = [_summary(who, p) for p in page]
    # Every patient whose data the list shows gets an entry of its own.
    who.context.audit.append_many(
        [
            AuditEntry(
                who.name, who.role.value, p, "read", "GET /patients (list)", who.request_id, "200"
            )
            for p in page
        ]
    )
    more = len(patients) > limit
    next_cursor = _encode_text_cursor(page[-1], "patient") if more else None
    return PatientPage(items=items, next_cursor=next_cursor)


def _feature_out(value: Any) -> FeatureOut:
    return FeatureOut(
        feature=value.feature,
        value=value.value,
        observed_at=value.observed_at,
        event_id=str(value.event_id),
        producer=dict(value.producer),
    )


_FEATURE_CATEGORY = {
    "mood": ConsentCategory.mood,
    "actigraphy": ConsentCategory.wearable,
    "pgx": ConsentCategory.genomic,
    "genotype": ConsentCategory.genomic,
    "hrv": ConsentCategory.physiology,
}


def _feature_category(feature: str) -> ConsentCategory:
    return _FEATURE_CATEGORY.get(feature.split(".")[0], ConsentCategory.clinical)


@router.get(
    "/patients/{patient_id}",
    response_model=PatientDetail,
    tags=["patients"],
    summary="A patient's latest features",
)
def get_patient(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
) -> PatientDetail:
    """Return the newest value of every feature of a patient the caller may see."""
    require_patient(who, patient_id, request)
    who.context.refresh()
    with audited(who, request, patient_id, "read"):
        withheld = who.withheld(patient_id)
        latest = who.context.store.latest(patient_id)
        if not latest:
            raise Problem(
                404, "not-found", "Not found", f"no patient {patient_id!r} that you may see"
            )
        features = {
            k: _feature_out(v) for k, v in latest.items() if _feature_category(k) not in withheld
        }
        return PatientDetail(
            patient_id=patient_id, features=features, withheld=sorted(c.value for c in withheld)
        )


@router.get(
    "/patients/{patient_id}/timeline",
    response_model=TimelinePage,
    tags=["patients"],
    summary="A patient's records over time",
    responses={304: {"description": "Not modified (the ETag matched)."}},
)
def get_timeline(
    request: Request,
    response: Response,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
    topic: Annotated[
        list[str] | None, Query(description="Only these topics (repeat the parameter).")
    ] = None,
    start: Annotated[
        datetime | None, Query(description="Event time from (inclusive, with offset).")
    ] = None,
    end: Annotated[
        datetime | None, Query(description="Event time to (exclusive, with offset).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="From the previous page.")
    ] = None,
    arrays: Annotated[
        bool, Query(description="Include long arrays (e.g. minute counts) in full.")
    ] = False,
    if_none_match: Annotated[
        str | None, Header(description="An ETag from an earlier answer.")
    ] = None,
) -> Any:
    """Return a page of a patient's bus records in event-time order, with an ETag."""
    require_patient(who, patient_id, request)
    unknown = sorted(set(topic or []) - set(TOPICS))
    if unknown:
        raise Problem(
            400,
            "bad-request",
            "Bad request",
            f"unknown topic(s) {unknown}; known: {sorted(TOPICS)}",
        )
    start, end = _aware(start, "start"), _aware(end, "end")
    after = _decode_cursor(cursor) if cursor else None
    who.context.refresh()
    with audited(who, request, patient_id, "read") as state:
        withheld = who.withheld(patient_id)
        topics = [t for t in (topic or sorted(TOPICS)) if category_of(t) not in withheld]
        rows = who.context.store.timeline(
            patient_id, topics=topics, start=start, end=end, after=after, limit=limit + 1
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = _encode_cursor(page[-1].observed_at, page[-1].offset) if more else None
        tag_source = json.dumps(
            [[r.offset for r in page], next_cursor, arrays, sorted(c.value for c in withheld)]
        )
        etag = f'W/"{hashlib.sha256(tag_source.encode()).hexdigest()[:32]}"'
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
            state["outcome"] = "304"
            return Response(status_code=304, headers=headers)
        response.headers.update(headers)
        items = [
            TimelineItem(
                offset=r.offset,
                topic=r.topic,
                observed_at=r.observed_at,
                record=dict(r.record) if arrays else _shorten(dict(r.record)),
            )
            for r in page
        ]
        return TimelinePage(
            items=items, next_cursor=next_cursor, withheld=sorted(c.value for c in withheld)
        )


@router.get(
    "/patients/{patient_id}/features/{feature}",
    response_model=list[FeatureOut],
    tags=["patients"],
    summary="A feature's history",
)
def get_feature_history(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
    feature: Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=128)],
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> list[FeatureOut]:
    """Return every value of one feature in ``[start, end)``, oldest first."""
    require_patient(who, patient_id, request)
    start, end = _aware(start, "start"), _aware(end, "end")
    who.context.refresh()
    with audited(who, request, patient_id, "read"):
        if _feature_category(feature) in who.withheld(patient_id):
            return []
        return [
            _feature_out(v)
            for v in who.context.store.history(patient_id, feature, start=start, end=end)
        ]


# ---------------------------------------------------------------------------- consent


@router.get(
    "/patients/{patient_id}/consent",
    response_model=list[ConsentOut],
    tags=["consent"],
    summary="A patient's consent",
)
def get_consent(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
) -> list[ConsentOut]:
    """Return the decision in force for every data category."""
    require_patient(who, patient_id, request)
    access = who.context.access
    with audited(who, request, patient_id, "read"):
        result = []
        for category, decision in access.consent(patient_id).items():
            if decision is None:
                result.append(
                    ConsentOut(
                        category=category.value, decision=access.consent_default, explicit=False
                    )
                )
            else:
                result.append(
                    ConsentOut(
                        category=category.value,
                        decision=decision.decision,
                        explicit=True,
                        decided_at=decision.decided_at,
                        decided_by=decision.decided_by,
                    )
                )
        return result


@router.put(
    "/patients/{patient_id}/consent/{category}",
    response_model=ConsentOut,
    tags=["consent"],
    summary="Give or withdraw consent",
)
def put_consent(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
    category: ConsentCategory,
    body: ConsentRequest,
) -> ConsentOut:
    """Record a decision for one category; it applies from now on (admins and the patient)."""
    if who.role not in (Role.admin, Role.patient):
        require_role(who, Role.admin, Role.patient)
    require_patient(who, patient_id, request)
    with audited(who, request, patient_id, f"consent:{category.value}:{body.decision}"):
        decision = who.context.access.set_consent(patient_id, category, body.decision, by=who.name)
        return ConsentOut(
            category=category.value,
            decision=decision.decision,
            explicit=True,
            decided_at=decision.decided_at,
            decided_by=decision.decided_by,
        )


# ---------------------------------------------------------------------------- research


@router.get(
    "/cohort/features/{feature}",
    response_model=list[CohortValue],
    tags=["research"],
    summary="A numeric feature across the cohort",
)
def cohort_feature(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    feature: Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$", max_length=128)],
) -> list[CohortValue]:
    """Return the latest numeric value of a feature for every patient who consented to research.

    Pseudonyms only: no free text, no provenance, no identifiers.
    """
    require_role(who, Role.admin, Role.researcher)
    context = who.context
    context.refresh()
    values: list[CohortValue] = []
    with audited(who, request, None, "read-cohort"):
        for patient in context.store.patients():
            if not context.access.allowed(patient, ConsentCategory.research):
                continue
            found = context.store.latest(patient, [feature]).get(feature)
            if (
                found is not None
                and isinstance(found.value, int | float)
                and not isinstance(found.value, bool)
            ):
                values.append(
                    CohortValue(
                        patient_id=patient,
                        feature=feature,
                        value=float(found.value),
                        observed_at=found.observed_at,
                    )
                )
        context.audit.append_many(
            [
                AuditEntry(
                    who.name,
                    who.role.value,
                    v.patient_id,
                    "read",
                    f"GET /cohort/features/{feature}",
                    who.request_id,
                    "200",
                )
                for v in values
            ]
        )
    return values


# ---------------------------------------------------------------------------- wearable


@router.post(
    "/patients/{patient_id}/wearable/explanations",
    response_model=ExplanationRequestOut,
    status_code=202,
    tags=["wearable"],
    summary="Ask for the attention map of a week",
)
def request_explanation(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
    body: ExplanationRequest,
) -> ExplanationRequestOut:
    """Queue a request for the wearable service to explain one scored window.

    Attention maps are large, so the service computes them only when asked;
    the answer appears on the patient's timeline as ``wearable.attention``
    (or, when the window cannot be explained, in the dead letters with the
    reason). Clinicians and admins only; needs the patient's wearable consent
    and a window the service scored (409 otherwise).
    """
    require_patient(who, patient_id, request)
    # Inside the audit: a refused request is recorded with its status too.
    with audited(who, request, patient_id, "request:wearable.attention"):
        require_role(who, Role.admin, Role.clinician)
        end = body.window_end
        if end.tzinfo is None:
            raise Problem(400, "bad-request", "Bad request", "window_end needs a UTC offset")
        if end.second or end.microsecond:
            raise Problem(
                400,
                "bad-request",
                "Bad request",
                f"window_end must fall on a whole minute (windows end at midnight); got {end}",
            )
        if end > datetime.now(UTC) + timedelta(days=1):
            raise Problem(400, "bad-request", "Bad request", f"window_end {end} is in the future")
        if not who.context.access.allowed(patient_id, ConsentCategory.wearable):
            raise Problem(
                409,
                "no-consent",
                "No consent",
                f"{patient_id} has not consented to the use of wearable data",
            )
        record = explain_request(
            patient_id,
            end,
            head=body.head,
            requested_by=who.name,
            model_version=_scored_window_version(who, patient_id, end),
            service="api",
            source=f"api:{who.name}",
        )
        result = who.context.bus.publish(record)
    asked = record.payload
    assert isinstance(asked, WearableExplainRequest)
    return ExplanationRequestOut(
        event_id=str(record.event_id),
        window_end=asked.window_end,
        head=asked.head,
        duplicate=result.duplicate,
    )


def _latest_rows(who: Caller, patient_id: str, topics: list[str]) -> list[Any]:
    """Return the newest 2,000 rows (a result set is about 22), reading every page."""
    store = who.context.store
    rows: list[Any] = []
    after = None
    # The timeline reads oldest first; walk it and keep only a bounded tail.
    while True:
        page = store.timeline(patient_id, topics=topics, after=after, limit=1_000)
        if not page:
            return rows
        rows = [*rows, *page][-2_000:]
        after = (page[-1].observed_at, page[-1].offset)


def _genomic_results(
    who: Caller, patient_id: str, topics: list[str], *, service: str, slug: str
) -> list[Any]:
    """Return the newest rows of a genomic service's topics: 409 without consent, 404 if none."""
    if not who.context.access.allowed(patient_id, ConsentCategory.genomic):
        raise Problem(
            409,
            "no-consent",
            "No consent",
            f"{patient_id} has not consented to the use of genomic data",
        )
    rows = _latest_rows(who, patient_id, topics)
    if not rows:
        raise Problem(
            404,
            slug,
            f"No {service} results",
            f"the {service} service has published nothing for {patient_id}",
        )
    return rows


def _scored_window_version(who: Caller, patient_id: str, end: datetime) -> str:
    """Find the model version that scored the window ending at ``end``; refuse others (409)."""
    who.context.refresh()
    rows = who.context.store.timeline(
        patient_id,
        topics=["wearable.daily_risk"],
        start=end,
        end=end + timedelta(microseconds=1),
        limit=20,
    )
    if not rows:
        raise Problem(
            409,
            "no-window",
            "No such window",
            f"no 7-day window of {patient_id} ends at {end.isoformat()}; "
            "ask for a window the wearable service has scored",
        )
    scored = [r for r in rows if r.record["payload"]["risks"]]
    if not scored:
        reason = rows[-1].record["payload"].get("reason") or "not scored"
        raise Problem(
            409,
            "not-scored",
            "Window not scored",
            f"the window ending {end.isoformat()} was not scored ({reason}), "
            "so there is nothing to explain",
        )
    return str(scored[-1].record["producer"]["model_version"])


# ---------------------------------------------------------------------------- pgx


@router.get(
    "/patients/{patient_id}/pgx/report",
    tags=["pgx"],
    summary="The patient's pharmacogenomic report",
    response_class=Response,
    responses={
        200: {
            "description": "The latest PGx results: genes and CPIC guidance per drug.",
            "content": {"application/json": {}, "text/html": {}},
        },
        404: {"description": "The PGx service has no result for this patient."},
        409: {"description": "The patient has not consented to the use of genomic data."},
    },
)
def get_pgx_report(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
    format: Annotated[
        str, Query(pattern="^(json|html)$", description="'json' or 'html'.")
    ] = "json",
) -> Response:
    """Return the latest PGx report, as JSON or as a standalone HTML page.

    Diplotypes, phenotypes (genotype and with current medications), missing
    loci, and each drug's CPIC recommendation with its citation. Needs the
    patient's genomic consent (409 otherwise); 404 when the PGx service has
    published nothing for the patient.
    """
    from clarity.pgx import report_html, report_json

    require_patient(who, patient_id, request)
    who.context.refresh()
    with audited(who, request, patient_id, "read:pgx.report"):
        rows = _genomic_results(
            who, patient_id, ["pgx.phenotype", "pgx.guidance"], service="PGx", slug="no-pgx"
        )
        newest = max(rows, key=lambda r: (r.record["produced_at"], r.offset))
        # One service run publishes a patient's whole set from one set of inputs with one
        # producer; a new model version republishes the same inputs, so both must match.
        latest = [
            r
            for r in rows
            if r.record["inputs"] == newest.record["inputs"]
            and r.record["producer"] == newest.record["producer"]
        ]
        genes = {}
        drugs = []
        for row in latest:
            payload = dict(row.record["payload"])
            if row.topic == "pgx.phenotype":
                gene = PGxPhenotype.model_validate(payload)
                genes[gene.gene] = gene
            else:
                drugs.append(PGxGuidance.model_validate(payload))
        when = datetime.fromisoformat(str(newest.record["produced_at"]))
        if format == "html":
            page = report_html(patient_id, genes, drugs, generated_at=when)
            return Response(page, media_type="text/html; charset=utf-8")
        body = report_json(
            patient_id, genes, drugs, generated_at=when, producer=newest.record["producer"]
        )
        return Response(json.dumps(body), media_type="application/json")


# ---------------------------------------------------------------------------- genotype


@router.get(
    "/patients/{patient_id}/genotype",
    response_model=GenotypeRisks,
    tags=["genotype"],
    summary="The patient's genetic risk per trait",
    responses={
        404: {"description": "The genotype service has no result for this patient."},
        409: {"description": "The patient has not consented to the use of genomic data."},
    },
)
def get_genotype_risks(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str, PathParam(pattern=_PATIENT_PATH)],
) -> GenotypeRisks:
    """Return the newest ``genotype.trait_risk`` of each trait.

    Each risk carries its score (or why it was not scored), bootstrap
    interval, percentile in the reference cohort, top SNPs, the held-out
    metric of its model beside the linear score's, and the model, SNP-set and
    panel versions. Needs genomic consent (409 otherwise); 404 when the
    genotype service has published nothing for the patient.
    """
    require_patient(who, patient_id, request)
    who.context.refresh()
    with audited(who, request, patient_id, "read:genotype.trait_risk"):
        rows = _genomic_results(
            who, patient_id, ["genotype.trait_risk"], service="genotype", slug="no-genotype"
        )
        newest: dict[str, Any] = {}
        for row in rows:
            trait = row.record["payload"]["trait"]
            key = (str(row.record["produced_at"]), row.offset)
            if trait not in newest or key > newest[trait][0]:
                newest[trait] = (key, row)
        return GenotypeRisks(
            patient_id=patient_id,
            risks=[
                GenotypeRiskOut(
                    event_id=str(row.record["event_id"]),
                    observed_at=row.record["observed_at"],
                    produced_at=row.record["produced_at"],
                    producer=dict(row.record["producer"]),
                    inputs=[str(i) for i in row.record["inputs"]],
                    risk=dict(row.record["payload"]),
                )
                for _, (_, row) in sorted(newest.items())
            ],
        )


# ---------------------------------------------------------------------------- ingest and audit


@router.post(
    "/ingest", response_model=IngestReportOut, tags=["ingest"], summary="Upload files to ingest"
)
def upload(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    files: Annotated[list[UploadFile], File(description="FHIR bundles, VCF/BCF, or CSV exports.")],
    timezone: Annotated[
        str | None, Form(max_length=64, description="IANA zone of local device times.")
    ] = None,
    patient: Annotated[
        str | None, Form(max_length=64, description="Source patient id of single-patient files.")
    ] = None,
) -> IngestReportOut:
    """Ingest uploaded files with the same readers as ``clarity ingest`` (admins only)."""
    require_role(who, Role.admin)
    from clarity.errors import InputError
    from clarity.ingest import ingest_paths, plan

    context = who.context
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=context.settings.data_dir))
    try:
        paths = []
        for item in files:
            name = Path(item.filename or "upload").name or "upload"
            target = folder / name
            with target.open("wb") as out:
                shutil.copyfileobj(item.file, out)
            paths.append(target)
        try:
            targets = plan(paths, patient=patient, timezone=timezone)
        except InputError as error:
            raise Problem(
                415,
                "unsupported-media-type",
                "Unsupported file",
                str(error).replace(str(folder) + "/", ""),
            ) from None
        report = ingest_paths(
            context.bus,
            targets,
            context.pseudonymizer,
            allowed=lambda pid, topic: context.access.allowed(pid, category_of(topic)),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for file in report.files:
        for patient_id in sorted(file.patients):
            context.audit.append(
                AuditEntry(
                    who.name,
                    who.role.value,
                    patient_id,
                    "write",
                    f"POST /ingest {file.path}",
                    who.request_id,
                    "200",
                )
            )
    return IngestReportOut(
        files=[
            FileReportOut(
                path=f.path,
                format=f.format,
                accepted=f.accepted,
                already=f.already,
                rejected=f.rejected,
                skipped=f.skipped,
                by_topic=f.by_topic,
                messages=f.messages,
            )
            for f in report.files
        ],
        accepted=report.accepted,
        already=report.already,
        rejected=report.rejected,
    )


@router.get(
    "/audit", response_model=list[AuditEntryOut], tags=["audit"], summary="Read the audit log"
)
def read_audit(
    request: Request,
    who: Annotated[Caller, Depends(caller)],
    patient_id: Annotated[str | None, Query(pattern=_PATIENT_PATH)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[AuditEntryOut]:
    """Return the newest audit entries, optionally for one patient (admins only)."""
    require_role(who, Role.admin)
    with audited(who, request, patient_id, "read-audit"):
        return [
            AuditEntryOut(
                seq=e.seq or 0,
                at=e.at or datetime.min,
                actor=e.actor,
                role=e.role,
                patient_id=e.patient_id,
                action=e.action,
                resource=e.resource,
                request_id=e.request_id,
                outcome=e.outcome,
            )
            for e in who.context.audit.entries(patient_id=patient_id, limit=limit)
        ]


@router.get("/health", tags=["meta"], summary="Liveness")
def health() -> dict[str, str]:
    """Answer ``ok`` when the process serves requests (no patient data)."""
    return {"status": "ok"}

"""Timelines, pagination, ETags, problems, consent, uploads, the audit trail, and the OpenAPI document."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from clarity.api import check_openapi
from clarity.contracts import Envelope, MoodReport
from clarity.testing import example_producer, example_records
from tests.conftest import REPO


def test_timeline__pages_follow_cursors_in_time_order(shared_api):
    api = shared_api
    headers = api.as_("admin")
    patient = api.patients[0]
    seen, cursor = [], None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = api.client.get(
            f"/patients/{patient}/timeline", params=params, headers=headers
        ).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [r for r in example_records(3) if r.patient_id == patient]
    assert sorted(i["record"]["event_id"] for i in seen) == sorted(
        str(r.event_id) for r in expected
    )
    keys = [(i["observed_at"], i["offset"]) for i in seen]
    assert keys == sorted(keys)


def test_timeline__filters_by_topic_and_time_and_shortens_arrays(shared_api):
    api = shared_api
    headers = api.as_("admin")
    patient = api.patients[0]
    url = f"/patients/{patient}/timeline"
    moods = api.client.get(url, params={"topic": "ingest.mood"}, headers=headers).json()["items"]
    assert len(moods) == 3 and {i["topic"] for i in moods} == {"ingest.mood"}
    window = api.client.get(
        url,
        params={"start": "2024-01-02T00:00:00Z", "end": "2024-01-03T00:00:00Z"},
        headers=headers,
    ).json()["items"]
    assert [i["topic"] for i in window] == ["ingest.mood"]
    week = api.client.get(url, params={"topic": "ingest.actigraphy"}, headers=headers).json()[
        "items"
    ][0]
    assert week["record"]["payload"]["counts"] == {
        "length": 10080,
        "omitted": "pass arrays=true for the values",
    }
    full = api.client.get(
        url, params={"topic": "ingest.actigraphy", "arrays": "true"}, headers=headers
    ).json()["items"][0]
    assert len(full["record"]["payload"]["counts"]) == 10080


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"start": "2024-01-01T00:00:00"}, "must carry a timezone offset"),
        ({"cursor": "not-a-cursor"}, "is not one this API issued"),
        ({"topic": "ingest.moods"}, "unknown topic(s) ['ingest.moods']"),
        ({"limit": 0}, "limit"),
    ],
)
def test_timeline__bad_queries_are_problems_with_a_precise_detail(shared_api, params, detail):
    api = shared_api
    response = api.client.get(
        f"/patients/{api.patients[0]}/timeline", params=params, headers=api.as_("admin")
    )
    assert response.status_code in (400, 422)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (
        detail in body["detail"] and body["instance"].endswith("/timeline") and body["request_id"]
    )


def test_timeline__etag_answers_304_until_the_page_changes(api):
    headers = api.as_("ruth")
    url = f"/patients/{api.patients[0]}/timeline"
    first = api.client.get(url, headers=headers)
    tag = first.headers["etag"]
    again = api.client.get(url, headers=headers | {"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    api.context.bus.publish(
        Envelope.new(
            topic="ingest.mood",
            patient_id=api.patients[0],
            observed_at=datetime(2024, 1, 1, 6, tzinfo=UTC),
            source="test",
            producer=example_producer(),
            payload=MoodReport(mood=3),
        )
    )
    changed = api.client.get(url, headers=headers | {"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def test_requests__carry_a_request_id_into_the_audit(api):
    response = api.client.get(
        f"/patients/{api.patients[0]}", headers=api.as_("ruth") | {"X-Request-ID": "trace-42"}
    )
    assert response.headers["x-request-id"] == "trace-42"
    entry = api.context.audit.entries(limit=1)[0]
    assert (entry.actor, entry.role, entry.patient_id, entry.request_id, entry.outcome) == (
        "ruth",
        "clinician",
        api.patients[0],
        "trace-42",
        "200",
    )
    api.client.get(f"/patients/{api.patients[1]}", headers=api.as_("ruth"))
    denied = api.context.audit.entries(limit=1)[0]
    assert (denied.action, denied.patient_id, denied.outcome) == ("denied", api.patients[1], "404")


def test_consent__withdrawing_stops_showing_and_ingesting_that_category(api):
    patient = api.patients[2]
    as_patient = api.as_("pat")
    before = api.client.get(
        f"/patients/{patient}/timeline", params={"limit": 1000}, headers=as_patient
    ).json()
    assert "ingest.mood" in {i["topic"] for i in before["items"]} and before["withheld"] == []
    put = api.client.put(
        f"/patients/{patient}/consent/mood", json={"decision": "deny"}, headers=as_patient
    )
    assert put.status_code == 200 and put.json()["decided_by"] == "pat"
    after = api.client.get(
        f"/patients/{patient}/timeline", params={"limit": 1000}, headers=as_patient
    ).json()
    assert "ingest.mood" not in {i["topic"] for i in after["items"]} and after["withheld"] == [
        "mood"
    ]
    detail = api.client.get(f"/patients/{patient}", headers=as_patient).json()
    assert not any(k.startswith("mood.") for k in detail["features"])
    consent = {
        c["category"]: c
        for c in api.client.get(f"/patients/{patient}/consent", headers=as_patient).json()
    }
    assert (
        consent["mood"]["decision"] == "deny"
        and consent["mood"]["explicit"]
        and not consent["notes"]["explicit"]
    )
    assert api.context.audit.entries(limit=10)[-1].seq  # audited
    assert any(
        e.action == "consent:mood:deny" for e in api.context.audit.entries(patient_id=patient)
    )
    denied = api.client.put(
        f"/patients/{api.patients[0]}/consent/mood", json={"decision": "deny"}, headers=as_patient
    )
    assert denied.status_code == 404
    clinician = api.client.put(
        f"/patients/{api.patients[0]}/consent/mood",
        json={"decision": "deny"},
        headers=api.as_("ruth"),
    )
    assert clinician.status_code == 403


def _bundle(tmp_path):
    note = base64.b64encode(b"Seen today. Denies SI.").decode()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "UP-1",
                    "gender": "male",
                    "birthDate": "1990-01-01",
                }
            },
            {
                "resource": {
                    "resourceType": "DocumentReference",
                    "id": "d1",
                    "status": "current",
                    "subject": {"reference": "Patient/UP-1"},
                    "date": "2025-01-01T10:00:00Z",
                    "content": [{"attachment": {"contentType": "text/plain", "data": note}}],
                }
            },
        ],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return path


def test_ingest__uploads_use_the_readers_and_respect_consent(api, tmp_path):
    headers = api.as_("admin")
    path = _bundle(tmp_path)
    pseudonym = api.context.pseudonymizer("UP-1")
    api.context.access.set_consent(pseudonym, "notes", "deny", by="admin")
    response = api.client.post(
        "/ingest", files=[("files", (path.name, path.read_bytes()))], headers=headers
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (1, 1)
    assert "has not consented" in report["files"][0]["messages"][0]
    letters = [d.record for d in api.context.bus.subscribe_dead_letters(group="t").poll()]
    assert letters[0].original == b"(withheld: no consent)"
    assert any(
        e.action == "write" and e.patient_id == pseudonym for e in api.context.audit.entries()
    )
    unknown = api.client.post(
        "/ingest", files=[("files", ("notes.docx", b"PK\x03\x04"))], headers=headers
    )
    assert unknown.status_code == 415 and "Cannot tell the format" in unknown.json()["detail"]


def test_audit__verify_detects_edits_deletions_reordering_and_truncation(api, tmp_path):
    for _ in range(4):
        api.client.get(f"/patients/{api.patients[0]}", headers=api.as_("ruth"))
    data = ["--data-dir", str(api.data_dir)]

    def verify():
        env = {**__import__("os").environ, "COLUMNS": "300"}
        return subprocess.run(
            [sys.executable, "-m", "clarity", *data, "audit", "verify"],
            capture_output=True,
            text=True,
            env=env,
        )

    assert verify().returncode == 0
    db = api.data_dir / "audit.sqlite3"
    api.context.audit.close()  # checkpoints the WAL into the file
    pristine = db.read_bytes(), (api.data_dir / "audit.sqlite3.head").read_text()

    def tamper(sql):
        db.write_bytes(pristine[0])
        (api.data_dir / "audit.sqlite3.head").write_text(pristine[1])
        for extra in ("-wal", "-shm"):
            (api.data_dir / f"audit.sqlite3{extra}").unlink(missing_ok=True)
        conn = sqlite3.connect(db)
        conn.executescript(
            "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete;" + sql
        )
        conn.commit()
        conn.close()
        return verify()

    edited = tamper("UPDATE audit SET actor = 'mallory' WHERE seq = 3;")
    assert edited.returncode == 1 and "entry 3: its content was changed" in edited.stderr
    deleted = tamper("DELETE FROM audit WHERE seq = 2;")
    assert deleted.returncode == 1 and "entry 2: missing or out of order" in deleted.stderr
    swapped = tamper(
        "UPDATE audit SET seq = -1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = -1;"
    )
    assert swapped.returncode == 1 and "does not follow the previous entry's hash" in swapped.stderr
    last = int(pristine[1].split()[0])
    truncated = tamper(f"DELETE FROM audit WHERE seq = {last};")
    assert truncated.returncode == 1 and "removed from the end" in truncated.stderr


def test_openapi__the_checked_in_document_matches_the_api(shared_api):
    assert check_openapi(shared_api.client.app, REPO / "openapi.json"), (
        "run `clarity api openapi` and commit"
    )
    document = json.loads((REPO / "openapi.json").read_text())
    assert "/patients/{patient_id}/timeline" in document["paths"]
    assert document["components"]["securitySchemes"]["OAuth2PasswordBearer"]["type"] == "oauth2"


def test_health__needs_no_token(shared_api):
    assert shared_api.client.get("/health").json() == {"status": "ok"}
    assert datetime.now(UTC) - timedelta(days=1) < datetime.now(UTC)


def test_audit__lists_and_exports_record_each_patient_read(api):
    api.client.get("/patients", headers=api.as_("admin"))
    listed = {
        e.patient_id
        for e in api.context.audit.entries(limit=10)
        if e.resource == "GET /patients (list)"
    }
    assert listed == set(api.patients)
    api.client.get("/cohort/features/phq9.total", headers=api.as_("rita"))
    exported = {
        e.patient_id
        for e in api.context.audit.entries(limit=10)
        if e.actor == "rita" and e.action == "read"
    }
    assert exported == set(api.patients)
    assert api.context.audit.verify() == []


def test_wearable_explanations__queue_a_request_on_the_bus_for_clinicians(api):
    patient = api.patients[0]
    end = "2024-01-08T00:00:00+00:00"
    url = f"/patients/{patient}/wearable/explanations"
    first = api.client.post(url, json={"window_end": end}, headers=api.as_("ruth"))
    assert first.status_code == 202, first.text
    assert first.json()["head"] == "depression" and not first.json()["duplicate"]
    again = api.client.post(url, json={"window_end": end}, headers=api.as_("ruth"))
    assert again.json()["duplicate"] and again.json()["event_id"] == first.json()["event_id"]
    queued = [
        d.record
        for d in api.context.bus.replay("wearable.explain_request")
        if str(d.record.event_id) == first.json()["event_id"]
    ]
    assert queued[0].payload.requested_by == "ruth" and queued[0].patient_id == patient
    assert any(
        e.action == "request:wearable.attention" and e.actor == "ruth"
        for e in api.context.audit.entries(patient_id=patient)
    )
    # Not their patient: as if it did not exist. A patient may not ask; nor without consent.
    assert (
        api.client.post(url, json={"window_end": end}, headers=api.as_("olav")).status_code == 404
    )
    own = f"/patients/{api.patients[2]}/wearable/explanations"
    assert api.client.post(own, json={"window_end": end}, headers=api.as_("pat")).status_code == 403
    api.client.put(
        f"/patients/{api.patients[2]}/consent/wearable",
        json={"decision": "deny"},
        headers=api.as_("pat"),
    )
    refused = api.client.post(own, json={"window_end": end}, headers=api.as_("admin"))
    assert refused.status_code == 409 and "not consented" in refused.json()["detail"]
    outcomes = {
        (e.actor, e.outcome)
        for e in api.context.audit.entries(patient_id=api.patients[2])
        if e.action == "request:wearable.attention"
    }
    assert {("pat", "403"), ("admin", "409")} <= outcomes  # refusals are audited too
    never = api.client.post(
        url, json={"window_end": "2024-01-09T00:00:00+00:00"}, headers=api.as_("ruth")
    )
    assert never.status_code == 409 and "no 7-day window" in never.json()["detail"]
    for odd, why in (
        ("2024-01-08T00:00:30+00:00", "whole minute"),
        ("2999-01-01T00:00:00Z", "future"),
    ):
        answer = api.client.post(url, json={"window_end": odd}, headers=api.as_("ruth"))
        assert answer.status_code == 400 and why in answer.json()["detail"]
    naive = api.client.post(
        url, json={"window_end": "2024-01-08T00:00:00"}, headers=api.as_("ruth")
    )
    assert naive.status_code == 400 and "offset" in naive.json()["detail"]
    bad = api.client.post(url, json={"window_end": end, "head": "Bad!"}, headers=api.as_("ruth"))
    assert bad.status_code == 422


def test_pgx_report__json_and_html_for_the_clinician_and_audited(api):
    patient = api.patients[0]
    ruth = api.as_("ruth")
    report = api.client.get(f"/patients/{patient}/pgx/report", headers=ruth)
    assert report.status_code == 200
    body = report.json()
    assert [g["gene"] for g in body["genes"]] == ["CYP2C19"]
    [drug] = body["drugs"]
    assert drug["drug"] == "escitalopram" and drug["citations"][0].startswith("PMID 37032427")
    page = api.client.get(f"/patients/{patient}/pgx/report?format=html", headers=ruth)
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Pharmacogenomic report</h1>" in page.text and "escitalopram" in page.text
    assert any(
        e.action == "read:pgx.report" and e.actor == "ruth"
        for e in api.context.audit.entries(patient_id=patient)
    )
    # Another clinician's patient stays hidden; a bad format is refused.
    assert api.client.get(f"/patients/{api.patients[1]}/pgx/report", headers=ruth).status_code in (
        403,
        404,
    )
    bad = api.client.get(f"/patients/{patient}/pgx/report?format=pdf", headers=ruth)
    assert bad.status_code == 422


def test_pgx_report__needs_genomic_consent_and_results(api):
    patient = api.patients[2]
    as_patient = api.as_("pat")
    assert api.client.get(f"/patients/{patient}/pgx/report", headers=as_patient).status_code == 200
    api.client.put(
        f"/patients/{patient}/consent/genomic", json={"decision": "deny"}, headers=as_patient
    )
    refused = api.client.get(f"/patients/{patient}/pgx/report", headers=as_patient)
    assert refused.status_code == 409 and "genomic" in refused.json()["detail"]


def test_pgx_report__404_when_the_service_has_published_nothing(tmp_path):
    from fastapi.testclient import TestClient

    from clarity.api import create_app
    from clarity.api._context import ApiContext
    from clarity.config import Settings
    from clarity.testing import example_patient_records
    from tests.api.conftest import PASSWORD

    context = ApiContext.open(Settings.load(data_dir=tmp_path), refresh_seconds=0)
    try:
        records = [r for r in example_patient_records(0) if not r.topic.startswith("pgx.")]
        context.bus.publish_batch(records)
        context.access.add_user("admin", "admin", password=PASSWORD)
        client = TestClient(create_app(context))
        token = client.post("/auth/token", data={"username": "admin", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        missing = client.get(f"/patients/{records[0].patient_id}/pgx/report", headers=headers)
        assert missing.status_code == 404 and missing.json()["title"] == "No PGx results"
    finally:
        context.close()


def test_genotype_risks__newest_per_trait_for_the_clinician_and_audited(api):
    from clarity.contracts import Envelope, GenotypeTraitRisk

    patient = api.patients[0]
    ruth = api.as_("ruth")
    got = api.client.get(f"/patients/{patient}/genotype", headers=ruth)
    assert got.status_code == 200, got.text
    [first] = got.json()["risks"]
    assert first["risk"]["trait"] == "depression_liability" and first["risk"]["top_snps"]
    assert first["producer"]["model_name"] == "examples" and first["inputs"] == []
    assert any(
        e.action == "read:genotype.trait_risk" and e.actor == "ruth"
        for e in api.context.audit.entries(patient_id=patient)
    )
    # A refreshed model republishes: the newest record of the trait is the one shown.
    api.context.refresh()
    old = next(
        r.record
        for r in api.context.store.timeline(patient, topics=["genotype.trait_risk"], limit=5)
    )
    payload = GenotypeTraitRisk.model_validate(
        {**old["payload"], "score": 0.5, "interval_lower": 0.4, "interval_upper": 0.6}
    )
    newer = Envelope.model_validate(old).model_copy(
        update={"event_id": uuid.uuid4(), "payload": payload}
    )
    newer = newer.model_copy(update={"produced_at": newer.produced_at.replace(year=2099)})
    api.context.bus.publish_batch([newer])
    [shown] = api.client.get(f"/patients/{patient}/genotype", headers=ruth).json()["risks"]
    assert shown["risk"]["score"] == 0.5 and shown["event_id"] == str(newer.event_id)
    # Another clinician's patient stays hidden.
    hidden = api.client.get(f"/patients/{api.patients[1]}/genotype", headers=ruth)
    assert hidden.status_code in (403, 404)


def test_genotype_risks__need_genomic_consent_and_results(api, tmp_path):
    patient = api.patients[2]
    as_patient = api.as_("pat")
    assert api.client.get(f"/patients/{patient}/genotype", headers=as_patient).status_code == 200
    api.client.put(
        f"/patients/{patient}/consent/genomic", json={"decision": "deny"}, headers=as_patient
    )
    refused = api.client.get(f"/patients/{patient}/genotype", headers=as_patient)
    assert refused.status_code == 409 and "genomic" in refused.json()["detail"]
    # Without consent the store's genotype features are withheld too.
    detail = api.client.get(f"/patients/{patient}", headers=as_patient).json()
    assert not any(k.startswith("genotype.") for k in detail["features"])
    assert "genomic" in detail["withheld"]
    admin = api.as_("admin")
    nobody = api.client.get("/patients/p-nobody-here/genotype", headers=admin)
    assert nobody.status_code == 404

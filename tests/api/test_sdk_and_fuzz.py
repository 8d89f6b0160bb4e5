"""The SDK against a real server on loopback; schemathesis and injection attempts against the API."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings

from clarity.sdk import ApiError, ClarityClient
from clarity.testing import example_records
from tests.api.conftest import PASSWORD, build


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    api = build(tmp_path_factory.mktemp("sdk"))
    port = _free_port()
    config = uvicorn.Config(api.client.app, host="127.0.0.1", port=port, log_level="error")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield api, f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)
    api.context.close()


def test_sdk__end_to_end_over_http(server, tmp_path):
    api, url = server
    with ClarityClient.sign_in(url, "ruth", PASSWORD) as client:
        assert client.me().role == "clinician"
        assert [p.patient_id for p in client.patients(page_size=1)] == [api.patients[0]]
        items = list(client.timeline(api.patients[0], page_size=3))
        assert len(items) == sum(1 for r in example_records(3) if r.patient_id == api.patients[0])
        page, tag = client.timeline_page(api.patients[0], limit=5)
        assert page is not None and tag
        assert client.timeline_page(api.patients[0], limit=5, etag=tag) == (None, tag)
        history = client.feature_history(api.patients[0], "phq9.total")
        assert [h.value for h in history] == sorted((h.value for h in history), key=lambda _: 0)
        assert len(history) == 2
        with pytest.raises(ApiError) as info:
            client.patient(api.patients[1])
        assert info.value.status == 404 and info.value.problem["type"].endswith("/not-found")
    with ClarityClient.sign_in(url, "admin", PASSWORD) as admin:
        csv = tmp_path / "mood.csv"
        csv.write_text("participant_id,date,mood\nSDK-1,2025-01-01,5\n")
        report = admin.ingest([csv])
        assert report.accepted == 1
        assert admin.audit(limit=5)[0].actor == "admin"
        assert admin.set_consent(api.patients[0], "research", "deny").decision == "deny"
    with ClarityClient.sign_in(url, "rita", PASSWORD) as researcher:
        ids = {v.patient_id for v in researcher.cohort_feature("phq9.total")}
        assert api.patients[0] not in ids and api.patients[1] in ids
    with pytest.raises(ApiError, match="401"):
        ClarityClient.sign_in(url, "ruth", "not the password")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    api = build(tmp_path_factory.mktemp("fuzz"))
    yield api
    api.context.close()


def _schema(api):
    return schemathesis.openapi.from_asgi("/openapi.json", api.client.app)


@pytest.mark.parametrize("user", ["admin", "ruth", "rita"])
def test_api__generated_requests_never_cause_a_server_error(fuzzed, user):
    schema = _schema(fuzzed)
    headers = fuzzed.as_(user)
    failures = []
    for operation in schema.get_all_operations():
        operation = operation.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def run(case):
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    (case.method, case.formatted_path, response.status_code, response.text[:200])
                )

        run()
    assert failures == []


INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE audit; --",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "%00",
    'p-x"}]}',
    "{{7*7}}",
    "a" * 5000,
]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_api__injection_attempts_in_every_string_parameter_are_refused_cleanly(fuzzed, payload):
    api = fuzzed
    headers = api.as_("admin")
    patient = api.patients[0]
    before = api.context.audit.entries(limit=1)[0].seq
    attempts = [
        ("GET", f"/patients/{payload}", {}),
        ("GET", f"/patients/{patient}/timeline", {"params": {"topic": payload}}),
        ("GET", f"/patients/{patient}/timeline", {"params": {"cursor": payload}}),
        ("GET", f"/patients/{patient}/timeline", {"params": {"start": payload}}),
        ("GET", f"/patients/{patient}/features/{payload}", {}),
        ("GET", f"/cohort/features/{payload}", {}),
        ("GET", "/patients", {"params": {"cursor": payload}}),
        ("GET", "/audit", {"params": {"patient_id": payload}}),
        ("PUT", f"/patients/{patient}/consent/{payload}", {"json": {"decision": "deny"}}),
        ("PUT", f"/patients/{patient}/consent/mood", {"json": {"decision": payload}}),
        ("POST", "/auth/token", {"data": {"username": payload, "password": payload}}),
    ]
    for method, path, kwargs in attempts:
        response = api.client.request(method, path, headers=headers, **kwargs)
        assert 400 <= response.status_code < 500, (
            method,
            path,
            response.status_code,
            response.text[:200],
        )
        assert response.headers["content-type"] == "application/problem+json"
    assert (
        len(api.client.get("/patients", headers=headers).json()["items"]) == 3
    )  # nothing was dropped
    assert api.context.audit.verify() == [] and api.context.audit.entries(limit=1)[0].seq > before

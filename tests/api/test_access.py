"""Each role sees exactly what it should: 403 for the wrong role, 404 for the wrong patient."""

from __future__ import annotations

import time

import jwt
import pytest

from tests.api.conftest import PASSWORD


def _ids(response):
    return [p["patient_id"] for p in response.json()["items"]]


def test_patients__each_role_lists_exactly_its_patients(shared_api):
    api = shared_api
    assert _ids(api.client.get("/patients", headers=api.as_("admin"))) == api.patients
    assert _ids(api.client.get("/patients", headers=api.as_("ruth"))) == [api.patients[0]]
    assert _ids(api.client.get("/patients", headers=api.as_("olav"))) == [api.patients[1]]
    assert _ids(api.client.get("/patients", headers=api.as_("pat"))) == [api.patients[2]]
    refused = api.client.get("/patients", headers=api.as_("rita"))
    assert (
        refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    )


@pytest.mark.parametrize(
    ("user", "index", "status"),
    [
        ("admin", 0, 200),
        ("admin", 1, 200),
        ("admin", 2, 200),
        ("ruth", 0, 200),
        ("ruth", 1, 404),
        ("ruth", 2, 404),
        ("olav", 0, 404),
        ("olav", 1, 200),
        ("pat", 2, 200),
        ("pat", 0, 404),
        ("rita", 0, 403),
        ("rita", 2, 403),
    ],
)
@pytest.mark.parametrize("suffix", ["", "/timeline", "/features/phq9.total", "/consent"])
def test_patient_endpoints__access_matrix(shared_api, user, index, status, suffix):
    api = shared_api
    response = api.client.get(f"/patients/{api.patients[index]}{suffix}", headers=api.as_(user))
    assert response.status_code == status, response.text


def test_patient__a_patient_you_may_not_see_looks_like_one_that_does_not_exist(shared_api):
    api = shared_api
    headers = api.as_("ruth")
    hidden = api.client.get(f"/patients/{api.patients[1]}", headers=headers).json()
    missing = api.client.get("/patients/EX999-9999", headers=headers).json()
    for body, pid in ((hidden, api.patients[1]), (missing, "EX999-9999")):
        body.pop("request_id")
        body["detail"] = body["detail"].replace(pid, "X")
        body["instance"] = body["instance"].replace(pid, "X")
    assert hidden == missing


@pytest.mark.parametrize(
    ("method", "path", "user", "status"),
    [
        ("GET", "/cohort/features/phq9.total", "rita", 200),
        ("GET", "/cohort/features/phq9.total", "admin", 200),
        ("GET", "/cohort/features/phq9.total", "ruth", 403),
        ("GET", "/cohort/features/phq9.total", "pat", 403),
        ("GET", "/audit", "admin", 200),
        ("GET", "/audit", "ruth", 403),
        ("GET", "/audit", "rita", 403),
        ("POST", "/ingest", "ruth", 403),
        ("POST", "/ingest", "rita", 403),
    ],
)
def test_role_endpoints__deny_by_default(shared_api, method, path, user, status):
    api = shared_api
    kwargs = {"files": [("files", ("x.csv", b"a,b\n"))]} if method == "POST" else {}
    response = api.client.request(method, path, headers=api.as_(user), **kwargs)
    assert response.status_code == status, response.text


def test_cohort__pseudonymised_numbers_only(shared_api):
    api = shared_api
    values = api.client.get("/cohort/features/phq9.total", headers=api.as_("rita")).json()
    assert {v["patient_id"] for v in values} == set(api.patients)
    assert set(values[0]) == {"patient_id", "feature", "value", "observed_at"}
    assert api.client.get("/cohort/features/demographics.sex", headers=api.as_("rita")).json() == []


def test_auth__missing_forged_expired_and_stale_tokens_are_refused(api):
    client = api.client
    missing = client.get("/patients")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    forged = jwt.encode(
        {
            "sub": "admin",
            "clarity_role": "admin",
            "iss": "clarity-local",
            "aud": "clarity",
            "exp": time.time() + 60,
        },
        "a guessed key that is long enough!",
        algorithm="HS256",
    )
    assert client.get("/patients", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    user = api.context.access.user("ruth")
    expired = api.context.tokens.issue(user, minutes=1)
    payload = jwt.decode(expired, options={"verify_signature": False})
    payload["exp"] = time.time() - 10
    stale = jwt.encode(payload, api.context.tokens._secret, algorithm="HS256")
    assert (
        "expired"
        in client.get("/patients", headers={"Authorization": f"Bearer {stale}"}).json()["detail"]
    )
    token = api.token("ruth")
    api.context.access.add_user("ruth", "researcher", password=PASSWORD)
    assert (
        "role changed"
        in client.get("/patients", headers={"Authorization": f"Bearer {token}"}).json()["detail"]
    )
    api.context.access.deactivate("ruth")
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    bad = client.post("/auth/token", data={"username": "olav", "password": "wrong password!!"})
    assert bad.status_code == 401 and bad.json()["title"] == "Invalid credentials"


def test_auth__tokens_from_an_oidc_issuer_are_accepted(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa
    from fastapi.testclient import TestClient

    from clarity.api import ApiContext, create_app
    from clarity.config import Settings

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True) | {
        "kid": "k1",
        "use": "sig",
        "alg": "RS256",
    }
    jwks = tmp_path / "jwks.json"
    jwks.write_text(__import__("json").dumps({"keys": [jwk]}))
    settings = Settings.load(
        data_dir=tmp_path / "data",
        security={"oidc_issuer": "https://idp.example", "oidc_jwks_file": str(jwks)},
    )
    context = ApiContext.open(settings, refresh_seconds=0)
    client = TestClient(create_app(context))
    token = jwt.encode(
        {
            "sub": "dr.who",
            "roles": ["clarity:clinician"],
            "iss": "https://idp.example",
            "aud": "clarity",
            "exp": time.time() + 60,
        },
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json() == {
        "username": "dr.who",
        "role": "clinician",
        "patient_id": None,
    }
    other = jwt.encode(
        {
            "sub": "x",
            "roles": ["clarity:admin"],
            "iss": "https://evil.example",
            "aud": "clarity",
            "exp": time.time() + 60,
        },
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    assert client.get("/me", headers={"Authorization": f"Bearer {other}"}).status_code == 401
    context.close()

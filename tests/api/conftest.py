from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from clarity.api import ApiContext, create_app
from clarity.config import Settings
from clarity.testing import example_records

PASSWORD = "a long test passphrase"


@dataclass
class Api:
    client: TestClient
    context: ApiContext
    patients: list[str]
    data_dir: Path

    def token(self, username: str) -> str:
        response = self.client.post(
            "/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def as_(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}


def build(data_dir: Path) -> Api:
    context = ApiContext.open(Settings.load(data_dir=data_dir), refresh_seconds=0)
    records = example_records(n_patients=3)
    context.bus.publish_batch(records)
    patients = sorted({r.patient_id for r in records})
    access = context.access
    access.add_user("admin", "admin", password=PASSWORD)
    access.add_user("ruth", "clinician", password=PASSWORD)
    access.add_user("olav", "clinician", password=PASSWORD)
    access.add_user("pat", "patient", password=PASSWORD, patient_id=patients[2])
    access.add_user("rita", "researcher", password=PASSWORD)
    access.assign("ruth", patients[0])
    access.assign("olav", patients[1])
    return Api(TestClient(create_app(context)), context, patients, data_dir)


@pytest.fixture
def api(tmp_path):
    instance = build(tmp_path)
    yield instance
    instance.context.close()


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory):
    """A read-only API shared by a module's tests (nothing may change it)."""
    instance = build(tmp_path_factory.mktemp("api"))
    yield instance
    instance.context.close()

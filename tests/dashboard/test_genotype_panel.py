"""The genotype panel, built against the API without a browser."""

from __future__ import annotations

import uuid
from pathlib import Path

from clarity.dashboard._genotype import _ordinal, genotype_panel
from clarity.sdk import ClarityClient
from tests.api.conftest import build
from tests.dashboard.test_pgx_panel import _text


def test_genotype_panel__shows_score_interval_percentile_model_and_snps(tmp_path: Path):
    api = build(tmp_path)
    try:
        client = ClarityClient(
            "http://testserver", token=api.token("ruth"), transport=api.client._transport
        )
        patient = api.patients[0]
        panel = genotype_panel(client, patient)
        assert panel is not None and panel.id == "panel-genotype"
        text = _text(panel)
        risk = client.genotype_risks(patient).risks[0].risk
        assert "depression_liability" in text
        assert f"{risk['score']:.1%}" in text
        assert f"{_ordinal(round(risk['percentile']))} of 500" in text
        assert "held-out AUC 0.71 (linear score 0.69)" in text
        top = risk["top_snps"][0]
        assert top["variant_id"] in text and f"{top['contribution']:+.3f}" in text
        assert "Research-grade" in text
        # Without genomic consent the panel is not built at all.
        api.client.put(
            f"/patients/{patient}/consent/genomic",
            json={"decision": "deny"},
            headers=api.as_("admin"),
        )
        assert genotype_panel(client, patient) is None
    finally:
        api.context.close()


def test_genotype_panel__an_unscored_trait_says_why(tmp_path: Path):
    from clarity.contracts import Envelope

    api = build(tmp_path)
    try:
        patient = api.patients[0]
        api.context.refresh()
        old = next(
            r.record
            for r in api.context.store.timeline(patient, topics=["genotype.trait_risk"], limit=5)
        )
        payload = {
            **old["payload"],
            "trait": "dominance",
            "binary": False,
            "score": None,
            "interval_lower": None,
            "interval_upper": None,
            "percentile": None,
            "top_snps": [],
            "snps_missing": 120,
            "reason": "the call set lacks 120 of the model's 120 variants",
        }
        record = Envelope.model_validate({**old, "event_id": str(uuid.uuid4()), "payload": payload})
        api.context.bus.publish_batch([record])
        client = ClarityClient(
            "http://testserver", token=api.token("ruth"), transport=api.client._transport
        )
        text = _text(genotype_panel(client, patient))
        assert "Not scored: the call set lacks 120 of the model's 120 variants" in text
    finally:
        api.context.close()


def test_ordinal__english_suffixes():
    assert [_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 100, 101)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "100th",
        "101st",
    ]

"""The PGx panel, built against the API without a browser."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from clarity.dashboard._pgx import pgx_panel
from clarity.sdk import ClarityClient
from tests.api.conftest import build


def _text(component: object) -> str:
    children = getattr(component, "children", None)
    if children is None:
        return "" if component is None else str(component)
    if isinstance(children, list | tuple):
        return " ".join(_text(c) for c in children)
    return _text(children)


def test_pgx_panel__shows_the_call_and_the_cited_recommendation(tmp_path: Path):
    api = build(tmp_path)
    try:
        client = ClarityClient(
            "http://testserver", token=api.token("ruth"), transport=api.client._transport
        )
        panel = pgx_panel(client, api.patients[0])
        assert panel is not None
        text = _text(panel)
        assert "CYP2C19" in text and "escitalopram" in text and "PMID 37032427" in text
        assert "research-grade" in text
    finally:
        api.context.close()


def test_pgx_panel__shows_each_population_and_only_the_newest_producer(tmp_path: Path):
    from clarity.contracts import (
        Envelope,
        GuidanceAction,
        GuidanceRecommendation,
        GuidanceStatus,
        PGxGuidance,
        Producer,
    )

    api = build(tmp_path)
    try:
        patient = api.patients[0]
        api.context.refresh()
        old = next(
            r.record for r in api.context.store.timeline(patient, topics=["pgx.guidance"], limit=10)
        )
        payload = PGxGuidance(
            drug="atomoxetine",
            genes=("CYP2D6",),
            phenotypes={"CYP2D6": "Poor Metabolizer"},
            phenoconverted=False,
            status=GuidanceStatus.complete,
            recommendations=(
                GuidanceRecommendation(population="adults", action=GuidanceAction.standard_dose),
                GuidanceRecommendation(
                    population="pediatrics", action=GuidanceAction.reduce_starting_dose
                ),
            ),
            guideline="CPIC atomoxetine (2019)",
            guidance_version="test",
        )
        newer = Producer(
            service="pgx", model_name="pgx.response", model_version="2", code_version="0"
        )
        for drug_payload in (payload, old["payload"] | {}):
            api.context.bus.publish(
                Envelope.new(
                    topic="pgx.guidance",
                    patient_id=patient,
                    observed_at=datetime.fromisoformat(old["observed_at"]),
                    source="test",
                    producer=newer,
                    inputs=[uuid.UUID(i) for i in old["inputs"]],
                    payload=drug_payload,
                )
            )
        api.context.refresh()
        client = ClarityClient(
            "http://testserver", token=api.token("ruth"), transport=api.client._transport
        )
        text = _text(pgx_panel(client, patient))
        assert "adults: Standard dose" in text and "pediatrics: Reduce starting dose" in text
        report = client.pgx_report(patient)
        drugs = [d["drug"] for d in report["drugs"]]
        assert sorted(drugs) == ["atomoxetine", "escitalopram"]  # each once: newest producer
    finally:
        api.context.close()

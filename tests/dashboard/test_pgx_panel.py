"""The PGx panel, built against the API without a browser."""

from __future__ import annotations

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

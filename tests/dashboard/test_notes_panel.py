"""The notes panel, built against the API without a browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dash

from clarity.dashboard._notes import notes_panel, source_view
from clarity.sdk import ClarityClient
from tests.api.conftest import build


def _text(component: object) -> str:
    children = getattr(component, "children", None)
    if children is None:
        return "" if component is None else str(component)
    if isinstance(children, list | tuple):
        return " ".join(_text(c) for c in children)
    return _text(children)


def _find(component: Any, kind: str) -> list[Any]:
    found = [component] if type(component).__name__ == kind else []
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        for child in children:
            found += _find(child, kind)
    elif children is not None and not isinstance(children, str):
        found += _find(children, kind)
    return found


def test_notes_panel__every_sentence_has_a_citation_that_opens_its_redacted_source(
    tmp_path: Path,
):
    api = build(tmp_path)
    try:
        client = ClarityClient(
            "http://testserver", token=api.token("ruth"), transport=api.client._transport
        )
        panel = notes_panel(client, api.patients[0])
        assert panel is not None
        text = _text(panel)
        assert "Start " in text and "extractive" in text
        buttons = _find(panel, "Button")
        assert buttons and all(not b.disabled for b in buttons)
        [store] = _find(panel, "Store")
        citations = store.data
        assert len(citations) == len(buttons)
        first = citations[0]
        # The cited span of the redacted note is exactly what the sentence says.
        assert first["text"][first["start"] : first["end"]].startswith("Start ")
        view = source_view(first)
        [mark] = _find(view, "Mark")
        assert mark.children == first["text"][first["start"] : first["end"]]
    finally:
        api.context.close()


def test_source_view__asks_for_a_click_before_any_citation():
    assert "Click a citation" in _text(source_view(None))


def test_dashboard__registers_the_citation_callback():
    from clarity.dashboard import create_dashboard

    app = create_dashboard("http://127.0.0.1:1")
    assert isinstance(app, dash.Dash)
    outputs = " ".join(app.callback_map)
    assert "notes-source.children" in outputs

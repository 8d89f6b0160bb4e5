"""The notes panel of a patient's page: the latest summary, every citation clickable.

Each sentence ends with its citations; clicking one shows the cited note's
redacted text beside the summary with the cited span marked, so a clinician
checks a sentence against its source in one click. The panel also says how
many sentences the fact check removed and which backend wrote the draft.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
from dash import ALL, Input, Output, State, dcc, html

from clarity.sdk import ApiError, ClarityClient

__all__ = ["notes_panel", "register_notes_callbacks", "source_view"]

_EMPTY_SOURCE = "Click a citation to see the sentence's source, redacted, with the span marked."


def _sources(api: ClarityClient, patient_id: str, note_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Return the newest redacted text of each cited note, with the note's date."""
    found: dict[str, dict[str, Any]] = {}
    for item in api.timeline(patient_id, topics=["notes.phi_report"]):
        payload = item.record["payload"]
        if payload["note_id"] in note_ids:
            found[payload["note_id"]] = {
                "date": item.observed_at.date().isoformat(),
                "text": payload["redacted_text"],
            }
    return found


def source_view(source: dict[str, Any] | None) -> Any:
    """Render one citation: the redacted note with the cited span marked."""
    if not source:
        return html.P(_EMPTY_SOURCE, className="empty")
    text, start, end = source["text"], source["start"], source["end"]
    return html.Div(
        [
            html.H4(f"Note {source['note_id']} — {source['date']} (redacted)"),
            html.Pre(
                [text[:start], html.Mark(text[start:end], id="notes-source-span"), text[end:]],
                className="note-source",
            ),
        ]
    )


def notes_panel(api: ClarityClient, patient_id: str) -> Any | None:
    """Return the notes-summary panel, or None when no summary exists yet."""
    summaries = list(api.timeline(patient_id, topics=["notes.summary"]))
    if not summaries:
        return None
    latest = summaries[-1]
    payload = latest.record["payload"]
    producer = latest.record["producer"]
    cited = {c["note_id"] for s in payload["sentences"] for c in s["citations"]}
    try:
        sources = _sources(api, patient_id, cited)
    except ApiError:
        sources = {}
    citations: list[dict[str, Any]] = []
    body: list[Any] = []
    heading = None
    items: list[Any] = []
    for sentence in payload["sentences"]:
        if sentence["section"] != heading:
            if items:
                body.append(html.Ul(items))
            heading, items = sentence["section"], []
            body.append(html.H4(heading))
        chips = []
        for c in sentence["citations"]:
            source = sources.get(c["note_id"])
            index = len(citations)
            citations.append(
                {
                    "note_id": c["note_id"],
                    "start": c["start"],
                    "end": c["end"],
                    "date": source["date"] if source else "",
                    "text": source["text"] if source else "",
                }
            )
            chips.append(
                html.Button(
                    f"[{index + 1}]",
                    id={"type": "notes-citation", "index": index},
                    className="citation",
                    title=f"Show the source: note {c['note_id']}"
                    + (f" of {source['date']}" if source else " (not available)"),
                    n_clicks=0,
                    disabled=source is None,
                )
            )
        items.append(html.Li([sentence["text"], " ", *chips], className="summary-sentence"))
    if items:
        body.append(html.Ul(items))
    removed = payload["dropped"]
    facts = [
        f"{len(payload['note_ids'])} notes, "
        f"{payload['since'] or 'all'} to {payload['until']}; drafted by {payload['backend']} "
        f"({payload['model_version']}), fact check {payload['fact_check_version']}.",
        f" {removed} of {payload['drafted']} drafted sentences removed as unsupported."
        if removed
        else " Every drafted sentence is supported by its source.",
    ]
    if payload.get("injections"):
        facts.append(
            f" {payload['injections']} sentences in the notes addressed a language model; "
            "they were neither shown to the model nor summarised."
        )
    if payload["added_risk"]:
        facts.append(f" {payload['added_risk']} crisis sentences the draft left out were put back.")
    return html.Section(
        [
            html.H3("Notes summary"),
            html.P(facts, className="provenance"),
            html.Div(
                [
                    html.Div(body or [html.P("No supported sentence.", className="empty")]),
                    html.Div(source_view(None), id="notes-source", className="note-source-pane"),
                ],
                className="columns",
            ),
            dcc.Store(id="notes-citations", data=citations),
            html.Small(
                f"Computed {producer.get('service')}/{producer.get('model_name')} "
                f"{producer.get('model_version')} at {latest.record.get('produced_at', '')}."
            ),
        ],
        className="panel",
        id="panel-notes-summary",
        title="Notes summary",
    )


def register_notes_callbacks(
    app: dash.Dash, client: Callable[[], ClarityClient | None] | None = None
) -> None:
    """Show a citation's source when it is clicked (no API call: the panel holds it)."""

    @app.callback(
        Output("notes-source", "children"),
        Input({"type": "notes-citation", "index": ALL}, "n_clicks"),
        State("notes-citations", "data"),
        prevent_initial_call=True,
    )
    def show_source(clicks: list[int | None], citations: list[dict[str, Any]] | None) -> Any:
        trigger = dash.ctx.triggered_id
        if not citations or not isinstance(trigger, dict) or not any(clicks):
            return dash.no_update
        index = int(trigger["index"])
        if not 0 <= index < len(citations):
            return dash.no_update
        return source_view(citations[index])

"""The dashboard's wearable panel: PAT's 7-day risk over time and its attention heat-map.

Risk comes from ``wearable.daily_risk`` (one point per day, scoring the 7
days that end with it); the heat-map folds a ``wearable.attention`` record
into the wearer's local hours and days, beside the activity it looked at, so
a clinician can see which nights or days drove a score.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import dash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html
from plotly.subplots import make_subplots

from clarity.contracts import window_day
from clarity.sdk import ApiError, ClarityClient, TimelineItem

__all__ = ["attention_figure", "register_wearable_callbacks", "risk_figure", "wearable_panel"]

HEAD_COLOURS = {"depression": "#0072B2", "poor_sleep": "#E69F00"}
_OTHER = ("#009E73", "#CC79A7", "#56B4E9", "#D55E00")
_MINUTES = 10_080


def _colour(head: str, index: int) -> str:
    return HEAD_COLOURS.get(head, _OTHER[index % len(_OTHER)])


def risk_figure(days: list[TimelineItem]) -> go.Figure:
    """Daily 7-day risk per head; week-end windows marked; unscored days as gaps.

    Parameters
    ----------
    days
        ``wearable.daily_risk`` timeline items, oldest first.

    Returns
    -------
    plotly.graph_objects.Figure
        The chart.
    """
    figure = go.Figure()
    heads = list(dict.fromkeys(r["head"] for d in days for r in d.record["payload"]["risks"]))
    for index, head in enumerate(heads):
        by_day: dict[str, float | None] = {}
        for day in days:  # oldest first: a later record of the same day replaces an earlier one
            payload = day.record["payload"]
            value = next((r["probability"] for r in payload["risks"] if r["head"] == head), None)
            by_day[payload["day"]] = value  # None leaves a gap: too little wear
        x = sorted(by_day)
        y = [by_day[d] for d in x]
        colour = _colour(head, index)
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="lines",
                name=f"{head.replace('_', ' ')} (daily)",
                line={"color": colour, "width": 1.5},
                connectgaps=False,
                legendgroup=head,
            )
        )
        # A marker every seventh day from the first, by date (days may be missing).
        first = date.fromisoformat(x[0]) if x else None
        weekly = [
            (xi, yi)
            for xi, yi in zip(x, y, strict=True)
            if first is not None and (date.fromisoformat(xi) - first).days % 7 == 6
        ]
        figure.add_trace(
            go.Scatter(
                x=[w[0] for w in weekly],
                y=[w[1] for w in weekly],
                mode="markers",
                name=f"{head.replace('_', ' ')} (week)",
                marker={
                    "color": colour,
                    "size": 9,
                    "symbol": "circle" if index == 0 else "diamond",
                },
                legendgroup=head,
            )
        )
    unscored = [d.record["payload"]["day"] for d in days if not d.record["payload"]["risks"]]
    if unscored:
        figure.add_trace(
            go.Scatter(
                x=unscored,
                y=[0.02] * len(unscored),
                mode="markers",
                name="not scored (too little wear)",
                marker={"color": "#555555", "symbol": "x-thin", "size": 8, "line": {"width": 2}},
            )
        )
    figure.update_layout(
        title="Risk from the last 7 days of actigraphy (PAT)",
        height=300,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        yaxis={"title": "probability", "range": [0, 1]},
        legend={"orientation": "h", "y": -0.25},
        template="plotly_white",
    )
    return figure


def _local_grid(values: np.ndarray, start: datetime, zone: str, how: str) -> pd.DataFrame:
    """Fold one value per minute into local day x hour (sum or mean)."""
    local = pd.date_range(start, periods=values.size, freq="min").tz_convert(zone)
    frame = pd.DataFrame({"value": values, "day": local.date, "hour": local.hour})
    grouped = frame.groupby(["day", "hour"])["value"]
    table = grouped.sum() if how == "sum" else grouped.mean()
    return table.unstack(fill_value=0.0).reindex(columns=range(24), fill_value=0.0)


def attention_figure(attention: dict[str, Any], activity: np.ndarray | None = None) -> go.Figure:
    """Attention per local hour and day, beside the activity of the same window.

    Parameters
    ----------
    attention
        The ``payload`` of a ``wearable.attention`` record (with its minutes).
    activity
        The window's counts per minute (NaN where not worn), if known.

    Returns
    -------
    plotly.graph_objects.Figure
        One or two heat-maps (hour of day x day).
    """
    start = datetime.fromisoformat(attention["window_start"])
    zone = attention.get("timezone") or "UTC"
    minutes = np.asarray(attention["minutes"], dtype=float)
    grid = _local_grid(minutes * 100, start, zone, "sum")
    labels = [f"{pd.Timestamp(d):%a %d %b}" for d in grid.index]
    columns = 2 if activity is not None else 1
    figure = make_subplots(
        rows=1,
        cols=columns,
        subplot_titles=["Where the model looked (% of attention)"]
        + (["Activity (mean counts per minute)"] if activity is not None else []),
        horizontal_spacing=0.12,
    )
    figure.add_trace(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(range(24)),
            y=labels,
            colorscale="Cividis",
            colorbar={"title": "%", "x": 0.44 if columns == 2 else 1.0, "len": 0.9},
            hovertemplate="%{y} %{x}:00<br>%{z:.2f}% of attention<extra></extra>",
        ),
        row=1,
        col=1,
    )
    if activity is not None:
        counts = _local_grid(np.nan_to_num(activity, nan=0.0), start, zone, "mean")
        figure.add_trace(
            go.Heatmap(
                z=counts.to_numpy(),
                x=list(range(24)),
                y=labels,
                colorscale="Greys",
                colorbar={"title": "counts"},
                hovertemplate="%{y} %{x}:00<br>%{z:.0f} counts/min<extra></extra>",
            ),
            row=1,
            col=2,
        )
    for col in range(1, columns + 1):
        figure.update_xaxes(title_text=f"hour of day ({zone})", dtick=3, row=1, col=col)
        figure.update_yaxes(autorange="reversed", row=1, col=col)
    probability = attention.get("probability")
    figure.update_layout(
        title=f"{attention['head'].replace('_', ' ')} risk {probability:.2f} for the 7 days "
        f"ending {window_day(datetime.fromisoformat(attention['window_end']), zone)}"
        if probability is not None
        else "Attention",
        height=340,
        margin={"l": 90, "r": 20, "t": 70, "b": 50},
        template="plotly_white",
    )
    return figure


def _window_activity(api: ClarityClient, patient_id: str, attention: dict[str, Any]) -> np.ndarray:
    """Assemble the counts of the explained window from the actigraphy weeks that cover it."""
    start = datetime.fromisoformat(attention["window_start"])
    end = datetime.fromisoformat(attention["window_end"])
    counts = np.full(_MINUTES, np.nan)
    for item in api.timeline(
        patient_id,
        topics=["ingest.actigraphy"],
        start=start - timedelta(days=7) + timedelta(minutes=1),
        end=end,
        arrays=True,
    ):
        week = item.record["payload"]
        offset = int((datetime.fromisoformat(week["start"]) - start).total_seconds() // 60)
        values = np.where(np.asarray(week["wear"]), np.asarray(week["counts"], float), np.nan)
        lo, hi = max(offset, 0), min(offset + _MINUTES, _MINUTES)
        if lo < hi:
            counts[lo:hi] = values[lo - offset : hi - offset]
    return counts


def _attention(api: ClarityClient, patient_id: str, window_end: str) -> dict[str, Any] | None:
    end = datetime.fromisoformat(window_end)
    found = list(
        api.timeline(
            patient_id,
            topics=["wearable.attention"],
            start=end,
            end=end + timedelta(seconds=1),
            arrays=True,
        )
    )
    return found[-1].record["payload"] if found else None


def wearable_panel(api: ClarityClient, patient_id: str) -> html.Section | None:
    """Build the panel, or None when the wearable service has not scored this patient.

    Parameters
    ----------
    api
        The signed-in client.
    patient_id
        The patient.

    Returns
    -------
    dash.html.Section or None
        Risk chart, window picker, attention heat-map and an explain button.
    """
    days = list(api.timeline(patient_id, topics=["wearable.daily_risk"]))
    if not days:
        return None
    explained = list(api.timeline(patient_id, topics=["wearable.attention"]))
    latest = days[-1].record
    producer = latest["producer"]
    scored = [d for d in days if d.record["payload"]["risks"]]
    threshold = latest["payload"]["min_wear_fraction"]
    zones = {e.record["payload"]["window_end"]: e.record["payload"]["timezone"] for e in explained}
    windows = sorted(zones, reverse=True)
    options = [
        {"label": f"7 days ending {window_day(datetime.fromisoformat(w), zones[w])}", "value": w}
        for w in windows
    ]
    caption = (
        f"Model {producer['model_name']} v{producer['model_version']} "
        f"(run {producer.get('run_id') or '-'}); {len(scored)} of {len(days)} days scored: "
        f"a window needs {threshold:.0%} wear. Decision support, not a diagnosis."
    )
    latest_scored = scored[-1].record["payload"]["window_end"] if scored else ""
    return html.Section(
        [
            html.H3("Wearable risk"),
            html.P(caption, className="caption", id="wearable-caption"),
            dcc.Graph(
                id="wearable-risk-chart", figure=risk_figure(days), config={"displaylogo": False}
            ),
            dcc.Store(id="wearable-patient", data=patient_id),
            dcc.Store(id="wearable-latest", data=latest_scored),
            html.Label("Attention map of", htmlFor="wearable-window"),
            dcc.Dropdown(
                id="wearable-window",
                options=options,
                value=windows[0] if windows else None,
                clearable=False,
                placeholder="No week explained yet",
            ),
            dcc.Graph(id="wearable-attention-chart", config={"displaylogo": False}),
            html.Button(
                "Explain the latest week",
                id="wearable-explain",
                n_clicks=0,
                disabled=not latest_scored,
            ),
            html.Span(id="wearable-explain-status", role="status"),
        ],
        className="panel wide",
        id="panel-wearable",
    )


def register_wearable_callbacks(app: dash.Dash, client: Callable[[], ClarityClient | None]) -> None:
    """Wire the window picker and the explain button to the API.

    Parameters
    ----------
    app
        The dashboard.
    client
        Makes the signed-in user's client (None when signed out).
    """

    @app.callback(
        Output("wearable-attention-chart", "figure"),
        Input("wearable-window", "value"),
        State("wearable-patient", "data"),
    )
    def show_attention(window_end: str | None, patient_id: str | None) -> go.Figure:
        empty = go.Figure()
        empty.update_layout(
            height=120,
            template="plotly_white",
            annotations=[
                {
                    "text": "No attention map yet: press 'Explain the latest week'.",
                    "showarrow": False,
                    "font": {"color": "#555555"},
                }
            ],
            xaxis={"visible": False},
            yaxis={"visible": False},
        )
        api = client()
        if api is None or not window_end or not patient_id:
            return empty
        with api:
            try:
                attention = _attention(api, patient_id, window_end)
                if attention is None:
                    return empty
                return attention_figure(attention, _window_activity(api, patient_id, attention))
            except ApiError:
                return empty

    @app.callback(
        Output("wearable-explain-status", "children"),
        Input("wearable-explain", "n_clicks"),
        State("wearable-patient", "data"),
        State("wearable-latest", "data"),
        prevent_initial_call=True,
    )
    def explain(clicks: int, patient_id: str | None, window_end: str | None) -> str:
        api = client()
        if api is None or not clicks or not patient_id or not window_end:
            return ""
        with api:
            try:
                answer = api.request_explanation(patient_id, datetime.fromisoformat(window_end))
            except ApiError as error:
                return f" Not requested: {error.problem.get('detail', error)}"
        if answer.duplicate:
            return " Already requested; the map appears here once the wearable service answers."
        return " Requested; reload the page in a few seconds to see the map."

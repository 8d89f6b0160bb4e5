"""The clinician dashboard (Plotly Dash), a client of the API.

The dashboard holds no data of its own and never opens the stores: every page
calls the API with the signed-in user's token, so the API's roles, consent and
audit apply to everything it shows. Colours are the Okabe-Ito palette, which
stays distinguishable with the common colour-vision deficiencies.
"""

from __future__ import annotations

import html as html_text
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import dash
import flask
import httpx
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from clarity.dashboard._genotype import genotype_panel
from clarity.dashboard._notes import notes_panel, register_notes_callbacks
from clarity.dashboard._pgx import pgx_panel
from clarity.dashboard._wearable import register_wearable_callbacks, wearable_panel
from clarity.sdk import ApiError, ClarityClient, TimelineItem

__all__ = ["PALETTE", "create_dashboard"]

PALETTE = {
    "phq9": "#0072B2",  # blue
    "gad7": "#E69F00",  # orange
    "mood": "#009E73",  # green
    "drug": "#CC79A7",  # purple
    "alert": "#D55E00",  # vermilion
    "muted": "#555555",
}
_SERVICE_PANELS = [
    (
        "Crisis alerts",
        "notes.crisis_alert",
        "The clinical-notes service flags crisis language in notes; it has not run for this patient yet.",
    ),
    (
        "Wearable risk",
        "wearable.daily_risk",
        "No wearable model has scored this patient's actigraphy yet (the wearable service publishes daily risk with attention maps).",
    ),
    (
        "Pharmacogenomic guidance",
        "pgx.guidance",
        "The PGx service has not interpreted this patient's results yet; the lab's raw calls are listed below when present.",
    ),
    ("Genotype risks", "genotype.trait_risk", "No genotype model has scored this patient yet."),
    (
        "Notes summary",
        "notes.summary",
        "No summary of the notes yet: the notes service drafts one with citations.",
    ),
    ("Forecast and what-if", "twin.state", "The digital twin has not simulated this patient yet."),
]

_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clarity - sign in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;color:#222}}
label{{display:block;margin-top:1rem}}input{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;background:#0072B2;color:#fff;border:0;border-radius:4px}}
.error{{color:#D55E00;margin-top:1rem}}</style></head><body>
<h1>Clarity</h1><p>Sign in to see your patients.</p>
<form method="post" action="/login"><label for="username">User name</label>
<input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="sign-in" type="submit">Sign in</button></form>{error}</body></html>"""


def create_dashboard(
    api_url: str,
    *,
    secret_key: bytes | None = None,
    transport_factory: Callable[[], httpx.BaseTransport] | None = None,
) -> dash.Dash:
    """Build the dashboard.

    Parameters
    ----------
    api_url
        Base URL of the Clarity API.
    secret_key
        Signs the session cookie that holds the user's token; random when omitted.
    transport_factory
        Makes an httpx transport per call (tests call an in-process API).

    Returns
    -------
    dash.Dash
        The app; serve ``app.server`` with any WSGI server.
    """
    server = flask.Flask(__name__)
    server.secret_key = secret_key or secrets.token_bytes(32)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")

    def client() -> ClarityClient | None:
        token = flask.session.get("token")
        if not token:
            return None
        transport = transport_factory() if transport_factory else None
        return ClarityClient(api_url, token=token, transport=transport)

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if flask.request.method == "GET":
            return _LOGIN_PAGE.format(error="")
        username = flask.request.form.get("username", "")
        password = flask.request.form.get("password", "")
        try:
            signed_in = ClarityClient.sign_in(
                api_url,
                username,
                password,
                transport=transport_factory() if transport_factory else None,
            )
        except ApiError:
            return _LOGIN_PAGE.format(
                error='<p class="error" role="alert">The user name or password is wrong.</p>'
            ), 401
        except httpx.HTTPError:
            return _LOGIN_PAGE.format(
                error='<p class="error" role="alert">The Clarity API cannot be reached.</p>'
            ), 503
        token = signed_in._http.headers["Authorization"].removeprefix("Bearer ")
        signed_in.close()
        flask.session.clear()
        flask.session["token"] = token
        flask.session["user"] = html_text.escape(username)
        return flask.redirect("/")

    @server.route("/logout")
    def logout() -> Any:
        flask.session.clear()
        return flask.redirect("/login")

    app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # dash's stub says bool; it takes a Flask app
        title="Clarity",
        suppress_callback_exceptions=True,
        assets_folder=str(Path(__file__).parent / "assets"),
        update_title="Loading…",
    )
    app.layout = html.Div(
        [
            dcc.Location(id="url"),
            html.Header(
                [
                    html.A("Clarity", href="/", className="brand"),
                    html.Span(id="who", className="who"),
                    html.A("Sign out", href="/logout", className="signout"),
                ],
                className="topbar",
            ),
            dcc.Loading(html.Main(id="page", role="main"), type="default"),
        ]
    )

    @app.callback(Output("page", "children"), Output("who", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> tuple[Any, str]:
        api = client()
        if api is None:
            return _sign_in_first(), ""
        with api:
            try:
                me = api.me()
            except ApiError:
                return _sign_in_first(), ""
            label = f"{me.username} ({me.role})"
            path = pathname or "/"
            if path.startswith("/patients/"):
                return _patient_page(api, path.removeprefix("/patients/").strip("/")), label
            return _patient_list(api), label

    register_wearable_callbacks(app, client)
    register_notes_callbacks(app)
    return app


def _sign_in_first() -> Any:
    return html.Div(
        [
            html.H1("Please sign in"),
            html.P(
                [
                    "Your session has ended or you have not signed in. ",
                    html.A("Sign in", href="/login"),
                ]
            ),
        ],
        className="empty",
    )


def _arrow(trend: str | None) -> str:
    return {"up": "▲ worse", "down": "▼ better", "flat": "▶ same"}.get(trend or "", "-")


def _patient_list(api: ClarityClient) -> Any:
    try:
        patients = list(api.patients())
    except ApiError as error:
        return html.Div(
            [
                html.H1("Patients"),
                html.P(error.problem.get("detail", str(error)), className="notice"),
            ]
        )
    if not patients:
        return html.Div(
            [
                html.H1("Patients"),
                html.P(
                    "No patients are assigned to you yet. An administrator assigns them with `clarity users assign`.",
                    className="empty",
                ),
            ]
        )
    rows = [
        html.Tr(
            [
                html.Td(
                    dcc.Link(
                        p.patient_id, href=f"/patients/{p.patient_id}", className="patient-link"
                    )
                ),
                html.Td(p.birth_year or "-"),
                html.Td(p.sex or "-"),
                html.Td(p.phq9 if p.phq9 is not None else "-"),
                html.Td(_arrow(p.phq9_trend), className=f"trend-{p.phq9_trend or 'none'}"),
                html.Td(p.gad7 if p.gad7 is not None else "-"),
                html.Td(p.phq9_at.date().isoformat() if p.phq9_at else "-"),
            ]
        )
        for p in patients
    ]
    header = html.Thead(
        html.Tr(
            [
                html.Th(h, scope="col")
                for h in ("Patient", "Born", "Sex", "PHQ-9", "Trend", "GAD-7", "Last PHQ-9")
            ]
        )
    )
    return html.Div(
        [
            html.H1("Patients"),
            html.Table([header, html.Tbody(rows)], id="patient-table", className="table"),
        ]
    )


def _scores_figure(items: list[TimelineItem], medications: list[TimelineItem]) -> go.Figure:
    figure = go.Figure()
    for instrument, name in (("phq9", "PHQ-9"), ("gad7", "GAD-7")):
        points = [i for i in items if i.record["payload"]["instrument"] == instrument]
        figure.add_trace(
            go.Scatter(
                x=[p.observed_at for p in points],
                y=[p.record["payload"]["total_score"] for p in points],
                mode="lines+markers",
                name=name,
                line={"color": PALETTE[instrument], "width": 3},
                marker={"size": 8, "symbol": "circle" if instrument == "phq9" else "diamond"},
            )
        )
    for medication in medications:
        payload = medication.record["payload"]
        started = payload.get("started_on") or medication.observed_at.date().isoformat()
        figure.add_vline(
            x=datetime.fromisoformat(started).timestamp() * 1000,
            line_dash="dot",
            line_color=PALETTE["drug"],
        )
        figure.add_annotation(
            x=started,
            y=1,
            yref="paper",
            text=f"{payload['name']} {payload['dose_mg']:g} mg"
            if payload.get("dose_mg")
            else payload["name"],
            showarrow=False,
            font={"color": PALETTE["drug"]},
        )
    figure.update_layout(
        title="PHQ-9 and GAD-7",
        height=320,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        yaxis={"title": "score", "rangemode": "tozero"},
        legend={"orientation": "h", "y": 1.15, "x": 1, "xanchor": "right"},
        template="plotly_white",
    )
    return figure


def _mood_figure(items: list[TimelineItem]) -> go.Figure:
    figure = go.Figure(
        go.Scatter(
            x=[i.observed_at for i in items],
            y=[i.record["payload"]["mood"] for i in items],
            mode="lines+markers",
            name="mood (0-10)",
            line={"color": PALETTE["mood"]},
        )
    )
    figure.update_layout(
        title="Daily mood",
        height=260,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        yaxis={"range": [0, 10]},
        template="plotly_white",
    )
    return figure


_CRISIS_LEVELS = {
    0: "self-harm or harm to others",
    1: "wish to be dead",
    2: "active suicidal thoughts",
    3: "suicidal thoughts with a method",
    4: "suicidal thoughts with some intent",
    5: "suicidal plan with intent or preparation",
}


def _crisis_banner(alerts: list[TimelineItem]) -> Any:
    """Show the newest crisis alert at the top of the page, with its evidence sentences."""
    latest = alerts[-1]
    payload = latest.record["payload"]
    extra = [
        label
        for label, flag in (
            ("self-harm", payload["self_harm"]),
            ("harm to others", payload["harm_to_others"]),
        )
        if flag
    ]
    title = f"Crisis language in the note of {latest.observed_at.date().isoformat()}: " + (
        _CRISIS_LEVELS[payload["level"]] if payload["level"] else ", ".join(extra)
    )
    if payload["level"] and extra:
        title += f"; also {', '.join(extra)}"
    return html.Div(
        [
            html.Strong(title),
            html.Ul([html.Li(e["text"]) for e in payload["evidence"]]),
            html.Small(
                f"{len(alerts)} alert(s) on record. Found by rules, not a language model; "
                "read the note and follow the local crisis protocol."
            ),
        ],
        id="crisis-banner",
        className="crisis-banner",
        role="alert",
    )


def _patient_page(api: ClarityClient, patient_id: str) -> Any:
    try:
        detail = api.patient(patient_id)
        items = list(
            api.timeline(
                patient_id,
                topics=[
                    "ingest.observation",
                    "ingest.medication",
                    "ingest.mood",
                    "ingest.note",
                    "ingest.pgx",
                ],
            )
        )
    except ApiError as error:
        message = (
            "No such patient, or you are not permitted to see them."
            if error.status in (403, 404)
            else error.problem.get("detail", str(error))
        )
        return html.Div(
            [
                html.H1("Patient"),
                html.P(message, id="patient-error", className="notice", role="alert"),
            ]
        )
    by_topic: dict[str, list[TimelineItem]] = {}
    for item in items:
        by_topic.setdefault(item.topic, []).append(item)
    observations = by_topic.get("ingest.observation", [])
    medications = by_topic.get("ingest.medication", [])
    moods = by_topic.get("ingest.mood", [])
    notes = by_topic.get("ingest.note", [])
    features = detail.features
    facts = [
        f"born {features['demographics.birth_year'].value}"
        if "demographics.birth_year" in features
        else None,
        str(features["demographics.sex"].value) if "demographics.sex" in features else None,
    ]
    charts: list[Any] = []
    if observations:
        charts.append(
            dcc.Graph(
                id="scores-chart",
                figure=_scores_figure(observations, medications),
                config={"displaylogo": False},
            )
        )
    else:
        charts.append(
            html.P("No PHQ-9 or GAD-7 has been recorded for this patient.", className="empty")
        )
    if moods:
        charts.append(
            dcc.Graph(id="mood-chart", figure=_mood_figure(moods), config={"displaylogo": False})
        )
    else:
        charts.append(html.P("No daily mood reports.", className="empty"))
    withheld = (
        [
            html.P(
                f"Not shown for lack of consent: {', '.join(detail.withheld)}.", className="notice"
            )
        ]
        if detail.withheld
        else []
    )
    medication_list = (
        html.Ul(
            [
                html.Li(
                    f"{m.record['payload']['name']} {m.record['payload'].get('dose_mg') or ''} mg — {m.record['payload']['status']} since {m.record['payload'].get('started_on') or m.observed_at.date()}"
                )
                for m in medications
            ]
        )
        if medications
        else html.P("No medications recorded.", className="empty")
    )
    note_list = (
        html.Ul(
            [
                html.Li(
                    [
                        html.Strong(n.observed_at.date().isoformat()),
                        html.Details(
                            [html.Summary("Progress note"), html.Pre(n.record["payload"]["text"])]
                        ),
                    ]
                )
                for n in notes[-10:]
            ]
        )
        if notes
        else html.P("No notes.", className="empty")
    )
    pgx = by_topic.get("ingest.pgx", [])
    wearable = wearable_panel(api, patient_id) if "wearable" not in detail.withheld else None
    genomics = pgx_panel(api, patient_id) if "genomic" not in detail.withheld else None
    genetic_risk = genotype_panel(api, patient_id) if "genomic" not in detail.withheld else None
    summary = notes_panel(api, patient_id) if "notes" not in detail.withheld else None
    alerts = (
        list(api.timeline(patient_id, topics=["notes.crisis_alert"]))
        if "notes" not in detail.withheld
        else []
    )
    panels = [
        html.Section(
            [html.H3(title), html.P(empty, className="empty")],
            className="panel",
            title=title,
            id=f"panel-{topic.replace('.', '-')}",
        )
        for title, topic, empty in _SERVICE_PANELS
        if not (topic == "wearable.daily_risk" and wearable is not None)
        and not (topic == "pgx.guidance" and genomics is not None)
        and not (topic == "genotype.trait_risk" and genetic_risk is not None)
        and not (topic == "notes.crisis_alert" and alerts)
        and not (topic == "notes.summary" and summary is not None)
    ]
    if pgx:
        calls = pgx[-1].record["payload"]["calls"]
        panels.append(
            html.Section(
                [
                    html.H3("Lab PGx calls"),
                    html.Ul(
                        [
                            html.Li(
                                f"{c['gene']} {c['diplotype']}"
                                + (f" ({c['phenotype']})" if c.get("phenotype") else "")
                            )
                            for c in calls
                        ]
                    ),
                ],
                className="panel",
            )
        )
    return html.Div(
        [
            html.P(dcc.Link("← All patients", href="/")),
            html.H1(f"Patient {patient_id}"),
            *([_crisis_banner(alerts)] if alerts else []),
            html.P(
                ", ".join(f for f in facts if f) or "No demographics recorded.", className="facts"
            ),
            *withheld,
            html.Div(charts, className="charts"),
            html.Div(
                [
                    html.Section([html.H2("Medications"), medication_list]),
                    html.Section([html.H2("Notes"), note_list]),
                ],
                className="columns",
            ),
            html.H2("Services"),
            *([wearable] if wearable is not None else []),
            *([genomics] if genomics is not None else []),
            *([genetic_risk] if genetic_risk is not None else []),
            *([summary] if summary is not None else []),
            html.Div(panels, className="panels"),
        ]
    )

"""The scorecard pages: an agent's own scorecard, or a lead's teams', for a period, each
number beside its definition; and the loops a count was made of (the drill-down), the same
query as the loops API link the API gives, read with the signed-in user's eyes.

GET pages: the period, team and agent are in the query string, so a scorecard is a link."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lastmile.cases.selectors import ref_number
from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput
from lastmile.core.instants import instant_parse
from lastmile.loops.models import TEAM_OWN_KINDS, LoopState
from lastmile.loops.selectors import loop_list
from lastmile.people.selectors import team_by_slug, user_by_username, visible_team_ids
from lastmile.scorecards import rollups
from lastmile.scorecards.panels import panels_for
from lastmile.scorecards.qa_api import review_dict
from lastmile.scorecards.selectors import (
    METRICS,
    PERIOD_HELP,
    ROWS_LIMIT,
    TEAM_OWN_NOTE,
    FigureRows,
    Scorecard,
    customer_loops,
    figure_rows,
    period_parse,
    qa_review_list,
    revenue_said,
    scope_of,
    scorecards,
)

DRILL_LIMIT = 200  # loops listed on the drill-down page; the count says how many in all

# The metrics the page shows, in order, with a short heading; every one of METRICS is also
# listed with its definition under the tables.
COLUMNS: list[tuple[str, str]] = [
    ("loops_closed", "Closed"),
    ("loops_closed_on_time", "On time"),
    ("on_time_rate", "On-time rate"),
    ("breaches", "Breaches"),
    ("first_reply_median_business_minutes", "First reply (business min, median)"),
    ("reopened_cases", "Reopened cases"),
    ("reassignments_away", "Reassigned away"),
    ("first_contact_resolution", "First-contact resolution"),
    ("promises_made", "Promises made"),
    ("promises_kept", "Kept"),
    ("promises_broken", "Broken"),
    ("csat", "CSAT %"),
    ("nps", "NPS"),
    ("recovered", "Recovered"),
    ("revenue_recovered", "Revenue recovered"),
    ("qa_score", "QA"),
]
LINKED = ("loops_closed", "breaches")
# Counts whose rows the scorecard page lists itself (``?rows=``), with the figure to list.
ROWS_ON_PAGE = {
    "first_contact_resolution": "first_contact_resolution",
    "promises_made": "promises_made",
    "promises_kept": "promises_kept",
    "promises_broken": "promises_broken",
    "recovered": "recovered",
    "revenue_recovered": "recovered",
}
ROWS_HEADINGS = {
    "first_contact_resolution": "Cases solved in the period (first-contact resolution)",
    "recovered": "Carts and applications recovered in the period",
    "promises_made": "Promises made in the period",
    "promises_kept": "Promises made in the period and kept",
    "promises_broken": "Promises made in the period and broken",
}


def _page_link(api_link: str) -> str:
    """The drill-down page for a loops API link: the same query string."""
    return "/scorecards/loops/?" + api_link.split("?", 1)[1]


def _rows_link(period: Any, card: Scorecard, figure: str, *, agent: bool) -> str:
    who = {"agent": card.key} if agent else {"team": card.key}
    return "/scorecards/?" + urlencode({"period": period.key, **who, "rows": figure})


def _cells(card: Scorecard, period: Any = None, *, agent: bool = True) -> list[dict[str, Any]]:
    cells = []
    for name, heading in COLUMNS:
        value = card.metrics.get(name)
        if name in ("on_time_rate", "first_contact_resolution") and value is not None:
            shown = f"{round(value * 100)} %"
            if name == "first_contact_resolution":
                shown += f" of {card.metrics['cases_solved']}"
        elif name == "revenue_recovered":
            shown = revenue_said(value or [])
        elif value is None:
            shown = "—"
        else:
            shown = str(value)
        link = _page_link(card.links[name]) if name in LINKED and name in card.links else ""
        if name == "qa_score" and name in card.links:
            link = "/scorecards/qa/?" + card.links[name].split("?", 1)[1]
        if name in ROWS_ON_PAGE and period is not None:
            link = _rows_link(period, card, ROWS_ON_PAGE[name], agent=agent)
        cells.append({"name": name, "heading": heading, "shown": shown, "link": link})
    return cells


@login_required
@require_GET
def scorecard_page(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    asked = {k: (request.GET.get(k) or "").strip() for k in ("period", "team", "agent", "rows")}
    context: dict[str, Any] = {
        **page_chrome(request, now),
        "asked": asked,
        "period_help": PERIOD_HELP,
        "columns": COLUMNS,
        "definitions": [(name, METRICS[name]) for name in METRICS],
        "error": "",
        "cards": None,
        "team_own_note": TEAM_OWN_NOTE,
        "drill": None,
    }
    status = 200
    try:
        period = period_parse(asked["period"] or None, now=now)
        team = team_by_slug(asked["team"] or None)
        agent = user_by_username(asked["agent"] or None, field="agent")
        cards = scorecards(viewer=request.user, period=period, team=team, agent=agent)
        drill: FigureRows | None = None
        if asked["rows"]:
            drill = figure_rows(
                viewer=request.user, period=period, figure=asked["rows"], agent=agent, team=team
            )
    except DomainError as exc:
        context["error"] = exc.detail
        status = exc.status
    else:
        context["period"] = period
        context["cards"] = cards
        context["agents"] = [{"card": c, "cells": _cells(c, period)} for c in cards.agents]
        context["teams"] = [
            {"card": c, "cells": _cells(c, period, agent=False)} for c in cards.teams
        ]
        if drill is not None:
            context["drill"] = drill
            context["drill_heading"] = ROWS_HEADINGS[drill.figure]
            context["drill_limit"] = ROWS_LIMIT
        context["panels"] = panels_for(request.user, cards)
        context["nothing_closed"] = not any(
            c.metrics["loops_closed"] or c.metrics["breaches"] for c in cards.agents
        )
    return render(request, "scorecards/page.html", context, status=status)


def _instant(query: QueryDict, name: str) -> Any:
    text = query.get(name)
    if not text:
        return None
    try:
        return instant_parse(text)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}", [FieldError(name, str(exc))]) from None


@login_required
@require_GET
def scorecard_loops(request: HttpRequest) -> HttpResponse:
    """The loops behind a count: ``loop_list`` with the link's filters, as the loops API."""
    now = utcnow()
    q = request.GET
    try:
        state = q.get("state") or None
        if state is not None and state not in LoopState.values:
            raise InvalidInput(
                "unknown state", [FieldError("state", "open, closed, broken or cancelled")]
            )
        breached = {"true": True, "false": False}.get(q.get("breached", ""))
        qs = loop_list(
            viewer=request.user,
            now=now,
            state=state,
            team=q.get("team") or None,
            breached=breached,
            kind=q.get("kind") or None,
            due_before=_instant(q, "due_before"),
            assignee=user_by_username(q.get("assignee") or None),
            closed_after=_instant(q, "closed_after"),
            closed_before=_instant(q, "closed_before"),
        ).order_by("-closed_at", "-pk")
        team_own = {"true": True, "false": False}.get(q.get("team_own", ""))
        if team_own is False:
            qs = customer_loops(qs)
        elif team_own is True:
            qs = qs.filter(kind__in=TEAM_OWN_KINDS)
        loops = list(qs[:DRILL_LIMIT])
        count = qs.count() if len(loops) == DRILL_LIMIT else len(loops)
    except DomainError as exc:
        return render(
            request,
            "scorecards/loops.html",
            {**page_chrome(request, now), "error": exc.detail, "loops": [], "count": 0},
            status=exc.status,
        )
    return render(
        request,
        "scorecards/loops.html",
        {
            **page_chrome(request, now),
            "error": "",
            "loops": loops,
            "count": count,
            "limit": DRILL_LIMIT,
            "filters": {k: v for k, v in q.items() if v},
            "api_link": "/api/v1/loops?" + q.urlencode(),
        },
    )


@login_required
@require_GET
def scorecard_qa(request: HttpRequest) -> HttpResponse:
    """The QA reviews behind a ``qa_score``: ``qa_review_list`` with the link's filters
    (agent, team, period, case, effective), as ``GET /api/v1/qa/reviews``."""
    now = utcnow()
    q = request.GET
    chrome = page_chrome(request, now)
    try:
        period = period_parse(q["period"], now=now) if q.get("period") else None
        effective = {"true": True, "false": False}.get(q.get("effective", ""))
        case = q.get("case") or None
        qs = qa_review_list(
            viewer=request.user,
            period=period,
            agent=user_by_username(q.get("agent") or None, field="agent"),
            team=team_by_slug(q.get("team") or None),
            case_number=ref_number(case) if case else None,
            effective=effective,
        )
        rows = list(qs[:DRILL_LIMIT])
        count = qs.count() if len(rows) == DRILL_LIMIT else len(rows)
    except DomainError as exc:
        return render(
            request,
            "scorecards/qa.html",
            {**chrome, "error": exc.detail, "reviews": [], "count": 0},
            status=exc.status,
        )
    return render(
        request,
        "scorecards/qa.html",
        {
            **chrome,
            "error": "",
            "reviews": [review_dict(r) for r in rows],
            "count": count,
            "limit": DRILL_LIMIT,
            "filters": {k: v for k, v in q.items() if v},
            "api_link": "/api/v1/qa/reviews?" + q.urlencode(),
        },
    )


# --- the dashboard --------------------------------------------------------------------------


def _iso(at: Any) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _drill(**query: str) -> str:
    return "/scorecards/loops/?" + urlencode(query)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value}{unit}"


def _rows(period: str, team: str, figure: str) -> str:
    """The scorecard page listing the rows behind a figure of ``team`` for ``period``."""
    return "/scorecards/?" + urlencode({"period": period, "team": team, "rows": figure})


def _tiles(td: rollups.TeamDashboard, now: Any) -> list[dict[str, Any]]:
    """The week in progress's figures of one team, each with the loops behind it."""
    c = td.current
    slug = td.team.slug
    start = rollups.week_start(td.weeks[-1])
    period = f"{td.weeks[-1]:%G-W%V}"
    window = {
        "closed_after": _iso(start),
        "closed_before": _iso(start + timedelta(days=7)),
        "team_own": "false",
    }
    late = ""
    if c.get("overdue_loops"):
        late = (
            f"mean {_fmt(c['overdue_mean_hours'])} h, "
            f"95th percentile {_fmt(c['overdue_p95_hours'])} h late"
        )
    return [
        {
            "name": "open_loops",
            "label": "Open loops",
            "value": _fmt(c.get("open_loops")),
            "note": "open now",
            "link": _drill(team=slug, state="open", team_own="false"),
        },
        {
            "name": "overdue_loops",
            "label": "Overdue",
            "value": _fmt(c.get("overdue_loops")),
            "note": late or "none past its deadline",
            "link": _drill(team=slug, state="open", due_before=_iso(now), team_own="false"),
        },
        {
            "name": "breach_rate",
            "label": "Breach rate",
            "value": _fmt(c.get("breach_rate"), " %"),
            "note": f"{c.get('breaches', 0)} of {c.get('loops_finished', 0)} finished",
            "link": _drill(team=slug, breached="true", **window),
        },
        {
            "name": "on_time_rate",
            "label": "On-time rate",
            "value": _fmt(c.get("on_time_rate"), " %"),
            "note": f"{c.get('loops_closed', 0)} closed",
            "link": _drill(team=slug, state="closed", **window),
        },
        {
            "name": "promises_broken",
            "label": "Promises broken",
            "value": _fmt(c.get("promises_broken")),
            "note": "this week",
            "link": _drill(team=slug, kind="promise", state="broken", **window),
        },
        {
            "name": "csat",
            "label": "CSAT",
            "value": _fmt(c.get("csat"), " %"),
            "note": f"{c.get('csat_responses', 0)} answers",
            "link": "/feedback/reasons/",
        },
        {
            "name": "nps",
            "label": "NPS",
            "value": _fmt(c.get("nps")),
            "note": f"{c.get('nps_responses', 0)} answers",
            "link": "/feedback/reasons/",
        },
        {
            "name": "sentiment",
            "label": "Sentiment",
            "value": _fmt(c.get("sentiment")),
            "note": _messages(c.get("sentiment_messages", 0)) + ", -1 to 1",
            "link": "",
        },
        {
            "name": "deliveries_on_time",
            "label": "Deliveries on time",
            "value": _fmt(c.get("deliveries_on_time"), " %"),
            "note": f"{c.get('jobs_due', 0)} due",
            "link": "",
        },
        {
            "name": "first_contact_resolution",
            "label": "First-contact resolution",
            "value": _fmt(c.get("first_contact_resolution"), " %"),
            "note": f"{c.get('first_contact_resolved', 0)} of {c.get('cases_solved', 0)} solved",
            "link": _rows(period, slug, "first_contact_resolution"),
        },
        {
            "name": "recovery_close_rate",
            "label": "Recovery close rate",
            "value": _fmt(c.get("recovery_close_rate"), " %"),
            "note": (
                f"{c.get('recoveries_recovered', 0)} recovered, {c.get('recoveries_lost', 0)} lost"
            ),
            "link": _drill(team=slug, kind="recovery", **window),
        },
        {
            "name": "revenue_recovered",
            "label": "Revenue recovered",
            "value": rollups.revenue_words(c.get("revenue_recovered") or []),
            "note": "per currency, not converted",
            "link": _rows(period, slug, "recovered"),
        },
        {
            "name": "alerts",
            "label": "Loudest social alerts",
            "value": _fmt(c.get("alerts")),
            "note": "raised this week" if c.get("alerts") else "none raised this week",
            "link": "/alerts/?state=all",
            "items": [
                {
                    "link": f"/alerts/{a['id']}/",
                    "id": a["id"],
                    "text": f"{a['term']}: {a['signal']}",
                    "mentions": a["mentions"],
                    "state": a["state"],
                }
                for a in c.get("alerts_top") or []
            ],
        },
    ]


# Each team's charts: (id, title, type, unit, [(figure, label)]).
CHARTS: list[tuple[str, str, str, str, list[tuple[str, str]]]] = [
    (
        "loops",
        "Open and overdue loops",
        "bar",
        "",
        [
            ("open_loops", "Open"),
            ("overdue_loops", "Overdue"),
        ],
    ),
    (
        "rates",
        "On time and breached (%)",
        "line",
        "%",
        [
            ("on_time_rate", "On-time rate"),
            ("breach_rate", "Breach rate"),
            ("deliveries_on_time", "Deliveries on time"),
        ],
    ),
    ("customers", "CSAT (%) and NPS", "line", "", [("csat", "CSAT %"), ("nps", "NPS")]),
    (
        "resolution",
        "First-contact resolution and recovery close rate (%)",
        "line",
        "%",
        [
            ("first_contact_resolution", "First-contact resolution"),
            ("recovery_close_rate", "Recovery close rate"),
        ],
    ),
    ("alerts", "Social listening alerts", "bar", "", [("alerts", "Alerts")]),
    (
        "lateness",
        "How late overdue loops are (hours)",
        "line",
        "h",
        [
            ("overdue_mean_hours", "Mean"),
            ("overdue_p95_hours", "95th percentile"),
        ],
    ),
]


def _charts(td: rollups.TeamDashboard, labels: list[str]) -> list[dict[str, Any]]:
    charts = []
    revenue = td.revenue_series() or [("", [None] * len(labels))]
    specs: list[tuple[str, str, str, str, list[dict[str, Any]]]] = [
        (key, title, kind, unit, [{"label": lb, "data": td.series(n)} for n, lb in series])
        for key, title, kind, unit, series in CHARTS
    ]
    specs.append(
        (
            "revenue",
            "Revenue recovered, per currency",
            "bar",
            "",
            [{"label": cur or "no currency given", "data": data} for cur, data in revenue],
        )
    )
    for key, title, kind, unit, data in specs:
        rows = [
            {"week": w, "cells": [_fmt(s["data"][i]) for s in data]} for i, w in enumerate(labels)
        ]
        charts.append(
            {
                "id": f"chart-{td.team.slug}-{key}",
                "title": f"{td.team.name}: {title}",
                "type": kind,
                "unit": unit,
                "labels": labels,
                "series": data,
                "rows": rows,
            }
        )
    return charts


def _agent_worsening(a: rollups.AgentTrend) -> dict[str, Any]:
    """A worsening agent with the links to their scorecard and breached loops of the weeks
    judged."""
    name = a.agent.username
    start = rollups.week_start(a.since)
    end = rollups.week_start(a.until) + timedelta(days=1)
    return {
        "username": name,
        "name": a.agent.get_full_name() or name,
        "reasons": a.trend.reasons,
        "scorecard": "/scorecards/?"
        + urlencode({"period": f"{a.since:%Y-%m-%d}..{a.until:%Y-%m-%d}", "agent": name}),
        "breaches": _drill(
            assignee=name,
            breached="true",
            closed_after=_iso(start),
            closed_before=_iso(end),
            team_own="false",
        ),
    }


@login_required
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    """The CCO dashboard: the teams the signed-in user may see (an admin every team, a lead
    or an agent their own), each with this week's figures and thirteen weeks of trend, read
    from the rollups the worker keeps current."""
    now = utcnow()
    board = rollups.dashboard(
        team_ids=visible_team_ids(request.user),
        now=now,
        agent_ids=scope_of(request.user).agents,
    )
    labels = [f"{w:%d %b}" for w in board.weeks]
    teams: list[dict[str, Any]] = [
        {
            "td": td,
            "tiles": _tiles(td, now),
            "charts": _charts(td, labels),
        }
        for td in board.teams
    ]
    payload = [
        {k: c[k] for k in ("id", "type", "unit", "labels", "series")}
        for t in teams
        for c in t["charts"]
    ]
    context = {
        **page_chrome(request, now),
        "board": board,
        "teams": teams,
        "worsening": [t["td"] for t in teams if t["td"].trend.worsening],
        "agents_worsening": [_agent_worsening(a) for a in board.agents_worsening],
        "any_figures": board.computed_at is not None
        or any(r is not None for t in board.teams for r in t.rows),
        "payload": payload,
        "minutes": rollups.rollup_minutes(),
        "worsening_note": rollups.WORSENING_NOTE,
        "definitions": list(rollups.DEFINITIONS.items()),
    }
    return render(request, "scorecards/dashboard.html", context)


def _messages(n: int) -> str:
    return f"{n:,} message" + ("" if n == 1 else "s")

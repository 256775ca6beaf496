"""The scorecard pages: an agent's own scorecard, or a lead's teams', for a period, each
number beside its definition; and the loops a count was made of (the drill-down), the same
query as the loops API link the API gives, read with the signed-in user's eyes.

GET pages: the period, team and agent are in the query string, so a scorecard is a link."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from lastmile.cases.selectors import ref_number
from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound
from lastmile.core.instants import instant_parse
from lastmile.feedback.models import Band
from lastmile.loops.models import TEAM_OWN_KINDS, LoopState
from lastmile.loops.selectors import loop_list
from lastmile.people.models import Team
from lastmile.people.selectors import team_by_slug, user_by_username, visible_team_ids
from lastmile.recovery.models import Outcome
from lastmile.scorecards import rollups
from lastmile.scorecards.panels import panels_for
from lastmile.scorecards.qa_api import review_dict
from lastmile.scorecards.qa_views import sample_context
from lastmile.scorecards.selectors import (
    METRICS,
    PERIOD_HELP,
    ROWS,
    ROWS_LIMIT,
    TEAM_OWN_NOTE,
    FigureRows,
    Scorecard,
    agent_weeks,
    customer_loops,
    figure_rows,
    period_parse,
    qa_review_list,
    revenue_said,
    scope_of,
    scorecards,
)
from lastmile.scorecards.services import qa_may_sample

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
LINKED = ("loops_closed",)  # linked to the loops page, the loops API's own filters
# Every other count links to the rows the scorecard page lists itself (``?rows=``), with the
# figure to list; the QA score links to its reviews.
ROWS_ON_PAGE = {
    "loops_closed_on_time": "loops_closed_on_time",
    "on_time_rate": "loops_closed_with_deadline",
    "breaches": "breaches",
    "first_reply_median_business_minutes": "first_replies",
    "reopened_cases": "reopened_cases",
    "reassignments_away": "reassignments_away",
    "first_contact_resolution": "first_contact_resolution",
    "promises_made": "promises_made",
    "promises_kept": "promises_kept",
    "promises_broken": "promises_broken",
    "csat": "csat",
    "nps": "nps",
    "recovered": "recovered",
    "revenue_recovered": "recovered",
}
ROWS_HEADINGS = {
    "loops_closed_on_time": "Loops closed in the period on time",
    "loops_closed_with_deadline": "Loops closed in the period with a deadline (the on-time rate's base)",
    "breaches": "Loops finished in the period that had breached, by who held them at the breach",
    "first_replies": "First replies the median is taken over",
    "reopened_cases": "Cases reopened in the period",
    "reassignments_away": "Loops taken away in the period",
    "first_contact_resolution": "Cases solved in the period (first-contact resolution)",
    "recovered": "Carts and applications recovered in the period",
    "promises_made": "Promises made in the period",
    "promises_kept": "Promises made in the period and kept",
    "promises_broken": "Promises made in the period and broken",
    "csat": "CSAT answers given in the period",
    "nps": "NPS answers given in the period",
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
        cells.append(
            {
                "name": name,
                "heading": heading,
                "shown": shown,
                "link": link,
                "definition": METRICS[name],
            }
        )
    return cells


def _when(at: Any) -> str:
    return f"{at:%d %b %H:%M}" if at is not None else "—"


def _loop_cell(lp: Any) -> dict[str, Any]:
    link = f"/customers/{lp.customer_id}/#loop-{lp.pk}" if lp.customer_id else ""
    return {"text": f"#{lp.pk} {lp.title}", "link": link}


def _person(user: Any) -> str:
    if user is None:
        return "—"
    return user.get_full_name() or user.username


def _case_cell(case: Any) -> dict[str, Any]:
    if case is None:
        return {"text": "no case"}
    return {"text": case.ref, "link": f"/cases/{case.ref}/"}


def _drill_table(drill: FigureRows) -> dict[str, Any] | None:
    """The rows of a figure the template has no table of its own for, as a generic table:
    its head and, per row, an id and cells (text, optional link, numeric or not)."""
    f = drill.figure
    head: list[str]
    rows: list[dict[str, Any]] = []
    if f in ("loops_closed_on_time", "loops_closed_with_deadline", "breaches", "first_replies"):
        head = ["Loop", "Team", "Assignee now", "Due", "Closed", "On time"]
        if f == "breaches":
            head = ["Loop", "Team", "Assignee now", "Due", "Breached", "Ended", "State"]
        if f == "first_replies":
            head = ["Loop", "Team", "Assignee now", "Opened", "Replied", "Business minutes"]
        for lp in drill.items:
            cells = [_loop_cell(lp), {"text": lp.team.name if lp.team else "—"}]
            cells.append({"text": _person(lp.assignee)})
            if f == "breaches":
                cells += [
                    {"text": _when(lp.due_at)},
                    {"text": _when(lp.breached_at)},
                    {"text": _when(lp.closed_at)},
                    {"text": lp.get_state_display()},
                ]
            elif f == "first_replies":
                cells += [
                    {"text": _when(lp.opened_at)},
                    {"text": _when(lp.closed_at)},
                    {"text": str(lp.business_minutes), "num": True},
                ]
            else:
                on_time = lp.due_at is not None and lp.closed_at <= lp.due_at
                cells += [
                    {"text": _when(lp.due_at)},
                    {"text": _when(lp.closed_at)},
                    {"text": "yes" if on_time else "no"},
                ]
            rows.append({"id": f"rows-loop-{lp.pk}", "cells": cells})
    elif f == "reopened_cases":
        head = ["Case", "Customer", "Status now", "Reopened", "Times in the period"]
        for c in drill.items:
            rows.append(
                {
                    "id": f"rows-case-{c.number}",
                    "cells": [
                        _case_cell(c),
                        {"text": str(c.customer)},
                        {"text": c.get_status_display()},
                        {"text": _when(c.reopened_at)},
                        {"text": str(c.reopenings), "num": True},
                    ],
                }
            )
    elif f == "reassignments_away":
        head = ["When", "Loop", "Moved to", "By", "Reason"]
        teams, users = _targets(drill.items)
        for e in drill.items:
            rows.append(
                {
                    "id": f"rows-event-{e.pk}",
                    "cells": [
                        {"text": _when(e.at)},
                        _loop_cell(e.loop),
                        {"text": _moved_to(e, teams, users)},
                        {"text": _person(e.actor) if e.actor_id else "the SLA ladder"},
                        {"text": e.reason or "—"},
                    ],
                }
            )
    elif f in ("csat", "nps"):
        head = ["When", "Case", "Customer", "Score", "Band", "Comment"]
        for r in drill.items:
            rows.append(
                {
                    "id": f"rows-answer-{r.pk}",
                    "cells": [
                        {"text": _when(r.at)},
                        _case_cell(r.invite.case),
                        {"text": str(r.invite.customer)},
                        {"text": str(r.score), "num": True},
                        {"text": r.band or "—"},
                        {"text": (r.comment or "")[:120]},
                    ],
                }
            )
    else:
        return None
    return {"head": head, "rows": rows}


def _moved_to(event: Any, teams: dict[int, Any], users: dict[int, Any]) -> str:
    """Where a reassigned event moved the loop: its new team (loop_reassign's shape) and
    assignee, by name."""
    to = event.data.get("to") if isinstance(event.data, dict) else None
    names = []
    if isinstance(to, dict):
        if to.get("team") is not None:
            team = teams.get(to["team"])
            names.append(team.name if team else f"team {to['team']}")
        to = to.get("assignee")
    names.append(
        "nobody" if to is None else _person(users.get(to)) if to in users else f"user {to}"
    )
    return ", ".join(names)


def _targets(events: list[Any]) -> tuple[dict[int, Any], dict[int, Any]]:
    """The teams and users the reassigned ``events`` moved loops to, read once."""
    team_ids, user_ids = set(), set()
    for e in events:
        to = e.data.get("to") if isinstance(e.data, dict) else None
        if isinstance(to, dict):
            if isinstance(to.get("team"), int):
                team_ids.add(to["team"])
            to = to.get("assignee")
        if isinstance(to, int):
            user_ids.add(to)
    return Team.objects.in_bulk(team_ids), get_user_model().objects.in_bulk(user_ids)


@login_required
@require_GET
def scorecard_page(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    asked = {k: (request.GET.get(k) or "").strip() for k in ("period", "team", "agent", "rows")}
    context: dict[str, Any] = {
        **page_chrome(request, now),
        "asked": asked,
        "period_help": PERIOD_HELP,
        "columns": [(name, heading, METRICS[name]) for name, heading in COLUMNS],
        "definitions": [(name, METRICS[name]) for name in METRICS],
        "error": "",
        "cards": None,
        "team_own_note": TEAM_OWN_NOTE,
        "drill": None,
        "may_review": qa_may_sample(request.user),  # type: ignore[arg-type]
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
            context["drill_table"] = _drill_table(drill)
            context["drill_metric"] = ROWS[drill.figure]
            context["drill_limit"] = ROWS_LIMIT
        if len(cards.agents) == 1:
            user = user_by_username(cards.agents[0].key, field="agent")
            assert user is not None
            context["weeks"] = [
                {"period": p, "cells": _cells(card, p)}
                for p, card in agent_weeks(viewer=request.user, agent=user, now=now)
            ]
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
    """The loops behind a count: ``loop_list`` with the link's filters, as the loops API.

    A team or an agent the viewer may not see is a 404, as on the scorecards (not an empty
    list). ``open_at`` (an instant): the loops open at that instant, opened by then and not
    finished by then, whatever they are now: the dashboard's open and overdue tiles are a
    snapshot taken when its figures were computed, and their lists are of that instant."""
    now = utcnow()
    q = request.GET
    try:
        state = q.get("state") or None
        if state is not None and state not in LoopState.values:
            raise InvalidInput(
                "unknown state", [FieldError("state", "open, closed, broken or cancelled")]
            )
        breached = {"true": True, "false": False}.get(q.get("breached", ""))
        scope = scope_of(request.user)
        team = team_by_slug(q.get("team") or None)
        if team is not None and scope.named is not None and team.pk not in scope.named:
            raise NotFound(f"team {team.slug}")
        assignee = user_by_username(q.get("assignee") or None)
        if assignee is not None and scope.agents is not None and assignee.pk not in scope.agents:
            raise NotFound(f"agent {assignee.username}")
        breached_by = user_by_username(q.get("breached_by") or None, field="breached_by")
        held = breached_by.pk if breached_by is not None else None
        if held is not None and scope.agents is not None and held not in scope.agents:
            raise NotFound(f"agent {breached_by.username}")  # type: ignore[union-attr]
        open_at = _instant(q, "open_at")
        qs = loop_list(
            viewer=request.user,
            now=now,
            state=state,
            team=team.slug if team is not None else None,
            breached=breached,
            kind=q.get("kind") or None,
            due_before=_instant(q, "due_before"),
            assignee=assignee,
            breached_by=breached_by,
            closed_after=_instant(q, "closed_after"),
            closed_before=_instant(q, "closed_before"),
        ).order_by("-closed_at", "-pk")
        if open_at is not None:
            qs = qs.filter(opened_at__lte=open_at).filter(
                Q(closed_at__isnull=True) | Q(closed_at__gt=open_at)
            )
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
            "api_link": "" if open_at is not None else "/api/v1/loops?" + q.urlencode(),
            "open_at": open_at,
        },
    )


QA_FILTERS = ("agent", "team", "period", "case", "effective")


@login_required
@require_GET
def scorecard_qa(request: HttpRequest) -> HttpResponse:
    """The QA reviews behind a ``qa_score``: ``qa_review_list`` with the link's filters
    (agent, team, period, case, effective), as ``GET /api/v1/qa/reviews``."""
    now = utcnow()
    q = request.GET.copy()
    for key in list(q):
        if key not in QA_FILTERS:  # the sample form's fields are not the list's filters
            del q[key]
    chrome = {
        **page_chrome(request, now),
        **sample_context(request),
        "reviewed": (request.GET.get("reviewed") or "").isdigit() and request.GET["reviewed"],
    }
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


def _fmt_score(value: Any) -> str:
    """A mean sentiment score, always with two decimals (-0.20, not -0.2 beside -0.21)."""
    return "—" if value is None else f"{float(value):.2f}"


def _rows(period: str, team: str, figure: str) -> str:
    """The scorecard page listing the rows behind a figure of ``team`` for ``period``."""
    return "/scorecards/?" + urlencode({"period": period, "team": team, "rows": figure})


def _dash_rows(figure: str, team: str, week: Any) -> str:
    """The dashboard's own page of the rows behind ``figure`` of ``team`` (a slug, or
    ``none``) for ``week`` (its Monday)."""
    return "/scorecards/dashboard/rows/?" + urlencode(
        {"figure": figure, "team": team, "week": f"{week:%Y-%m-%d}"}
    )


UNAVAILABLE = "unavailable"


def _funnel_cell(c: dict[str, Any], none: str | None) -> dict[str, Any]:
    """The funnel close rate's value and note: ``none`` when there is no funnel to count,
    unavailable with the engine's reason when it failed (not 0: nothing was counted)."""
    if c.get("funnel_error"):
        return {
            "value": UNAVAILABLE,
            "note": f"the analytics engine failed: {c['funnel_error']}",
            "unavailable": True,
        }
    return {
        "value": _fmt(c.get("funnel_close_rate"), " %"),
        "note": none or f"{c.get('funnel_closed', 0)} of {c.get('funnel_entered', 0)} entered",
    }


def _week_cells(td: rollups.TeamDashboard, i: int, now: Any) -> dict[str, dict[str, Any]]:
    """Week ``i`` (of ``td.weeks``) of one team: each weekly figure's value, note and link
    to the rows behind it."""
    c = td.weekly[i]
    week = td.weeks[i]
    slug = td.team.slug
    start = rollups.week_start(week)
    period = f"{week:%G-W%V}"
    window = {
        "closed_after": _iso(start),
        "closed_before": _iso(start + timedelta(days=7)),
        "team_own": "false",
    }
    return {
        "breach_rate": {
            "value": _fmt(c.get("breach_rate"), " %"),
            "note": f"{c.get('breaches', 0)} of {c.get('loops_finished', 0)} finished",
            "link": _drill(team=slug, breached="true", **window),
        },
        "on_time_rate": {
            "value": _fmt(c.get("on_time_rate"), " %"),
            "note": f"{c.get('loops_closed', 0)} closed",
            "link": _drill(team=slug, state="closed", **window),
        },
        "promises_broken": {
            "value": _fmt(c.get("promises_broken")),
            "note": "broken",
            "link": _drill(team=slug, kind="promise", state="broken", **window),
        },
        "csat": {
            "value": _fmt(c.get("csat"), " %"),
            "note": _answers(c.get("csat_responses", 0)),
            "link": _dash_rows("csat", slug, week),
        },
        "nps": {
            "value": _fmt(c.get("nps")),
            "note": _answers(c.get("nps_responses", 0)),
            "link": _dash_rows("nps", slug, week),
        },
        "sentiment": {
            "value": _fmt_score(c.get("sentiment")),
            "note": _messages(c.get("sentiment_messages", 0)) + ", -1 to 1",
            "link": _dash_rows("sentiment", slug, week),
        },
        "deliveries_on_time": {
            "value": _fmt(c.get("deliveries_on_time"), " %"),
            "note": f"{c.get('jobs_due', 0)} due",
            "link": _dash_rows("deliveries_on_time", slug, week),
        },
        "first_contact_resolution": {
            "value": _fmt(c.get("first_contact_resolution"), " %"),
            "note": f"{c.get('first_contact_resolved', 0)} of {c.get('cases_solved', 0)} solved",
            "link": _rows(period, slug, "first_contact_resolution"),
        },
        "funnel_close_rate": {
            **_funnel_cell(c, "the team owns no funnel" if not td.funnels else None),
            "link": _dash_rows("funnel_close_rate", slug, week),
        },
        "recovery_rate": {
            "value": _fmt(c.get("recovery_rate"), " %"),
            "note": f"{c.get('recoveries_recovered', 0)} won back, {c.get('recoveries_lost', 0)} lost",
            "link": _dash_rows("recovery_rate", slug, week),
        },
        "revenue_recovered": {
            "value": rollups.revenue_words(c.get("revenue_recovered") or []),
            "note": "per currency, not converted",
            "link": _dash_rows("revenue_recovered", slug, week),
        },
        "alerts": _alerts_cell(c, _dash_rows("alerts", slug, week)),
    }


# The weekly tiles, in order, with their labels; each shows the last complete week and the
# week in progress beside it.
WEEKLY_TILES: list[tuple[str, str]] = [
    ("breach_rate", "Breach rate"),
    ("on_time_rate", "On-time rate"),
    ("promises_broken", "Promises broken"),
    ("csat", "CSAT"),
    ("nps", "NPS"),
    ("sentiment", "Sentiment"),
    ("deliveries_on_time", "Deliveries on time"),
    ("first_contact_resolution", "First-contact resolution"),
    ("funnel_close_rate", "Funnel close rate"),
    ("recovery_rate", "Recovery rate"),
    ("revenue_recovered", "Revenue recovered"),
    ("alerts", "Loudest social alerts"),
]


def _week_words(week: Any, now: Any) -> str:
    if week == rollups.week_of(now):
        return "This week so far"
    return f"Last week, {week:%d %b}–{week + timedelta(days=6):%d %b}"


def _tiles(td: rollups.TeamDashboard, now: Any) -> list[dict[str, Any]]:
    """One team's tiles: the open loops now, then each weekly figure for the last complete
    week and, beside it, the week in progress; every value links to the rows behind it."""
    c = td.weekly[-1]
    slug = td.team.slug
    late = ""
    if c.get("overdue_loops"):
        late = (
            f"mean {_fmt(c['overdue_mean_hours'])} h, "
            f"95th percentile {_fmt(c['overdue_p95_hours'])} h late"
        )
    shown = [i for i in (-2, -1) if len(td.weeks) >= -i]
    cells = {i: _week_cells(td, i, now) for i in shown}
    words = {i: _week_words(td.weeks[i], now) for i in shown}
    # The open and overdue loops are the snapshot the rollups took when they were last
    # computed: the tile says when, and its list is of that instant (``open_at``), so the
    # number and the rows agree. Not computed yet: the live list.
    row = td.rows[-1] if td.rows else None
    at = row.snapshot_at if row is not None else None
    when = f"At {at:%H:%M} UTC" if at is not None else "Now"
    if at is not None:
        open_link = _drill(team=slug, open_at=_iso(at), team_own="false")
        overdue_link = _drill(team=slug, open_at=_iso(at), due_before=_iso(at), team_own="false")
    else:
        open_link = _drill(team=slug, state="open", team_own="false")
        overdue_link = _drill(team=slug, state="open", due_before=_iso(now), team_own="false")
    tiles = [
        {
            "name": "open_loops",
            "label": "Open loops",
            "cells": [
                {
                    "when": when,
                    "key": "now",
                    "value": _fmt(c.get("open_loops")),
                    "note": "open then" if at is not None else "open now",
                    "link": open_link,
                }
            ],
        },
        {
            "name": "overdue_loops",
            "label": "Overdue",
            "cells": [
                {
                    "when": when,
                    "key": "now",
                    "value": _fmt(c.get("overdue_loops")),
                    "note": late or "none past its deadline",
                    "link": overdue_link,
                }
            ],
        },
    ]
    for name, label in WEEKLY_TILES:
        tiles.append(
            {
                "name": name,
                "label": label,
                "cells": [
                    {"when": words[i], "key": "current" if i == -1 else "last", **cells[i][name]}
                    for i in shown
                ],
            }
        )
    return tiles


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
        "First-contact resolution, funnel close rate and recovery rate (%)",
        "line",
        "%",
        [
            ("first_contact_resolution", "First-contact resolution"),
            ("funnel_close_rate", "Funnel close rate"),
            ("recovery_rate", "Recovery rate"),
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
        charts.append(
            {
                "id": f"chart-{td.team.slug}-{key}",
                "title": f"{td.team.name}: {title}",
                "type": kind,
                "unit": unit,
                "labels": labels,
                "series": data,
                **_table(labels, data),
            }
        )
    return charts


def _table(labels: list[str], data: list[dict[str, Any]]) -> dict[str, str]:
    """A chart's table view, its head and body rows, as HTML built here rather than by the
    template: 20 teams' seven 13-week tables are most of the admin's page, and the
    template engine took most of its time over them (bench/DASHBOARD.md)."""
    head = "".join(f'<th class="num">{escape(s["label"])}</th>' for s in data)
    body = "".join(
        f'<tr><th scope="row">{escape(w)}</th>'
        + "".join(f'<td class="num">{escape(_fmt(s["data"][i]))}</td>' for s in data)
        + "</tr>"
        for i, w in enumerate(labels)
    )
    return {
        "thead": mark_safe(f"<tr><th>Week of</th>{head}</tr>"),  # noqa: S308 (escaped above)
        "tbody": mark_safe(body),  # noqa: S308 (every value escaped above)
    }


def _agent_worsening(a: rollups.AgentTrend) -> dict[str, Any]:
    """A worsening agent with the links to their scorecard and breached loops of the weeks
    judged."""
    name = a.agent.username
    return {
        "username": name,
        "name": a.agent.get_full_name() or name,
        "reasons": a.trend.reasons,
        "scorecard": "/scorecards/?"
        + urlencode({"period": f"{a.since:%Y-%m-%d}..{a.until:%Y-%m-%d}", "agent": name}),
        "breaches": "/scorecards/?"
        + urlencode(
            {
                "period": f"{a.since:%Y-%m-%d}..{a.until:%Y-%m-%d}",
                "agent": name,
                "rows": "breaches",
            }
        ),
    }


NO_TEAM_TILES: list[tuple[str, str]] = [
    ("csat", "CSAT"),
    ("nps", "NPS"),
    ("funnel_close_rate", "Funnel close rate"),
    ("alerts", "Loudest social alerts"),
]


def _alerts_cell(c: dict[str, Any], link: str) -> dict[str, Any]:
    """The alerts' value, note and link, and the loudest of them, each linking to its room."""
    alerts = c.get("alerts") or 0  # a count: none is 0, as its list says
    return {
        "value": _fmt(alerts),
        "note": "raised" if alerts else "none raised",
        "link": link,
        "top": [
            {
                "link": f"/alerts/{a['id']}/",
                "id": a["id"],
                "text": f"{a['term']}: {a['signal']}",
                "mentions": a["mentions"],
                "state": a["state"],
            }
            for a in c.get("alerts_top") or []
        ],
    }


def _no_team_cell(name: str, c: dict[str, Any], week: Any, funnels: bool) -> dict[str, Any]:
    if name == "funnel_close_rate":
        return {
            **_funnel_cell(c, "no funnel without a team" if not funnels else None),
            "link": _dash_rows(name, "none", week),
        }
    if name == "alerts":
        return _alerts_cell(c, _dash_rows(name, "none", week))
    unit = " %" if name == "csat" else ""
    return {
        "value": _fmt(c.get(name), unit),
        "note": _answers(c.get(f"{name}_responses", 0)),
        "link": _dash_rows(name, "none", week),
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
    no_team = None
    if board.no_team is not None:
        nt = board.no_team
        shown = [i for i in (-2, -1) if len(board.weeks) >= -i]
        no_team = {
            "figures": [
                {
                    "name": name,
                    "label": label,
                    "cells": [
                        {
                            "when": _week_words(board.weeks[i], now),
                            "key": "current" if i == -1 else "last",
                            **_no_team_cell(name, nt.weekly[i], board.weeks[i], bool(nt.funnels)),
                        }
                        for i in shown
                    ],
                }
                for name, label in NO_TEAM_TILES
            ],
        }
    context = {
        **page_chrome(request, now),
        "board": board,
        "no_team": no_team,
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


ROWS_FIGURES: dict[str, str] = {
    "csat": "CSAT answers",
    "nps": "NPS answers",
    "sentiment": "Customers' messages with a sentiment score",
    "deliveries_on_time": "Deliveries and visits whose window ended",
    "funnel_close_rate": "Sales funnels: people who entered and closed",
    "alerts": "Social listening alerts raised",
    "recovery_rate": "Recoveries that ended: won back or lost",
    "revenue_recovered": "Carts and applications recovered, with their revenue",
}
NO_TEAM_FIGURES = ("csat", "nps", "funnel_close_rate", "alerts")


def _rows_summary(
    figure: str, team_id: int | None, week: Any, now: Any
) -> tuple[str, str, Any, list[Any]]:
    """The rows behind a dashboard figure: (value as the tile shows it, a sentence, the
    count, the first ``DRILL_LIMIT`` rows)."""
    start = rollups.week_start(week)
    end = min(start + timedelta(days=7), now)
    if figure == "sentiment":
        assert team_id is not None
        msgs = rollups.sentiment_rows(team_id, start, end)
        agg = msgs.aggregate(n=Count("pk"), mean=Avg("sentiment_score"))
        mean = None if agg["mean"] is None else round(round(agg["mean"], 4), 2)
        items: list[Any] = list(
            msgs.select_related("case", "customer").order_by("-occurred_at", "-pk")[:DRILL_LIMIT]
        )
        said = _fmt_score(mean)
        return said, f"{_messages(agg['n'])}, mean score {said}", agg["n"], items
    if figure == "deliveries_on_time":
        assert team_id is not None
        jobs = rollups.jobs_rows(team_id, start, end, now)
        items = list(jobs.select_related("customer", "case").order_by("window_end", "pk"))
        n, on_time = len(items), sum(1 for j in items if j.on_time > 0)
        value = _fmt(rollups._pct(on_time, n), " %")
        return value, f"{on_time} of {n} on time", n, items[:DRILL_LIMIT]
    if figure in ("csat", "nps"):
        answers = rollups.answer_rows(figure, team_id, start, end)
        agg = answers.aggregate(
            n=Count("pk"),
            happy=Count("pk", filter=Q(score__gte=4)),
            promoters=Count("pk", filter=Q(band=Band.PROMOTER)),
            detractors=Count("pk", filter=Q(band=Band.DETRACTOR)),
        )
        items = list(
            answers.select_related("invite__case", "invite__customer").order_by("-at", "-pk")[
                :DRILL_LIMIT
            ]
        )
        n = agg["n"]
        if figure == "csat":
            value = _fmt(rollups._pct(agg["happy"], n), " %")
            return value, f"{agg['happy']} of {_answers(n)} 4 or 5", n, items
        nps = round(100 * (agg["promoters"] - agg["detractors"]) / n, 1) if n else None
        words = (
            f"{_counted(agg['promoters'], 'promoter')}, "
            f"{_counted(agg['detractors'], 'detractor')} of {_answers(n)}"
        )
        return _fmt(nps), words, n, items
    if figure in ("recovery_rate", "revenue_recovered"):
        assert team_id is not None
        ended = rollups.recovery_rows(team_id, start, end)
        if figure == "revenue_recovered":
            ended = ended.filter(outcome=Outcome.RECOVERED)
        found: list[Any] = list(
            ended.select_related("rule", "customer", "loop").order_by("-closed_at", "-pk")
        )
        won = [r for r in found if r.outcome == Outcome.RECOVERED]
        n = len(found)
        if figure == "recovery_rate":
            words = f"{len(won)} won back, {n - len(won)} lost"
            return _fmt(rollups._pct(len(won), n), " %"), words, n, found[:DRILL_LIMIT]
        amounts: dict[str, Decimal] = {}
        for r in won:
            if r.revenue is not None:
                cur = r.revenue_currency or ""
                amounts[cur] = amounts.get(cur, Decimal(0)) + r.revenue
        revenue = [(c, v.quantize(rollups.CENT)) for c, v in amounts.items() if v]
        revenue.sort(key=lambda cv: (-cv[1], cv[0]))
        words = f"{n} recovered, per currency, not converted"
        return rollups.revenue_words(revenue), words, n, found[:DRILL_LIMIT]
    if figure == "funnel_close_rate":
        rows = list(rollups.funnel_rows(team_id, week))
        entered = sum(r.entered for r in rows)
        closed = sum(r.closed for r in rows)
        sunday = week + timedelta(days=6)
        for r in rows:
            r.link = "/recovery/?" + urlencode(  # type: ignore[attr-defined]
                {"funnel": r.funnel_id, "start": f"{week:%Y-%m-%d}", "end": f"{sunday:%Y-%m-%d}"}
            )
            r.rate = (  # type: ignore[attr-defined]
                UNAVAILABLE if r.error else _fmt(rollups._pct(r.closed, r.entered), " %")
            )
        failed = [r for r in rows if r.error]
        if failed:
            words = (
                f"the analytics engine failed on {len(failed)} of {len(rows)} "
                f"funnel{'s' if len(rows) != 1 else ''} (the reason is on each row)"
            )
            return UNAVAILABLE, words, entered, rows
        value = _fmt(rollups._pct(closed, entered), " %")
        return value, f"{closed} of {entered} entered closed", entered, rows
    alerts = rollups.alert_rows(team_id, start, end).select_related("term")
    items = list(alerts[:DRILL_LIMIT])
    n = alerts.count() if len(items) == DRILL_LIMIT else len(items)
    return _fmt(n), f"{n} raised", n, items


@login_required
@require_GET
def dashboard_rows(request: HttpRequest) -> HttpResponse:
    """The rows behind one of the dashboard's figures for one team (``none``: what no
    team's figures count, an admin's) and one week: the same filters as the rollups, counted
    again now, so the page recounts the tile."""
    now = utcnow()
    figure = request.GET.get("figure", "")
    slug = request.GET.get("team", "")
    try:
        week = date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        week = None
    if figure not in ROWS_FIGURES or week is None or week.weekday() != 0:
        return HttpResponseBadRequest(
            "figure: one of " + ", ".join(ROWS_FIGURES) + "; week: a Monday (YYYY-MM-DD)"
        )
    visible = visible_team_ids(request.user)
    team = None
    if slug == "none":
        if figure not in NO_TEAM_FIGURES or visible is not None:
            raise Http404("no such rows")
    else:
        try:
            team = team_by_slug(slug)
        except DomainError:
            team = None
        if team is None or (visible is not None and team.pk not in visible):
            raise Http404("no such team")
    value, words, count, items = _rows_summary(figure, team.pk if team else None, week, now)
    return render(
        request,
        "scorecards/dashboard_rows.html",
        {
            **page_chrome(request, now),
            "figure": figure,
            "heading": ROWS_FIGURES[figure],
            "team": team,
            "week": week,
            "sunday": week + timedelta(days=6),
            "value": value,
            "words": words,
            "count": count,
            "items": items,
            "limit": DRILL_LIMIT,
            "definition": rollups.DEFINITIONS.get(
                "no_team" if team is None and figure in ("csat", "nps") else figure, ""
            ),
        },
    )


def _counted(n: int, word: str) -> str:
    """``n`` and ``word``, plural unless ``n`` is one: "1 detractor", "2 detractors"."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _messages(n: int) -> str:
    return _counted(n, "message")


def _answers(n: int) -> str:
    return _counted(n, "answer")

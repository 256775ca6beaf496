"""Scorecards: outcome metrics per agent and per team for a period, each with one written
definition (``METRICS``), computed from the rows the console shows and scoped to a viewer.

Every count is one grouped query (``GROUP BY`` the assignee or the team, conditional
``COUNT``s), portable between SQLite and PostgreSQL. The one exception is the median first
reply in business minutes: a loop does not store the business time it took once it is
closed (only the time banked by pauses), so it is worked out here from each first-reply
loop's clock and calendar, one read of those loops for the whole period and scope.

Periods are whole days in UTC: teams have no time zone of their own (a loop's calendar
belongs to its SLA policy, not to its team), so a week or a month is judged in UTC and the
answer says so (``Period.timezone``).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.db.models import (
    Avg,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from lastmile.cases.models import Case, CaseEvent, CaseStatus
from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.customers.models import Direction, Interaction
from lastmile.feedback.models import Band, Response, SurveyKind
from lastmile.loops.business_time import business_time_between
from lastmile.loops.models import (
    TEAM_OWN_KINDS,
    Loop,
    LoopEvent,
    LoopEventKind,
    LoopKind,
    LoopState,
    SlaTarget,
)
from lastmile.loops.selectors import event_data_text as _text
from lastmile.loops.selectors import loops_visible, with_breach_owner
from lastmile.loops.services import calendar_of
from lastmile.people.models import Agent, Role, Team
from lastmile.people.selectors import agent_for, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check
from lastmile.promises.selectors import promise_kept_rate, promise_list
from lastmile.recovery.models import Outcome, Recovery
from lastmile.scorecards.models import QaReview

TIMEZONE = "UTC"
TIMEZONE_NOTE = (
    "periods are whole days in UTC: teams have no time zone of their own, so a week or a "
    "month begins at 00:00 UTC"
)

# One written definition per metric, returned by the API beside the numbers and shown next
# to them on the page. "The agent's" means assigned to the agent now (the loop's, the case's
# assignee); a team's means owned by the team now. "In the period": at or after its start and
# before its end. "Loops" are the customers' loops: a team's own loops (TEAM_OWN_KINDS: an
# alert's acknowledgement, a lead's coaching, a pay dispute) are work a team owes itself, not
# a customer, and no loop figure counts them.
TEAM_OWN_NOTE = (
    "Only customers' loops count: a team's own loops (an alert's acknowledgement, coaching, "
    "a pay dispute) are left out of every loop figure (team_own=false in the links)."
)
METRICS: dict[str, str] = {
    "loops_closed": (
        "Customers' loops assigned to the agent (of the team) that were closed in the period; "
        "cancelled and broken loops are not counted, nor a team's own loops (acknowledgement, "
        "coaching, pay dispute). Drill-down: the loops API with state=closed, assignee "
        "(team), closed_after, closed_before and team_own=false."
    ),
    "loops_closed_with_deadline": (
        "Of loops_closed, those that had a deadline (due_at) when they closed. A loop with no "
        "deadline (no SLA policy matched it, or it was closed while paused) counts as closed "
        "but neither on time nor late."
    ),
    "loops_closed_on_time": (
        "Of loops_closed, those closed at or before their deadline (closed_at <= due_at). A "
        "loop closed with no deadline is not on time."
    ),
    "on_time_rate": (
        "loops_closed_on_time / loops_closed_with_deadline, from 0 to 1; null when no loop "
        "with a deadline was closed. Loops without a deadline are left out so that a missing "
        "policy neither helps nor hurts."
    ),
    "breaches": (
        "Customers' loops assigned to the agent (of the team) that finished in the period "
        "(closed, broken or cancelled) and had breached: the sweeper marked them breached "
        "when their deadline passed. Counted when the loop finishes, so each breach counts "
        "once; a team's own loops are left out. An agent's breach is the one of the agent who "
        "held the loop when it breached (the SLA ladder's later hand-over to the lead does "
        "not move it). Drill-down: the loops API with breached_by (a team: team and "
        "breached=true), closed_after, closed_before and team_own=false."
    ),
    "first_reply_median_business_minutes": (
        "Median, over the reply loops on the first-reply target closed in the period, of the "
        "time from the customer's message to the reply in business minutes: the loop's SLA "
        "clock (its policy's business hours; 24/7 under no policy), paused time left out. "
        "Null when there was no such loop."
    ),
    "first_replies": "How many reply loops the first-reply median is taken over.",
    "reopened_cases": (
        "Cases assigned to the agent (of the team) that went from solved or closed back to "
        "open or pending in the period (the customer wrote again), each case once."
    ),
    "reassignments_away": (
        "Times a loop was taken from the agent in the period: its trail's reassigned events "
        "whose previous assignee was the agent and whose new one is someone else or nobody "
        "(the sweeper's hand-over to the lead included). For a team: loops moved to another "
        "team."
    ),
    "first_contact_resolution": (
        "Of cases_solved, the share resolved at first contact: solved with exactly one reply "
        "to the customer and never reopened (first_contact_resolved / cases_solved, from 0 "
        "to 1; null when no case was solved). A reply is an outbound message on the case "
        "written by a person, on any channel; automatic notices and surveys (no author) "
        "and internal notes are not replies. Drill-down: the scorecard page's list of the "
        "solved cases (rows=first_contact_resolution), each with its replies and reopenings."
    ),
    "cases_solved": (
        "Cases assigned to the agent (of the team) whose latest solve (solved_at) falls in "
        "the period, whatever they are now: the base of first_contact_resolution."
    ),
    "first_contact_resolved": (
        "Of cases_solved, those with exactly one reply and no reopening (solved or closed "
        "back to open or pending) at any time."
    ),
    "promises_made": (
        "Promises the agent made (a team: promises the team must keep) in the period, as "
        "the promise ledger records them; renegotiated and withdrawn ones included. "
        "Drill-down: the promises API with made_by (team), made_after and made_before."
    ),
    "promises_kept": (
        "Of promises_made, those marked kept (as they stand now); the promises API link "
        "adds state=kept."
    ),
    "promises_broken": (
        "Of promises_made, those marked broken (as they stand now); the promises API link "
        "adds state=broken."
    ),
    "csat": (
        "Percent of CSAT answers of 4 or 5 (on 1-5) given in the period on cases assigned to "
        "the agent (of the team); null without answers."
    ),
    "csat_responses": "How many CSAT answers the csat figure is taken over.",
    "nps": (
        "Net Promoter Score of the NPS answers given in the period on cases assigned to the "
        "agent (of the team): percent of 9-10 answers minus percent of 0-6 answers, from "
        "-100 to 100; null without answers. A relationship NPS, asked of a customer rather "
        "than about a case, is about the whole business, not about who handled a case: it "
        "counts for no agent here, and on the dashboard for the team that owns the survey."
    ),
    "nps_responses": "How many NPS answers the nps figure is taken over.",
    "recovered": (
        "Recovery loops assigned to the agent (of the team) whose abandoned cart or "
        "application was recovered (the person completed it) in the period. Drill-down: the "
        "scorecard page's list of those recoveries (rows=recovered)."
    ),
    "revenue_recovered": (
        "The revenue of the recoveries counted in recovered: the completing event's revenue "
        "(else its value), as recovery recorded it, summed per currency and never converted: "
        "one amount per currency, largest first ([] when nothing was recovered; a "
        "recovery whose event named no revenue adds nothing, one that named no currency "
        'adds to currency ""). Drill-down: as recovered.'
    ),
    "qa_score": (
        "Mean of the effective QA reviews of the agent's conversations (a team: of the "
        "team's cases) dated in the period (when the case was solved): a lead's or an "
        "admin's review, or the automatic first pass's unless a reviewer overrode it (then "
        "the latest override). Each review is 0-100: every category scored as "
        "(score - min) / (max - min) * 100, the weighted mean of those, or 0 when a critical "
        "category is under 50 %. Null without reviews. Drill-down: the QA reviews API with "
        "agent (team), period and effective=true."
    ),
    "qa_reviews": "How many effective QA reviews the qa_score is the mean of.",
}

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_CUSTOM = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
MAX_CUSTOM_DAYS = 366
PERIOD_HELP = "a week 2026-W48, a month 2026-11, or days 2026-11-01..2026-11-15 (both included)"


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in UTC, named by ``key`` as it was asked for."""

    key: str
    kind: str  # week, month, custom
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "timezone": TIMEZONE,
            "note": TIMEZONE_NOTE,
        }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _bad_period(reason: str) -> InvalidInput:
    return InvalidInput(f"bad period: {reason}", [FieldError("period", reason)])


def period_parse(text: str | None, *, now: datetime) -> Period:
    """The period ``text`` names (``PERIOD_HELP``); none: the month of ``now``. InvalidInput
    (422) naming ``period`` for anything else, a year outside 2000-2199 included."""
    if text is None or not text.strip():
        text = f"{now.astimezone(UTC):%Y-%m}"
    text = text.strip()
    try:
        if m := _WEEK.match(text):
            year, week = int(m[1]), int(m[2])
            _year_check(year)
            monday = date.fromisocalendar(year, week, 1)
            return Period(text, "week", _midnight(monday), _midnight(monday + timedelta(days=7)))
        if m := _MONTH.match(text):
            year, month = int(m[1]), int(m[2])
            _year_check(year)
            first = date(year, month, 1)
            following = date(year + month // 12, month % 12 + 1, 1)
            return Period(text, "month", _midnight(first), _midnight(following))
        if m := _CUSTOM.match(text):
            first, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            _year_check(first.year)
            _year_check(last.year)
        else:
            raise _bad_period(f"not {PERIOD_HELP}")
    except ValueError as exc:
        raise _bad_period(f"{text[:40]!r} is no such date: {exc}") from None
    if last < first:
        raise _bad_period("the last day is before the first")
    if (last - first).days + 1 > MAX_CUSTOM_DAYS:
        raise _bad_period(f"at most {MAX_CUSTOM_DAYS} days")
    return Period(text, "custom", _midnight(first), _midnight(last + timedelta(days=1)))


def _year_check(year: int) -> None:
    if not 2000 <= year <= 2199:
        raise _bad_period("the year must be between 2000 and 2199")


# --- who sees which rows -----------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Whose scorecards a viewer may read: ``agents`` (user ids; None: everyone's) and
    ``teams`` (team ids; None: every team's). An agent sees only their own row; a lead the
    agents and teams they lead or work in; an admin, a superuser and ``SYSTEM`` everything.
    ``named``: the teams the viewer may narrow to (their own, for an agent too: their row)."""

    agents: frozenset[int] | None
    teams: frozenset[int] | None
    named: frozenset[int] | None


def scope_of(viewer: Viewer) -> Scope:
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        return Scope(None, None, None)
    teams = visible_team_ids(viewer)
    if teams is None:
        return Scope(None, None, None)
    agent = agent_for(viewer)
    if agent is not None and agent.role == Role.LEAD:
        members = Agent.objects.filter(teams__id__in=teams).values_list("user_id", flat=True)
        return Scope(frozenset(members) | {viewer.pk}, frozenset(teams), frozenset(teams))
    me = frozenset({viewer.pk}) if agent is not None else frozenset()
    return Scope(me, frozenset(), frozenset(teams))


# --- the scorecards --------------------------------------------------------------------------


@dataclass
class Scorecard:
    """One agent's or one team's metrics (``METRICS``'s names) and drill-down links."""

    key: str  # the agent's username, the team's slug
    name: str
    team: str | None
    teams: list[str]
    metrics: dict[str, Any]
    links: dict[str, str] = field(default_factory=dict)
    team_names: list[str] = field(default_factory=list)  # for people, as ``teams`` orders them


@dataclass
class Scorecards:
    period: Period
    agents: list[Scorecard]
    teams: list[Scorecard]


def scorecards(
    *,
    viewer: Viewer,
    period: Period,
    team: Team | None = None,
    agent: User | None = None,
) -> Scorecards:
    """The scorecards of the agents and teams ``viewer`` may see for ``period``, narrowed to
    ``team`` and/or ``agent`` (NotFound, as if missing, when the viewer may not see them).

    Agent rows: every agent of the scope who is a member of one of its teams (narrowed: of
    ``team``), with zeros when they did nothing; a team-less admin has no row. Team rows:
    the teams of the scope (narrowed: ``team``, else ``agent``'s teams).
    Loop counts read the loops the viewer may see, exactly what ``GET /api/v1/loops`` gives
    the same viewer with the filters of each row's links.
    """
    scope = scope_of(viewer)
    if team is not None and scope.named is not None and team.pk not in scope.named:
        raise NotFound(f"team {team.slug}")
    if agent is not None and scope.agents is not None and agent.pk not in scope.agents:
        raise NotFound(f"agent {agent.username}")
    # An agent row is a member of a team of the scope: an admin by role who works in no
    # team (the demo's admin) sees every team's work but is nobody's agent, so has no row.
    members = Agent.teams.through.objects.all()
    if scope.named is not None:
        members = members.filter(team_id__in=scope.named)
    agents_qs = (
        Agent.objects.select_related("user")
        .prefetch_related("teams")
        .filter(pk__in=members.values("agent_id"))
    )
    if scope.agents is not None:
        agents_qs = agents_qs.filter(user_id__in=scope.agents)
    if team is not None:
        agents_qs = agents_qs.filter(teams=team)
    if agent is not None:
        agents_qs = agents_qs.filter(user_id=agent.pk)
    people = list(agents_qs.order_by("user__username"))
    teams_qs = Team.objects.all()
    if scope.teams is not None:
        teams_qs = teams_qs.filter(pk__in=scope.teams)
    if team is not None:
        teams_qs = teams_qs.filter(pk=team.pk)
    elif agent is not None:
        teams_qs = teams_qs.filter(agents__user_id=agent.pk)
    teams = list(teams_qs.order_by("name"))

    agent_ids = [a.user_id for a in people]
    team_ids = [t.pk for t in teams]
    by_agent = _metrics(viewer, period, "assignee_id", agent_ids)
    by_team = _metrics(viewer, period, "team_id", team_ids)
    promises_by_user = {
        r.key: r
        for r in promise_kept_rate(by="agent", since=period.start, until=period.end, viewer=viewer)
    }
    promises_by_team = {
        r.key: r
        for r in promise_kept_rate(by="team", since=period.start, until=period.end, viewer=viewer)
    }
    agent_rows = []
    for a in people:
        m = by_agent[a.user_id]
        kept = promises_by_user.get(a.user.username)
        _promises(m, kept)
        slugs = sorted(t.slug for t in a.teams.all())
        names = {t.slug: t.name for t in a.teams.all()}
        agent_rows.append(
            Scorecard(
                key=a.user.username,
                name=a.user.get_full_name() or a.user.username,
                team=slugs[0] if slugs else None,
                teams=slugs,
                metrics=m,
                links={
                    **loop_links(period, assignee=a.user.username),
                    **qa_links(period, agent=a.user.username),
                    **promise_links(period, made_by=a.user.username),
                    **row_links(period, agent=a.user.username),
                },
                team_names=[names[slug] for slug in slugs],
            )
        )
    team_rows = []
    for t in teams:
        m = by_team[t.pk]
        _promises(m, promises_by_team.get(t.slug))
        team_rows.append(
            Scorecard(
                key=t.slug,
                name=t.name,
                team=t.slug,
                teams=[t.slug],
                metrics=m,
                links={
                    **loop_links(period, team=t.slug),
                    **qa_links(period, team=t.slug),
                    **promise_links(period, team=t.slug),
                    **row_links(period, team=t.slug),
                },
                team_names=[t.name],
            )
        )
    return Scorecards(period=period, agents=agent_rows, teams=team_rows)


TREND_WEEKS_SHOWN = 8


def agent_weeks(
    *, viewer: Viewer, agent: User, now: datetime, weeks: int = TREND_WEEKS_SHOWN
) -> list[tuple[Period, Scorecard]]:
    """The agent's scorecard week by week, the last ``weeks`` weeks up to the one in
    progress, oldest first: every metric, counted as a week's scorecard counts it (so each
    week's numbers link to their rows like any scorecard's). NotFound when ``viewer`` may
    not see the agent."""
    scope = scope_of(viewer)
    if scope.agents is not None and agent.pk not in scope.agents:
        raise NotFound(f"agent {agent.username}")
    monday = now.astimezone(UTC).date() - timedelta(days=now.astimezone(UTC).weekday())
    out = []
    for i in range(weeks - 1, -1, -1):
        day = monday - timedelta(weeks=i)
        iso = day.isocalendar()
        period = period_parse(f"{iso.year}-W{iso.week:02d}", now=now)
        m = _metrics(viewer, period, "assignee_id", [agent.pk])[agent.pk]
        rates = promise_kept_rate(by="agent", since=period.start, until=period.end, viewer=viewer)
        _promises(m, next((r for r in rates if r.key == agent.username), None))
        name = agent.get_full_name() or agent.username
        links = {
            **loop_links(period, assignee=agent.username),
            **qa_links(period, agent=agent.username),
            **promise_links(period, made_by=agent.username),
            **row_links(period, agent=agent.username),
        }
        out.append((period, Scorecard(agent.username, name, None, [], m, links)))
    return out


def _promises(m: dict[str, Any], rate: Any) -> None:
    m["promises_made"] = rate.made if rate else 0
    m["promises_kept"] = rate.kept if rate else 0
    m["promises_broken"] = rate.broken if rate else 0


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def loop_links(
    period: Period, *, assignee: str | None = None, team: str | None = None
) -> dict[str, str]:
    """The loops API queries a row's loop counts come from: ``loops_closed`` (state=closed),
    ``breaches`` (breached=true) and ``loops`` (every loop finished in the period), the
    customers' loops only (``team_own=false``)."""
    who = {"assignee": assignee} if assignee is not None else {"team": team}
    window = {
        "closed_after": _iso(period.start),
        "closed_before": _iso(period.end),
        "team_own": "false",
    }
    base = "/api/v1/loops?"
    return {
        "loops_closed": base + urlencode({**who, "state": "closed", **window}),
        # an agent's: breached while they held the loop, whoever holds it now
        "breaches": base
        + urlencode(
            {"breached_by": assignee, **window}
            if assignee is not None
            else {**who, "breached": "true", **window}
        ),
        "loops": base + urlencode({**who, **window}),
    }


def promise_links(
    period: Period, *, made_by: str | None = None, team: str | None = None
) -> dict[str, str]:
    """The promises API queries a row's promise counts come from: made by the agent (a
    team: kept by the team) in the period, and of those the kept and the broken."""
    who = {"made_by": made_by} if made_by is not None else {"team": team}
    window = {"made_after": _iso(period.start), "made_before": _iso(period.end)}
    base = "/api/v1/promises?"
    return {
        "promises_made": base + urlencode({**who, **window}),
        "promises_kept": base + urlencode({**who, **window, "state": "kept"}),
        "promises_broken": base + urlencode({**who, **window, "state": "broken"}),
    }


# Figures whose rows are listed on the scorecard page itself (``rows=``): no list API has
# their filters.
ROW_FIGURES = {
    "loops_closed_on_time": "loops_closed_on_time",
    "loops_closed_with_deadline": "loops_closed_with_deadline",
    "on_time_rate": "loops_closed_with_deadline",
    "breaches_held": "breaches",
    "first_reply_median_business_minutes": "first_replies",
    "first_replies": "first_replies",
    "reopened_cases": "reopened_cases",
    "reassignments_away": "reassignments_away",
    "first_contact_resolution": "first_contact_resolution",
    "cases_solved": "first_contact_resolution",
    "first_contact_resolved": "first_contact_resolution",
    "csat": "csat",
    "csat_responses": "csat",
    "nps": "nps",
    "nps_responses": "nps",
    "recovered": "recovered",
    "revenue_recovered": "recovered",
}


def row_links(
    period: Period, *, agent: str | None = None, team: str | None = None
) -> dict[str, str]:
    """The scorecard page listing the rows behind each figure no list API filters as the
    scorecards count (``breaches_held``: the breaches by who held the loop at the breach,
    which the loops API's ``assignee`` cannot say once the SLA ladder handed it on)."""
    who = {"agent": agent} if agent is not None else {"team": team}
    return {
        name: "/scorecards/?" + urlencode({"period": period.key, **who, "rows": rows})
        for name, rows in ROW_FIGURES.items()
    }


def _zero() -> dict[str, Any]:
    return {
        "loops_closed": 0,
        "loops_closed_with_deadline": 0,
        "loops_closed_on_time": 0,
        "on_time_rate": None,
        "breaches": 0,
        "first_reply_median_business_minutes": None,
        "first_replies": 0,
        "reopened_cases": 0,
        "reassignments_away": 0,
        "first_contact_resolution": None,
        "cases_solved": 0,
        "first_contact_resolved": 0,
        "promises_made": 0,
        "promises_kept": 0,
        "promises_broken": 0,
        "csat": None,
        "csat_responses": 0,
        "nps": None,
        "nps_responses": 0,
        "recovered": 0,
        "revenue_recovered": [],
        "qa_score": None,
        "qa_reviews": 0,
    }


def _metrics(
    viewer: Viewer, period: Period, by: str, ids: list[int]
) -> defaultdict[int, dict[str, Any]]:
    """The metrics (but promises) of each of ``ids``, grouped ``by`` ``assignee_id`` or
    ``team_id``: a handful of grouped queries, whatever the number of rows."""
    out: defaultdict[int, dict[str, Any]] = defaultdict(_zero)
    if not ids:
        return out
    for key in ids:
        out[key]  # noqa: B018 - every row, zeros included
    loops = customer_loops(loops_visible(viewer=viewer)).order_by().filter(**{f"{by}__in": ids})
    _loop_counts(out, loops, period, by)
    _breaches(out, customer_loops(loops_visible(viewer=viewer)), period, by, ids)
    _first_replies(out, loops, period, by)
    teams = visible_team_ids(viewer)
    _reopened(out, period, by, ids, teams)
    _first_contact(out, period, by, ids, teams)
    _reassigned_away(out, period, by, ids)
    _feedback(out, period, by, ids, teams)
    _recovered(out, loops, period, by)
    _qa(out, viewer, period, by, ids)
    return out


def customer_loops(loops: QuerySet[Loop]) -> QuerySet[Loop]:
    """Of ``loops``, the customers' loops: a team's own (``TEAM_OWN_KINDS``) left out."""
    return loops.exclude(kind__in=TEAM_OWN_KINDS)


def loops_closed_in(loops: QuerySet[Loop], period: Period) -> QuerySet[Loop]:
    """Of ``loops``, those finished (closed, broken, cancelled) in the period: only a
    finished loop has ``closed_at``."""
    return loops.filter(closed_at__gte=period.start, closed_at__lt=period.end)


def _loop_counts(
    out: dict[int, dict[str, Any]], loops: QuerySet[Loop], period: Period, by: str
) -> None:
    closed = Q(state=LoopState.CLOSED)
    dated = closed & Q(due_at__isnull=False)
    rows = (
        loops_closed_in(loops, period)
        .values(by)
        .annotate(
            loops_closed=Count("pk", filter=closed),
            loops_closed_with_deadline=Count("pk", filter=dated),
            loops_closed_on_time=Count("pk", filter=dated & Q(closed_at__lte=F("due_at"))),
        )
    )
    for row in rows:
        m = out[row[by]]
        for name in ("loops_closed", "loops_closed_with_deadline", "loops_closed_on_time"):
            m[name] = row[name]
        with_deadline = row["loops_closed_with_deadline"]
        m["on_time_rate"] = (
            round(row["loops_closed_on_time"] / with_deadline, 4) if with_deadline else None
        )


def breaches_in(
    loops: QuerySet[Loop], period: Period, *, by: str, ids: list[int]
) -> QuerySet[Loop]:
    """Of ``loops``, the breaches of ``ids`` in the period (the rows of ``breaches``):
    finished in the period and breached; an agent's when they held the loop at the breach
    (``with_breach_owner``: the SLA ladder's later hand-over to the lead does not move
    it), a team's when the team owns the loop."""
    qs = loops_closed_in(loops, period).filter(breached_at__isnull=False)
    if by == "assignee_id":
        return with_breach_owner(qs).filter(breach_owner__in=[str(i) for i in ids])
    return qs.filter(**{f"{by}__in": ids})


def _breaches(
    out: dict[int, dict[str, Any]], loops: QuerySet[Loop], period: Period, by: str, ids: list[int]
) -> None:
    group = "breach_owner" if by == "assignee_id" else by
    rows = (
        breaches_in(loops, period, by=by, ids=ids).order_by().values(group).annotate(n=Count("pk"))
    )
    for row in rows:
        out[int(row[group])]["breaches"] = row["n"]


def first_reply_seconds(loop: Loop) -> float:
    """The business seconds a closed reply loop's clock ran from its opening to its close:
    what was banked by pauses plus the run since the clock last (re)started, on the loop's
    calendar (24/7 without a policy's business hours). A loop closed while paused stopped
    counting when it was paused."""
    assert loop.closed_at is not None
    end = loop.paused_at or loop.closed_at
    if loop.sla_seconds is None:
        # No SLA: the clock is not banked by pauses; wall-clock time less the paused time.
        return max(0.0, (end - loop.opened_at).total_seconds() - loop.paused_seconds)
    ran = business_time_between(
        loop.clock_started_at, max(end, loop.clock_started_at), calendar_of(loop)
    )
    return loop.consumed_seconds + ran.total_seconds()


def first_replies_in(loops: QuerySet[Loop], period: Period) -> QuerySet[Loop]:
    """Of ``loops``, the reply loops on the first-reply target closed in the period: the
    loops the first-reply median is taken over."""
    return (
        loops_closed_in(loops, period)
        .filter(state=LoopState.CLOSED, kind=LoopKind.REPLY, sla_target=SlaTarget.FIRST_REPLY)
        .select_related("sla_policy__business_hours")
    )


def _first_replies(
    out: dict[int, dict[str, Any]], loops: QuerySet[Loop], period: Period, by: str
) -> None:
    replies = first_replies_in(loops, period)
    minutes: defaultdict[int, list[float]] = defaultdict(list)
    for loop in replies:
        minutes[getattr(loop, by)].append(first_reply_seconds(loop) / 60)
    for key, values in minutes.items():
        out[key]["first_reply_median_business_minutes"] = round(statistics.median(values), 1)
        out[key]["first_replies"] = len(values)


def reopenings_in(
    period: Period, *, by: str, ids: list[int], teams: set[int] | None
) -> QuerySet[CaseEvent]:
    """The status events of the period that reopened a case of ``ids`` (solved or closed
    back to open or pending), in the viewer's ``teams`` (None: all)."""
    events = CaseEvent.objects.filter(
        kind="status",
        at__gte=period.start,
        at__lt=period.end,
        data__from__in=[CaseStatus.SOLVED, CaseStatus.CLOSED],
        data__to__in=[CaseStatus.OPEN, CaseStatus.PENDING],
        **{f"case__{by}__in": ids},
    )
    if teams is not None:
        events = events.filter(case__team_id__in=teams)
    return events


def reopened_cases_in(
    period: Period, *, by: str, ids: list[int], teams: set[int] | None
) -> QuerySet[Case]:
    """The cases reopened in the period (the rows of ``reopened_cases``), each once."""
    events = reopenings_in(period, by=by, ids=ids, teams=teams)
    return Case.objects.filter(pk__in=events.values("case_id"))


def _reopened(
    out: dict[int, dict[str, Any]],
    period: Period,
    by: str,
    ids: list[int],
    teams: set[int] | None,
) -> None:
    events = reopenings_in(period, by=by, ids=ids, teams=teams)
    group = f"case__{by}"
    for row in events.order_by().values(group).annotate(n=Count("case_id", distinct=True)):
        out[row[group]]["reopened_cases"] = row["n"]


REOPENED_FROM = [CaseStatus.SOLVED, CaseStatus.CLOSED]
REOPENED_TO = [CaseStatus.OPEN, CaseStatus.PENDING]


def with_first_contact(cases: QuerySet[Case]) -> QuerySet[Case]:
    """``cases`` annotated with ``replies`` (outbound messages on the case written by a
    person) and ``reopened`` (ever went from solved or closed back to open or pending)."""
    replies = (
        Interaction.objects.filter(
            case=OuterRef("pk"), direction=Direction.OUTBOUND, actor__isnull=False
        )
        .order_by()
        .values("case")
        .annotate(n=Count("pk"))
        .values("n")
    )
    reopened = CaseEvent.objects.filter(
        case=OuterRef("pk"),
        kind="status",
        data__from__in=REOPENED_FROM,
        data__to__in=REOPENED_TO,
    )
    return cases.annotate(
        replies=Coalesce(Subquery(replies, output_field=IntegerField()), 0),
        reopened=Exists(reopened),
    )


def cases_solved_in(
    period: Period, *, by: str, ids: list[int], teams: set[int] | None
) -> QuerySet[Case]:
    """Cases of ``ids`` (grouped ``by`` ``assignee_id`` or ``team_id``) whose latest solve
    is in the period, in the viewer's ``teams`` (None: all), ``with_first_contact``: the
    rows of first_contact_resolution."""
    qs = Case.objects.filter(
        solved_at__gte=period.start, solved_at__lt=period.end, **{f"{by}__in": ids}
    )
    if teams is not None:
        qs = qs.filter(team_id__in=teams)
    return with_first_contact(qs)


FIRST_CONTACT = Q(replies=1, reopened=False)


def _first_contact(
    out: dict[int, dict[str, Any]],
    period: Period,
    by: str,
    ids: list[int],
    teams: set[int] | None,
) -> None:
    rows = (
        cases_solved_in(period, by=by, ids=ids, teams=teams)
        .order_by()
        .values(by)
        .annotate(solved=Count("pk"), first=Count("pk", filter=FIRST_CONTACT))
    )
    for row in rows:
        m = out[row[by]]
        m["cases_solved"] = row["solved"]
        m["first_contact_resolved"] = row["first"]
        m["first_contact_resolution"] = (
            round(row["first"] / row["solved"], 4) if row["solved"] else None
        )


def reassignments_away_in(period: Period, *, by: str, ids: list[int]) -> QuerySet[Any]:
    """The reassigned events of the period that took a loop from one of ``ids`` (an agent:
    to someone else or nobody; a team: to another team), annotated ``src`` (the id as
    text): the rows of ``reassignments_away``."""
    # Two shapes in the trail: loop_reassign writes {"from": {"team", "assignee"}, "to": {…}};
    # the sweeper's hand-over to the lead writes bare assignee ids {"from": 3, "to": 7}.
    src: Any
    dst: Any
    if by == "assignee_id":
        src = Coalesce(_text("data__from__assignee"), _text("data__from"))
        dst = Coalesce(_text("data__to__assignee"), _text("data__to"))
    else:
        src, dst = _text("data__from__team"), _text("data__to__team")
    return (
        LoopEvent.objects.filter(
            kind=LoopEventKind.REASSIGNED, at__gte=period.start, at__lt=period.end
        )
        .annotate(src=src, dst=Coalesce(dst, Value("", output_field=CharField())))
        .filter(src__in=[str(i) for i in ids])
        .exclude(dst=F("src"))
    )


def _reassigned_away(
    out: dict[int, dict[str, Any]], period: Period, by: str, ids: list[int]
) -> None:
    events = reassignments_away_in(period, by=by, ids=ids)
    for row in events.order_by().values("src").annotate(n=Count("pk")):
        out[int(row["src"])]["reassignments_away"] = row["n"]


def answers_in(
    period: Period, *, by: str, ids: list[int], teams: set[int] | None
) -> QuerySet[Response]:
    """The survey answers given in the period on the cases of ``ids``, in the viewer's
    ``teams`` (None: all): the rows of ``csat`` and ``nps`` (narrowed to the survey kind)."""
    responses = Response.objects.filter(
        at__gte=period.start, at__lt=period.end, **{f"invite__case__{by}__in": ids}
    )
    if teams is not None:
        responses = responses.filter(invite__case__team_id__in=teams)
    return responses


def _feedback(
    out: dict[int, dict[str, Any]],
    period: Period,
    by: str,
    ids: list[int],
    teams: set[int] | None,
) -> None:
    group = f"invite__case__{by}"
    responses = answers_in(period, by=by, ids=ids, teams=teams)
    csat = Q(survey__kind=SurveyKind.CSAT)
    nps = Q(survey__kind=SurveyKind.NPS)
    rows = (
        responses.order_by()
        .values(group)
        .annotate(
            csat_n=Count("pk", filter=csat),
            csat_happy=Count("pk", filter=csat & Q(score__gte=4)),
            nps_n=Count("pk", filter=nps),
            promoters=Count("pk", filter=nps & Q(band=Band.PROMOTER)),
            detractors=Count("pk", filter=nps & Q(band=Band.DETRACTOR)),
        )
    )
    for row in rows:
        m = out[row[group]]
        m["csat_responses"] = row["csat_n"]
        m["csat"] = round(100 * row["csat_happy"] / row["csat_n"], 1) if row["csat_n"] else None
        m["nps_responses"] = row["nps_n"]
        m["nps"] = (
            round(100 * (row["promoters"] - row["detractors"]) / row["nps_n"], 1)
            if row["nps_n"]
            else None
        )


def recovered_in(loops: QuerySet[Loop], period: Period) -> QuerySet[Recovery]:
    """The recoveries of ``loops`` recovered in the period (the rows of ``recovered``)."""
    return Recovery.objects.filter(
        outcome=Outcome.RECOVERED,
        closed_at__gte=period.start,
        closed_at__lt=period.end,
        loop__in=loops.values("pk"),
    )


CENT = Decimal("0.01")


def revenue_list(amounts: dict[str, Decimal]) -> list[dict[str, Any]]:
    """Amounts by currency as ``[{"currency", "amount"}]``, to the cent, largest first
    (then by currency); zero amounts left out. Currencies are never added together."""
    rows = [(c, v.quantize(CENT)) for c, v in amounts.items() if v]
    rows.sort(key=lambda cv: (-cv[1], cv[0]))
    return [{"currency": c, "amount": v} for c, v in rows]


def revenue_said(revenue: list[dict[str, Any]]) -> str:
    """``[{"currency": "GBP", "amount": 12.5}]`` as "12.50 GBP"; "—" for none."""
    return ", ".join(f"{r['amount']:,} {r['currency']}".strip() for r in revenue) or "—"


def _recovered(
    out: dict[int, dict[str, Any]], loops: QuerySet[Loop], period: Period, by: str
) -> None:
    group = f"loop__{by}"
    rows = (
        recovered_in(loops, period)
        .order_by()
        .values(group, "revenue_currency")
        .annotate(n=Count("pk"), revenue=Sum("revenue"))
    )
    amounts: defaultdict[int, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        out[row[group]]["recovered"] += row["n"]
        if row["revenue"] is not None:
            amounts[row[group]][row["revenue_currency"] or ""] = Decimal(row["revenue"])
    for key, by_currency in amounts.items():
        out[key]["revenue_recovered"] = revenue_list(by_currency)


def _qa(
    out: dict[int, dict[str, Any]], viewer: Viewer, period: Period, by: str, ids: list[int]
) -> None:
    group = "agent_id" if by == "assignee_id" else "team_id"
    rows = (
        qa_reviews_effective(qa_reviews_visible(viewer=viewer))
        .filter(
            conversation_at__gte=period.start,
            conversation_at__lt=period.end,
            **{f"{group}__in": ids},
        )
        .order_by()
        .values(group)
        .annotate(n=Count("pk"), mean=Avg("score"))
    )
    for row in rows:
        out[row[group]]["qa_score"] = round(row["mean"], 2)
        out[row[group]]["qa_reviews"] = row["n"]


def qa_links(
    period: Period, *, agent: str | None = None, team: str | None = None
) -> dict[str, str]:
    """The QA reviews API query a row's ``qa_score`` is the mean of."""
    who = {"agent": agent} if agent is not None else {"team": team}
    query = urlencode({**who, "period": period.key, "effective": "true"})
    return {"qa_score": "/api/v1/qa/reviews?" + query}


# --- QA reviews -----------------------------------------------------------------------------


def qa_reviews_visible(*, viewer: Viewer) -> QuerySet[QaReview]:
    """The reviews ``viewer`` may read: an agent the reviews of their own conversations; a
    lead those of their teams' agents and cases; an admin and ``SYSTEM`` every review."""
    scope = scope_of(viewer)
    qs = QaReview.objects.all()
    if scope.agents is not None:
        seen = Q(agent_id__in=scope.agents)
        if scope.teams:
            seen |= Q(team_id__in=scope.teams)
        qs = qs.filter(seen)
    return qs


def _effective_marks(qs: QuerySet[QaReview]) -> QuerySet[QaReview]:
    overridden = QaReview.objects.filter(overrides=OuterRef("pk"))
    superseded = QaReview.objects.filter(overrides=OuterRef("overrides"), pk__gt=OuterRef("pk"))
    return qs.annotate(is_overridden=Exists(overridden), is_superseded=Exists(superseded))


def qa_reviews_effective(qs: QuerySet[QaReview]) -> QuerySet[QaReview]:
    """Of ``qs``, the reviews that count: not overridden, and no later override of the
    same automatic review (an override is replaced by the next one)."""
    return _effective_marks(qs).filter(Q(is_overridden=False), Q(is_superseded=False))


def qa_review_list(
    *,
    viewer: Viewer,
    period: Period | None = None,
    agent: User | None = None,
    team: Team | None = None,
    case_number: int | None = None,
    effective: bool | None = None,
) -> QuerySet[QaReview]:
    """The reviews ``viewer`` may read, newest conversation first, narrowed by the filters
    (the period by ``conversation_at``), each marked ``is_overridden`` / ``is_superseded``
    (effective: neither); ``effective`` True keeps those that count, False the others."""
    qs = _effective_marks(qa_reviews_visible(viewer=viewer)).select_related(
        "case", "agent", "reviewer", "team", "scorecard"
    )
    if period is not None:
        qs = qs.filter(conversation_at__gte=period.start, conversation_at__lt=period.end)
    if agent is not None:
        qs = qs.filter(agent=agent)
    if team is not None:
        qs = qs.filter(team=team)
    if case_number is not None:
        qs = qs.filter(case__number=case_number)
    if effective is True:
        qs = qs.filter(Q(is_overridden=False), Q(is_superseded=False))
    elif effective is False:
        qs = qs.filter(Q(is_overridden=True) | Q(is_superseded=True))
    return qs.prefetch_related("scores__category").order_by("-conversation_at", "-pk")


# --- the rows behind a figure (the scorecard page's drill-down) --------------------------

ROWS_LIMIT = 200
# The figures whose rows the scorecard page lists (``rows=``), each with the metric whose
# number it recounts (the count of the rows equals that metric on the card).
ROWS: dict[str, str] = {
    "loops_closed_on_time": "loops_closed_on_time",
    "loops_closed_with_deadline": "loops_closed_with_deadline",
    "breaches": "breaches",
    "first_replies": "first_replies",
    "reopened_cases": "reopened_cases",
    "reassignments_away": "reassignments_away",
    "first_contact_resolution": "cases_solved",
    "promises_made": "promises_made",
    "promises_kept": "promises_kept",
    "promises_broken": "promises_broken",
    "recovered": "recovered",
    "csat": "csat_responses",
    "nps": "nps_responses",
}


@dataclass
class FigureRows:
    """The rows a figure of one agent's or one team's scorecard was counted from: at most
    ``ROWS_LIMIT`` of them, newest first, and how many in all."""

    figure: str
    who: str  # the agent's username or the team's slug
    items: list[Any]
    count: int
    who_name: str = ""  # the agent's full name or the team's name


def figure_rows(
    *,
    viewer: Viewer,
    period: Period,
    figure: str,
    agent: User | None = None,
    team: Team | None = None,
) -> FigureRows:
    """The rows behind ``figure`` (one of ``ROWS``) for ``agent`` (else ``team``), read as
    the scorecards read them for ``viewer``: NotFound when the viewer may not see them;
    422 naming ``rows`` for another figure."""
    if figure not in ROWS:
        raise InvalidInput(
            f"no rows for {figure[:40]!r}", [FieldError("rows", f"one of {', '.join(ROWS)}")]
        )
    if agent is None and team is None:
        raise InvalidInput(
            "rows need an agent or a team", [FieldError("agent", "give an agent or a team")]
        )
    scope = scope_of(viewer)
    if team is not None and scope.named is not None and team.pk not in scope.named:
        raise NotFound(f"team {team.slug}")
    if agent is not None and scope.agents is not None and agent.pk not in scope.agents:
        raise NotFound(f"agent {agent.username}")
    by, key = ("assignee_id", agent.pk) if agent is not None else ("team_id", team.pk)  # type: ignore[union-attr]
    who = agent.username if agent is not None else team.slug  # type: ignore[union-attr]
    teams = visible_team_ids(viewer)
    visible = customer_loops(loops_visible(viewer=viewer))
    mine = visible.filter(**{by: key})
    closed_dated = Q(state=LoopState.CLOSED, due_at__isnull=False)
    qs: QuerySet[Any]
    if figure == "first_contact_resolution":
        qs = (
            cases_solved_in(period, by=by, ids=[key], teams=teams)
            .select_related("customer", "assignee", "team")
            .order_by("-solved_at", "-pk")
        )
    elif figure == "recovered":
        qs = (
            recovered_in(mine, period)
            .select_related("rule", "customer", "loop")
            .order_by("-closed_at", "-pk")
        )
    elif figure == "loops_closed_with_deadline":
        qs = _loop_rows(loops_closed_in(mine, period).filter(closed_dated))
    elif figure == "loops_closed_on_time":
        qs = _loop_rows(
            loops_closed_in(mine, period).filter(closed_dated, closed_at__lte=F("due_at"))
        )
    elif figure == "breaches":
        qs = _loop_rows(breaches_in(visible, period, by=by, ids=[key]))
    elif figure == "first_replies":
        qs = _loop_rows(first_replies_in(mine, period))
    elif figure == "reopened_cases":
        reopened = reopenings_in(period, by=by, ids=[key], teams=teams).filter(case=OuterRef("pk"))
        qs = (
            reopened_cases_in(period, by=by, ids=[key], teams=teams)
            .annotate(
                reopened_at=Subquery(reopened.order_by("-at", "-pk").values("at")[:1]),
                reopenings=Subquery(
                    reopened.order_by().values("case").annotate(n=Count("pk")).values("n")
                ),
            )
            .select_related("customer", "assignee", "team")
            .order_by("-reopened_at", "-pk")
        )
    elif figure == "reassignments_away":
        qs = (
            reassignments_away_in(period, by=by, ids=[key])
            .select_related("loop", "loop__team", "loop__assignee", "actor")
            .order_by("-at", "-pk")
        )
    elif figure in ("csat", "nps"):
        qs = (
            answers_in(period, by=by, ids=[key], teams=teams)
            .filter(survey__kind=figure)
            .select_related("invite__case", "invite__customer", "survey")
            .order_by("-at", "-pk")
        )
    else:
        state = {"promises_kept": "kept", "promises_broken": "broken"}.get(figure)
        qs = promise_list(
            viewer=viewer,
            state=state,
            team=team.slug if agent is None and team is not None else None,
            made_by=agent,
            made_after=period.start,
            made_before=period.end,
        ).select_related("customer", "team", "made_by")
    items: list[Any] = list(qs[:ROWS_LIMIT])
    count = qs.count() if len(items) == ROWS_LIMIT else len(items)
    if figure == "first_replies":
        for loop in items:
            loop.business_minutes = round(first_reply_seconds(loop) / 60, 1)
    name = (agent.get_full_name() or agent.username) if agent is not None else team.name  # type: ignore[union-attr]
    return FigureRows(figure=figure, who=who, items=items, count=count, who_name=name)


def _loop_rows(loops: QuerySet[Loop]) -> QuerySet[Loop]:
    return loops.select_related(
        "team", "assignee", "customer", "sla_policy__business_hours"
    ).order_by("-closed_at", "-pk")

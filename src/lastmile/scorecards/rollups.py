"""The dashboard's rollups: each team's figures week by week (``TeamWeekRollup``), kept
current by the worker (``tasks.rollups_task`` recomputes the week in progress and the one
before it every ``LASTMILE_ROLLUP_MINUTES``) and rebuilt for any number of weeks by
``rollups_rebuild``.

Every figure is one aggregate query over the whole range of weeks, ``GROUP BY`` the team
and the week (``TruncWeek`` in UTC), conditional ``COUNT``s and ``AVG``s, portable between
SQLite and PostgreSQL; no row is read into Python. The exception is the open-loop
snapshot, which is a state at an instant rather than events in a week: one aggregate query
per week (``GROUP BY`` the team), the 95th percentile taken in the same query by a window
function (``CUME_DIST``); and the week's five loudest alerts per team, picked in one query by
``ROW_NUMBER``. Team rows are upserted on (team, week); the agents' rows of the recomputed
weeks are replaced: computing twice writes the same rows.

Loop figures count the customers' loops only: a team's own loops (``TEAM_OWN_KINDS``: an
alert's acknowledgement, coaching, a pay dispute) are left out, as on the scorecards.

Weeks are whole weeks in UTC, Monday 00:00 to Monday 00:00, as the scorecards' periods are.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import (
    Avg,
    CharField,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    Sum,
    When,
    Window,
)
from django.db.models import Case as DbCase
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, CumeDist, RowNumber, TruncWeek

from lastmile.cases.models import Case
from lastmile.crisis.detectors import SIGNAL_LABELS
from lastmile.crisis.models import Alert
from lastmile.customers.models import Direction, Interaction
from lastmile.feedback.models import Band, Response, SurveyKind
from lastmile.jobs.models import Job, JobState
from lastmile.loops.models import TEAM_OWN_KINDS, Loop, LoopState
from lastmile.people.models import Team
from lastmile.promises.models import Promise, PromiseState
from lastmile.recovery.models import Outcome, Recovery
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollup_models import (
    AgentWeekRollup,
    FunnelWeekRollup,
    NoTeamWeekRollup,
)
from lastmile.scorecards.selectors import FIRST_CONTACT, with_breach_owner, with_first_contact

log = logging.getLogger(__name__)
_UTC = ZoneInfo("UTC")
CENT = Decimal("0.01")
WEEKS_SHOWN = 13
P95 = 0.95
ALERTS_TOP = 5

# The dashboard's figures, each with one written definition shown on the page.
DEFINITIONS: dict[str, str] = {
    "open_loops": (
        "Customers' loops of the team open at the snapshot (the end of the week; for the "
        "week in progress, when the figures were computed): opened by then and not yet "
        "closed, broken or cancelled. Like every loop figure here, a team's own loops (an "
        "alert's acknowledgement, coaching, a pay dispute) are left out."
    ),
    "overdue_loops": (
        "Of the open loops, those whose deadline (due_at) had passed at the snapshot. A past "
        "week is judged by each loop's deadline as stored now."
    ),
    "overdue_mean_hours": "Mean of how late the overdue loops were at the snapshot, in hours.",
    "overdue_p95_hours": (
        "95th percentile (nearest rank) of how late the overdue loops were at the snapshot, "
        "in hours: 95 % of them were at most this late."
    ),
    "breach_rate": (
        "Loops of the team that finished (closed, broken or cancelled) in the week and had "
        "breached their deadline, divided by all loops that finished in the week."
    ),
    "on_time_rate": (
        "Loops closed in the week at or before their deadline, divided by the loops closed in "
        "the week that had a deadline (as on the scorecards)."
    ),
    "promises_broken": "Promises the team had to keep that were marked broken in the week.",
    "csat": (
        "Percent of CSAT answers of 4 or 5 given in the week on the team's cases (an answer "
        "about no case: of the team's own surveys)."
    ),
    "nps": (
        "Percent of 9-10 NPS answers minus percent of 0-6 answers given in the week on the "
        "team's cases, and on no case of the team's own NPS surveys: a relationship NPS is "
        "asked of a customer, not about a case, so it counts for the team that owns the "
        "survey (as on the feedback app's reasons page). The scorecards count only the "
        "answers about an agent's or a team's cases."
    ),
    "sentiment": (
        "Mean sentiment score (-1 negative to 1 positive) of the customers' inbound messages "
        "on the team's cases in the week, as the sentiment model scored them."
    ),
    "deliveries_on_time": (
        "Deliveries and field visits of the team whose window ended in the week (by the "
        "snapshot), cancelled ones left out, that were completed within their window."
    ),
    "first_contact_resolution": (
        "Of the team's cases whose latest solve fell in the week, the percent solved with "
        "exactly one reply written by a person and never reopened (as on the scorecards)."
    ),
    "funnel_close_rate": (
        "The sales funnels the team owns (a saved funnel's team), for the people who entered "
        "them in the week: closed (reached the funnel's last step, within its window) "
        "divided by entered (its first step), as the analytics engine counts them and the "
        "recovery page shows them for that week. A team with several funnels adds their "
        "people up (each funnel counts its own). Funnels of no team are in the No team row. "
        "When the engine could not answer for one of the funnels, the figure is unavailable "
        "and says why (the other figures are computed as usual)."
    ),
    "recovery_rate": (
        "Recoveries of the team's recovery loops that ended in the week: recovered divided "
        "by recovered plus lost (recovery's own recovery rate; open ones have not ended). "
        "Of the customers a recovery loop chased after they dropped out of a funnel, the "
        "share won back."
    ),
    "revenue_recovered": (
        "Revenue of the carts and applications the team's recovery loops recovered in the "
        "week, as the completing event gave it, per currency: currencies are never added "
        "together or converted."
    ),
    "alerts": (
        "Social listening alerts of the team raised in the week; the tile lists the five "
        "loudest, by the mentions in the bucket that raised them. An alert of no team (its "
        "watch term has none) is counted in the No team row."
    ),
    "no_team": (
        "Survey answers given in the week that no team's CSAT or NPS counts: on a case with "
        "no team (an answer about no case counts for its survey's team); and social "
        "listening alerts of no team raised "
        "in the week. Shown to admins in the No team row, so every answer and alert is "
        "counted once somewhere."
    ),
}


class EpochSeconds(Func):
    """A timestamp as seconds since 1970-01-01 UTC, a float, on SQLite and PostgreSQL."""

    arity = 1
    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)",
            **extra,
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)", **extra
        )


def week_of(at: datetime) -> date:
    """The Monday (UTC) of the week ``at`` is in."""
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def week_start(week: date) -> datetime:
    return datetime.combine(week, time(), tzinfo=UTC)


def _week(field: str) -> TruncWeek:
    return TruncWeek(field, tzinfo=_UTC)


def _as_week(value: Any) -> date:
    if isinstance(value, datetime):
        return week_of(value if value.tzinfo else value.replace(tzinfo=UTC))
    assert isinstance(value, date)
    return value


@dataclass
class _Range:
    weeks: list[date]
    start: datetime
    end: datetime  # the end of the last week, or now when it is in progress
    now: datetime


Rows = dict[tuple[int, date], dict[str, Any]]


def _put(rows: Rows, team: int | None, week: Any, **values: Any) -> None:
    if team is None:
        return
    key = (team, _as_week(week))
    if key in rows:
        rows[key].update(values)


def customers_loops() -> QuerySet[Loop]:
    """Every loop but a team's own (``TEAM_OWN_KINDS``)."""
    return Loop.objects.exclude(kind__in=TEAM_OWN_KINDS)


def _closed_counts(by: str, r: _Range) -> QuerySet[Any]:
    closed = Q(state=LoopState.CLOSED)
    dated = closed & Q(due_at__isnull=False)
    return (
        customers_loops()
        .filter(**{f"{by}__isnull": False}, closed_at__gte=r.start, closed_at__lt=r.end)
        .annotate(w=_week("closed_at"))
        .order_by()
        .values(by, "w")
        .annotate(
            loops_finished=Count("pk"),
            breaches=Count("pk", filter=Q(breached_at__isnull=False)),
            loops_closed=Count("pk", filter=closed),
            loops_closed_with_deadline=Count("pk", filter=dated),
            loops_closed_on_time=Count("pk", filter=dated & Q(closed_at__lte=F("due_at"))),
        )
    )


LOOP_COUNTS = (
    "loops_finished",
    "breaches",
    "loops_closed",
    "loops_closed_with_deadline",
    "loops_closed_on_time",
)


def _closed(rows: Rows, r: _Range) -> None:
    for row in _closed_counts("team_id", r):
        _put(rows, row["team_id"], row["w"], **{k: row[k] for k in LOOP_COUNTS})


def _solved_counts(by: str, r: _Range) -> QuerySet[Any]:
    cases = Case.objects.filter(
        **{f"{by}__isnull": False}, solved_at__gte=r.start, solved_at__lt=r.end
    )
    return (
        with_first_contact(cases)
        .annotate(w=_week("solved_at"))
        .order_by()
        .values(by, "w")
        .annotate(
            cases_solved=Count("pk"), first_contact_resolved=Count("pk", filter=FIRST_CONTACT)
        )
    )


def _first_contact(rows: Rows, r: _Range) -> None:
    for row in _solved_counts("team_id", r):
        _put(
            rows,
            row["team_id"],
            row["w"],
            cases_solved=row["cases_solved"],
            first_contact_resolved=row["first_contact_resolved"],
        )


def recoveries_ended(start: datetime, end: datetime) -> QuerySet[Recovery]:
    """The recoveries that ended (recovered or lost) in ``[start, end)``: the rows of the
    recovery rate and, the recovered ones, of the revenue recovered. A recovery, not its
    loop: a loop of kind recovery that chases no abandoned funnel (the feedback's
    detractor follow-up) has no recovery and is not counted."""
    return Recovery.objects.filter(
        closed_at__gte=start,
        closed_at__lt=end,
        outcome__in=[Outcome.RECOVERED, Outcome.LOST],
    )


def _recoveries(rows: Rows, r: _Range) -> None:
    won = Q(outcome=Outcome.RECOVERED)
    qs = (
        recoveries_ended(r.start, r.end)
        .filter(loop__team__isnull=False)
        .annotate(w=_week("closed_at"))
        .order_by()
        .values("loop__team_id", "w", "revenue_currency")
        .annotate(
            recovered=Count("pk", filter=won),
            lost=Count("pk", filter=Q(outcome=Outcome.LOST)),
            revenue=Sum("revenue", filter=won),
        )
    )
    for row in qs:
        key = (row["loop__team_id"], _as_week(row["w"]))
        if key not in rows:
            continue
        values = rows[key]
        values["recoveries_recovered"] = values.get("recoveries_recovered", 0) + row["recovered"]
        values["recoveries_lost"] = values.get("recoveries_lost", 0) + row["lost"]
        if row["revenue"] is not None:
            revenue = values.setdefault("revenue_recovered", {})
            revenue[row["revenue_currency"] or ""] = str(Decimal(row["revenue"]).quantize(CENT))


def _alerts(rows: Rows, r: _Range, no_team: dict[date, dict[str, Any]]) -> None:
    """Each team's alerts per week and its five loudest (``rows``); the alerts of no team
    go to ``no_team``, week by week, the same way (a NULL team is one partition)."""
    alerts = Alert.objects.filter(raised_at__gte=r.start, raised_at__lt=r.end).annotate(
        w=_week("raised_at")
    )
    counts = alerts.order_by().values("team_id", "w").annotate(n=Count("pk"))
    for row in counts:
        if row["team_id"] is None:
            no_team.setdefault(_as_week(row["w"]), {})["alerts"] = row["n"]
        else:
            _put(rows, row["team_id"], row["w"], alerts=row["n"])
    mentions = Coalesce(Cast(KT("details__mentions"), IntegerField()), 0)
    loudest = (
        alerts.annotate(
            mentions=mentions,
            rank=Window(
                RowNumber(),
                partition_by=[F("team_id"), _week("raised_at")],
                order_by=[mentions.desc(), F("raised_at").desc(), F("pk").desc()],
            ),
            term_name=Cast("term__name", CharField()),
        )
        .filter(rank__lte=ALERTS_TOP)
        .order_by("team_id", "w", "rank")
        .values("pk", "team_id", "w", "mentions", "signal", "state", "term_name")
    )
    for a in loudest:
        week = _as_week(a["w"])
        if a["team_id"] is None:
            values = no_team.setdefault(week, {})
        elif (a["team_id"], week) in rows:
            values = rows[(a["team_id"], week)]
        else:
            continue
        values.setdefault("alerts_top", []).append(
            {
                "id": a["pk"],
                "term": a["term_name"],
                "signal": SIGNAL_LABELS.get(a["signal"], a["signal"]),
                "mentions": a["mentions"],
                "state": a["state"],
            }
        )


AgentRows = dict[tuple[int, date], dict[str, Any]]


def _agents(r: _Range) -> AgentRows:
    """Each agent's loop and first-contact counts per week (only weeks with some)."""
    out: AgentRows = {}
    for row in _closed_counts("assignee_id", r):
        key = (row["assignee_id"], _as_week(row["w"]))
        out.setdefault(key, {}).update({k: row[k] for k in LOOP_COUNTS}, breaches=0)
    # A breach is the agent's who held the loop when it breached (with_breach_owner), as on
    # the scorecards: not the lead the SLA ladder handed it to afterwards.
    breached = with_breach_owner(
        customers_loops().filter(
            closed_at__gte=r.start, closed_at__lt=r.end, breached_at__isnull=False
        )
    )
    owners = (
        breached.filter(breach_owner__isnull=False)
        .annotate(w=_week("closed_at"))
        .order_by()
        .values("breach_owner", "w")
        .annotate(n=Count("pk"))
    )
    for row in owners:
        key = (int(row["breach_owner"]), _as_week(row["w"]))
        out.setdefault(key, {})["breaches"] = row["n"]
    for row in _solved_counts("assignee_id", r):
        key = (row["assignee_id"], _as_week(row["w"]))
        out.setdefault(key, {}).update(
            cases_solved=row["cases_solved"],
            first_contact_resolved=row["first_contact_resolved"],
        )
    return out


def open_at(at: datetime) -> QuerySet[Loop]:
    """Customers' loops with a team that were open at ``at``: opened by then, not finished
    by then."""
    return (
        customers_loops()
        .filter(team__isnull=False, opened_at__lte=at)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gt=at))
    )


def _open(rows: Rows, week: date, at: datetime) -> None:
    overdue = Q(due_at__lt=at)
    # The 95th percentile by nearest rank: the least late of the loops at or above the 95 %
    # mark of lateness, i.e. the latest deadline among those whose CUME_DIST ordered by
    # lateness (deadline descending) is at least 0.95.
    tail = (
        open_at(at)
        .filter(overdue)
        .annotate(cd=Window(CumeDist(), partition_by=[F("team_id")], order_by=F("due_at").desc()))
        .filter(cd__gte=P95)
        .values("pk")
    )
    qs = (
        open_at(at)
        .order_by()
        .values("team_id")
        .annotate(
            n=Count("pk"),
            overdue=Count("pk", filter=overdue),
            mean_due=Avg(EpochSeconds("due_at"), filter=overdue),
            p95_due=Max("due_at", filter=overdue & Q(pk__in=tail)),
        )
    )
    epoch = at.timestamp()
    for row in qs:
        mean = None if row["mean_due"] is None else round((epoch - row["mean_due"]) / 3600, 2)
        p95 = row["p95_due"]
        _put(
            rows,
            row["team_id"],
            week,
            open_loops=row["n"],
            overdue_loops=row["overdue"],
            overdue_mean_hours=mean,
            overdue_p95_hours=None if p95 is None else round((at - p95).total_seconds() / 3600, 2),
        )


def _promises(rows: Rows, r: _Range) -> None:
    qs = (
        Promise.objects.filter(
            state=PromiseState.BROKEN, outcome_at__gte=r.start, outcome_at__lt=r.end
        )
        .annotate(w=_week("outcome_at"))
        .order_by()
        .values("team_id", "w")
        .annotate(n=Count("pk"))
    )
    for row in qs:
        _put(rows, row["team_id"], row["w"], promises_broken=row["n"])


def _feedback(rows: Rows, r: _Range) -> None:
    csat = Q(survey__kind=SurveyKind.CSAT)
    nps = Q(survey__kind=SurveyKind.NPS)
    qs = (
        answers_by_team()
        .filter(at__gte=r.start, at__lt=r.end, answer_team__isnull=False)
        .annotate(w=_week("at"))
        .order_by()
        .values("answer_team", "w")
        .annotate(
            csat_n=Count("pk", filter=csat),
            csat_happy=Count("pk", filter=csat & Q(score__gte=4)),
            nps_n=Count("pk", filter=nps),
            promoters=Count("pk", filter=nps & Q(band=Band.PROMOTER)),
            detractors=Count("pk", filter=nps & Q(band=Band.DETRACTOR)),
        )
    )
    for row in qs:
        _put(
            rows,
            row["answer_team"],
            row["w"],
            csat_responses=row["csat_n"],
            csat_happy=row["csat_happy"],
            nps_responses=row["nps_n"],
            nps_promoters=row["promoters"],
            nps_detractors=row["detractors"],
        )


def answers_by_team() -> QuerySet[Any]:
    """Every survey answer with ``answer_team``, the team whose CSAT and NPS count it: the
    team of the case it was asked about; an answer about no case (a relationship NPS, asked
    of the customer rather than about a case) its survey's team, as the feedback app's
    reasons page counts it. An answer on a case of no team has none (``NO_TEAM_ANSWER``)."""
    return Response.objects.annotate(
        answer_team=DbCase(
            When(invite__case__isnull=True, then=F("survey__team_id")),
            default=F("invite__case__team_id"),
            output_field=IntegerField(),
        )
    )


# An answer on a case of no team: no team's figures count it.
NO_TEAM_ANSWER = Q(invite__case__isnull=False, invite__case__team__isnull=True)


def _feedback_no_team(r: _Range) -> dict[date, dict[str, Any]]:
    """The answers no team's figures count (``NO_TEAM_ANSWER``), per week."""
    csat = Q(survey__kind=SurveyKind.CSAT)
    nps = Q(survey__kind=SurveyKind.NPS)
    out: dict[date, dict[str, Any]] = {}
    qs = (
        Response.objects.filter(NO_TEAM_ANSWER, at__gte=r.start, at__lt=r.end)
        .annotate(w=_week("at"))
        .order_by()
        .values("w")
        .annotate(
            csat_n=Count("pk", filter=csat),
            csat_happy=Count("pk", filter=csat & Q(score__gte=4)),
            nps_n=Count("pk", filter=nps),
            promoters=Count("pk", filter=nps & Q(band=Band.PROMOTER)),
            detractors=Count("pk", filter=nps & Q(band=Band.DETRACTOR)),
        )
    )
    for row in qs:
        out[_as_week(row["w"])] = {
            "csat_responses": row["csat_n"],
            "csat_happy": row["csat_happy"],
            "nps_responses": row["nps_n"],
            "nps_promoters": row["promoters"],
            "nps_detractors": row["detractors"],
        }
    return out


def funnel_week_range(week: date, now: datetime) -> tuple[datetime, datetime]:
    """The range the recovery page asks a funnel over for ``week``: Monday 00:00 to
    Sunday's last instant (its whole days, ``time.max``), not past ``now``."""
    sunday = week + timedelta(days=6)
    return week_start(week), min(datetime.combine(sunday, time.max, tzinfo=UTC), now)


def engine_error_words(exc: BaseException) -> str:
    """What a failed analytics question says on the dashboard: the error's kind and message,
    cut to what ``FunnelWeekRollup.error`` holds."""
    words = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    limit = FunnelWeekRollup._meta.get_field("error").max_length or 300
    return words if len(words) <= limit else words[: limit - 1] + "…"


def _funnels(weeks: list[date], now: datetime) -> list[FunnelWeekRollup]:
    """Each live funnel's entered and closed people of each week begun by ``now``, one
    question to the analytics engine per funnel and week, as the recovery page asks it.

    The engine is another store (a DuckDB directory, a ClickHouse server) that can fail on
    its own: a question it cannot answer gives a row with ``error`` set instead of counts
    (logged, the first with its traceback), and every other figure of the run is kept."""
    from lastmile.funnels.funnel_selectors import funnel_definition
    from lastmile.funnels.models import Funnel
    from lastmile.funnels.services import analytics_engine

    funnels = list(Funnel.objects.filter(archived=False).order_by("pk"))
    if not funnels:
        return []
    engine = None
    broken = ""  # the engine could not even be opened: every question fails alike
    try:
        engine = analytics_engine()
    except Exception as exc:  # noqa: BLE001 - any engine library's error; logged below
        broken = engine_error_words(exc)
        log.warning("rollups: the analytics engine could not be opened", exc_info=True)
    out = []
    failed = 0
    for f in funnels:
        for w in weeks:
            if week_start(w) > now:
                continue
            start, end = funnel_week_range(w, now)
            definition = funnel_definition(funnel=f, from_=start, to=end, now=now)
            row = FunnelWeekRollup(funnel=f, week=w, error=broken, computed_at=now)
            if engine is not None:
                # The engine raises its own library's errors (duckdb.Error, ClickHouse's,
                # OSError on its files, ValueError): any of them costs this figure only.
                try:
                    steps = engine.funnel(definition).steps
                except Exception as exc:  # noqa: BLE001
                    row.error = engine_error_words(exc)
                    failed += 1
                    log.warning(
                        "rollups: the analytics engine failed on funnel %s, week of %s",
                        f.pk,
                        w,
                        exc_info=failed == 1,
                    )
                else:
                    row.entered = steps[0].count if steps else 0
                    row.closed = steps[-1].count if steps else 0
            out.append(row)
    if failed > 1:
        log.warning(
            "rollups: the analytics engine failed on %s funnel weeks of %s", failed, len(out)
        )
    return out


def _sentiment(rows: Rows, r: _Range) -> None:
    qs = (
        Interaction.objects.filter(
            direction=Direction.INBOUND,
            sentiment_score__isnull=False,
            case__team__isnull=False,
            occurred_at__gte=r.start,
            occurred_at__lt=r.end,
        )
        .annotate(w=_week("occurred_at"))
        .order_by()
        .values("case__team_id", "w")
        .annotate(n=Count("pk"), mean=Avg("sentiment_score"))
    )
    for row in qs:
        _put(
            rows,
            row["case__team_id"],
            row["w"],
            sentiment_messages=row["n"],
            sentiment_mean=round(row["mean"], 4),
        )


def _jobs(rows: Rows, r: _Range) -> None:
    within = Q(
        state=JobState.COMPLETED,
        completed_at__gte=F("window_start"),
        completed_at__lte=F("window_end"),
    )
    qs = (
        Job.objects.filter(window_end__gte=r.start, window_end__lt=min(r.end, r.now))
        .exclude(state=JobState.CANCELLED)
        .annotate(w=_week("window_end"))
        .order_by()
        .values("team_id", "w")
        .annotate(n=Count("pk"), on_time=Count("pk", filter=within))
    )
    for row in qs:
        _put(rows, row["team_id"], row["w"], jobs_due=row["n"], jobs_on_time=row["on_time"])


ROLLUP_FIELDS = [
    f.name
    for f in TeamWeekRollup._meta.get_fields()
    if f.concrete and f.name not in ("id", "team", "week")
]


def _compute(weeks: Iterable[date], now: datetime) -> int:
    weeks = sorted(set(weeks))
    if not weeks:
        return 0
    start = week_start(weeks[0])
    end = min(week_start(weeks[-1]) + timedelta(days=7), now)
    r = _Range(weeks=weeks, start=start, end=end, now=now)
    snapshots = {w: min(week_start(w) + timedelta(days=7), now) for w in weeks}
    rows: Rows = {}
    for team_id in Team.objects.order_by("pk").values_list("pk", flat=True):
        for w in weeks:
            rows[(team_id, w)] = {"snapshot_at": snapshots[w], "computed_at": now}
    for w in weeks:
        if week_start(w) <= now:
            _open(rows, w, snapshots[w])
    _closed(rows, r)
    _promises(rows, r)
    _feedback(rows, r)
    _sentiment(rows, r)
    _jobs(rows, r)
    _first_contact(rows, r)
    _recoveries(rows, r)
    no_team = _feedback_no_team(r)
    _alerts(rows, r, no_team)
    for values in rows.values():  # a recomputed week forgets what it no longer has
        values.setdefault("revenue_recovered", {})
        values.setdefault("alerts_top", [])
    objs = [TeamWeekRollup(team_id=t, week=w, **values) for (t, w), values in rows.items()]
    agents = [
        AgentWeekRollup(agent_id=a, week=w, computed_at=now, **values)
        for (a, w), values in _agents(r).items()
        if w in snapshots
    ]
    unattached = [
        NoTeamWeekRollup(week=w, computed_at=now, **values)
        for w, values in no_team.items()
        if w in snapshots
    ]
    funnels = _funnels(weeks, now)
    with transaction.atomic():
        TeamWeekRollup.objects.bulk_create(
            objs,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["team", "week"],
            update_fields=ROLLUP_FIELDS,
        )
        AgentWeekRollup.objects.filter(week__in=weeks).delete()
        AgentWeekRollup.objects.bulk_create(agents, batch_size=500)
        NoTeamWeekRollup.objects.filter(week__in=weeks).delete()
        NoTeamWeekRollup.objects.bulk_create(unattached)
        FunnelWeekRollup.objects.filter(week__in=weeks).delete()
        FunnelWeekRollup.objects.bulk_create(funnels, batch_size=500)
    return len(objs) + len(agents) + len(unattached) + len(funnels)


def rollup_minutes() -> int:
    """How often the worker recomputes the rollups (``LASTMILE_ROLLUP_MINUTES``), 1 to 60."""
    return max(1, min(60, int(getattr(settings, "LASTMILE_ROLLUP_MINUTES", 10))))


def weeks_back(now: datetime, weeks: int) -> list[date]:
    """The ``weeks`` weeks ending with the one ``now`` is in, oldest first."""
    current = week_of(now)
    return [current - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]


def rollups_refresh(*, now: datetime) -> int:
    """The worker's run: recompute the week in progress and the one before it (late
    answers, loops closed late); returns how many rows were written."""
    return _compute(weeks_back(now, 2), now)


def rollups_rebuild(*, weeks: int = WEEKS_SHOWN, now: datetime) -> int:
    """Recompute the last ``weeks`` weeks (the one in progress included), every team's."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    return _compute(weeks_back(now, weeks), now)


# --- the dashboard: reading the rollups ---------------------------------------------------

TREND_WEEKS = 4  # the last four complete weeks against the four before them
TREND_POINTS = 5  # percentage points a rate must move by to count as worsening
TREND_MIN_LOOPS = 5  # loops each side needs for its rate to be judged
WORSENING_NOTE = (
    f"A team (an agent) is worsening when, over its last {TREND_WEEKS} complete weeks taken together, "
    f"its on-time rate is at least {TREND_POINTS} points lower, or its breach rate at least "
    f"{TREND_POINTS} points higher, than over the {TREND_WEEKS} weeks before them; each side "
    f"needs at least {TREND_MIN_LOOPS} loops (closed with a deadline for the on-time rate, "
    "finished for the breach rate) to be judged. The week in progress is left out. An "
    "agent's loops are those assigned to them now, and their breaches those of the loops "
    "they held when the loop breached, as on the scorecards. Only these two rates judge a "
    "trend: every agent has loops every week, while an agent's survey answers, promises and "
    "QA reviews are a handful a week, too few to call a trend; an agent's scorecard page "
    "shows every metric week by week."
)


def _pct(part: int, whole: int, digits: int = 1) -> float | None:
    return round(100 * part / whole, digits) if whole else None


def figures(row: TeamWeekRollup | None) -> dict[str, Any]:
    """A rollup's figures as the page shows them: counts, and rates in percent."""
    if row is None:
        return {}
    return {
        "open_loops": row.open_loops,
        "overdue_loops": row.overdue_loops,
        "overdue_mean_hours": row.overdue_mean_hours,
        "overdue_p95_hours": row.overdue_p95_hours,
        "loops_finished": row.loops_finished,
        "breaches": row.breaches,
        "breach_rate": _pct(row.breaches, row.loops_finished),
        "loops_closed": row.loops_closed,
        "on_time_rate": _pct(row.loops_closed_on_time, row.loops_closed_with_deadline),
        "promises_broken": row.promises_broken,
        "csat": _pct(row.csat_happy, row.csat_responses),
        "csat_responses": row.csat_responses,
        "nps": (
            round(100 * (row.nps_promoters - row.nps_detractors) / row.nps_responses, 1)
            if row.nps_responses
            else None
        ),
        "nps_responses": row.nps_responses,
        "sentiment": None if row.sentiment_mean is None else round(row.sentiment_mean, 2),
        "sentiment_messages": row.sentiment_messages,
        "deliveries_on_time": _pct(row.jobs_on_time, row.jobs_due),
        "jobs_due": row.jobs_due,
        "first_contact_resolution": _pct(row.first_contact_resolved, row.cases_solved),
        "cases_solved": row.cases_solved,
        "first_contact_resolved": row.first_contact_resolved,
        "recovery_rate": _pct(
            row.recoveries_recovered, row.recoveries_recovered + row.recoveries_lost
        ),
        "recoveries_recovered": row.recoveries_recovered,
        "recoveries_lost": row.recoveries_lost,
        "revenue_recovered": revenue_sorted(row.revenue_recovered),
        "alerts": row.alerts,
        "alerts_top": row.alerts_top,
    }


def revenue_sorted(amounts: dict[str, str]) -> list[tuple[str, Decimal]]:
    """A rollup's revenue per currency, largest first (then by currency)."""
    rows = [(c, Decimal(v)) for c, v in (amounts or {}).items()]
    return sorted(rows, key=lambda cv: (-cv[1], cv[0]))


def revenue_words(revenue: list[tuple[str, Decimal]]) -> str:
    """``[("EUR", Decimal("129.50"))]`` as "129.50 EUR"; "—" for none."""
    return ", ".join(f"{v:,.2f} {c}".strip() for c, v in revenue) or "—"


@dataclass
class Trend:
    """A team's pooled rates over the last ``TREND_WEEKS`` complete weeks and the ones
    before, in percent (None: too few loops to judge), and whether they are worsening."""

    on_time_before: float | None
    on_time_after: float | None
    breach_before: float | None
    breach_after: float | None
    reasons: list[str]

    @property
    def worsening(self) -> bool:
        return bool(self.reasons)


def _pooled(rows: list[Any], part: str, whole: str) -> float | None:
    n = sum(getattr(r, whole) for r in rows if r is not None)
    k = sum(getattr(r, part) for r in rows if r is not None)
    return _pct(k, n) if n >= TREND_MIN_LOOPS else None


def trend(complete: list[Any]) -> Trend:
    """The trend of a team's complete weeks, oldest first (``WORSENING_NOTE``)."""
    after = complete[-TREND_WEEKS:]
    before = complete[-2 * TREND_WEEKS : -TREND_WEEKS]
    t = Trend(
        on_time_before=_pooled(before, "loops_closed_on_time", "loops_closed_with_deadline"),
        on_time_after=_pooled(after, "loops_closed_on_time", "loops_closed_with_deadline"),
        breach_before=_pooled(before, "breaches", "loops_finished"),
        breach_after=_pooled(after, "breaches", "loops_finished"),
        reasons=[],
    )
    ob, oa, bb, ba = t.on_time_before, t.on_time_after, t.breach_before, t.breach_after
    if ob is not None and oa is not None and oa <= ob - TREND_POINTS:
        t.reasons.append(f"on-time rate {ob} % → {oa} %")
    if bb is not None and ba is not None and ba >= bb + TREND_POINTS:
        t.reasons.append(f"breach rate {bb} % → {ba} %")
    return t


@dataclass
class FunnelWeeks:
    """A saved funnel's weekly counts, one row per week shown (None: not computed)."""

    funnel: Any  # the Funnel
    rows: list[FunnelWeekRollup | None]


def funnel_figures(funnels: list[FunnelWeeks], i: int) -> dict[str, Any]:
    """The funnels' week ``i`` pooled: people entered and closed added over the funnels
    (each funnel counts its own people), and the close rate of the sums; unavailable (None,
    with ``funnel_error``: which funnel and why) when the engine failed on one of them."""
    rows: list[FunnelWeekRollup] = [r for f in funnels if (r := f.rows[i]) is not None]
    if not rows:
        return {}
    failed = [r for r in rows if r.error]
    if failed:  # a sum missing a funnel would be a wrong figure, not a smaller one
        return {
            "funnel_entered": None,
            "funnel_closed": None,
            "funnel_close_rate": None,
            "funnel_error": f"{failed[0].funnel.name}: {failed[0].error}",
        }
    entered = sum(r.entered for r in rows)
    closed = sum(r.closed for r in rows)
    return {
        "funnel_entered": entered,
        "funnel_closed": closed,
        "funnel_close_rate": _pct(closed, entered),
    }


def no_team_figures(row: NoTeamWeekRollup | None) -> dict[str, Any]:
    """The answers and alerts of no team, as ``figures`` gives a team's."""
    if row is None:
        return {}
    return {
        "csat": _pct(row.csat_happy, row.csat_responses),
        "csat_responses": row.csat_responses,
        "nps": (
            round(100 * (row.nps_promoters - row.nps_detractors) / row.nps_responses, 1)
            if row.nps_responses
            else None
        ),
        "nps_responses": row.nps_responses,
        "alerts": row.alerts,
        "alerts_top": row.alerts_top,
    }


@dataclass
class TeamDashboard:
    team: Team
    weeks: list[date]
    rows: list[TeamWeekRollup | None]  # one per week, oldest first; None: not computed
    current: dict[str, Any]
    trend: Trend
    funnels: list[FunnelWeeks] = field(default_factory=list)  # the team's own funnels

    def series(self, name: str) -> list[Any]:
        return [week.get(name) for week in self.weekly]

    @cached_property
    def weekly(self) -> list[dict[str, Any]]:
        """Each week's figures, worked out once for every series the page draws."""
        return [{**figures(r), **funnel_figures(self.funnels, i)} for i, r in enumerate(self.rows)]

    def revenue_series(self) -> list[tuple[str, list[float | None]]]:
        """The revenue recovered week by week, one series per currency seen (amounts are
        never added across currencies); none: an empty list."""
        currencies = sorted({c for r in self.rows if r is not None for c in r.revenue_recovered})
        return [
            (
                c,
                [
                    None if r is None else float(Decimal(r.revenue_recovered.get(c, "0")))
                    for r in self.rows
                ],
            )
            for c in currencies
        ]


@dataclass
class AgentTrend:
    """An agent whose trend is worsening (``WORSENING_NOTE``), with the weeks judged."""

    agent: Any  # the User
    trend: Trend
    since: date  # the Monday of the first of the last TREND_WEEKS complete weeks
    until: date  # the Sunday of the last complete week


@dataclass
class NoTeam:
    """What no team's figures count, week by week (an admin's dashboard shows it): the
    survey answers on no team's case, the alerts of no team, and the funnels no team owns."""

    rows: list[NoTeamWeekRollup | None]
    funnels: list[FunnelWeeks]

    @cached_property
    def weekly(self) -> list[dict[str, Any]]:
        return [
            {**no_team_figures(r), **funnel_figures(self.funnels, i)}
            for i, r in enumerate(self.rows)
        ]

    def series(self, name: str) -> list[Any]:
        return [week.get(name) for week in self.weekly]


@dataclass
class Dashboard:
    weeks: list[date]
    teams: list[TeamDashboard]
    computed_at: datetime | None  # when the week in progress was computed (its oldest row)
    agents_worsening: list[AgentTrend] = field(default_factory=list)
    no_team: NoTeam | None = None  # None: not this viewer's to see (an admin's only)


AGENT_TREND_FIELDS = (
    "loops_closed_on_time",
    "loops_closed_with_deadline",
    "breaches",
    "loops_finished",
)


def _agents_worsening(shown: list[date], agent_ids: Collection[int] | None) -> list[AgentTrend]:
    """The agents whose trend is worsening, read as plain rows (``values``) rather than
    model instances: 500 agents' 8 weeks are thousands of rows a request, and only the
    few worsening agents' users are read after."""
    complete = shown[:-1][-2 * TREND_WEEKS :]
    if not complete:
        return []
    qs = AgentWeekRollup.objects.filter(week__gte=complete[0], week__lte=complete[-1])
    if agent_ids is not None:
        qs = qs.filter(agent_id__in=sorted(agent_ids))
    by_agent: dict[int, dict[date, Any]] = {}
    for row in qs.order_by().values_list("agent_id", "week", *AGENT_TREND_FIELDS):
        by_agent.setdefault(row[0], {})[row[1]] = _Counts(*row[2:])
    found = []
    for agent_id, rows in by_agent.items():
        t = trend([rows.get(w) for w in complete])
        if t.worsening:
            found.append((agent_id, t))
    if not found:
        return []
    User = get_user_model()
    users = User.objects.in_bulk([a for a, _ in found])
    out = [
        AgentTrend(
            agent=users[agent_id],
            trend=t,
            since=complete[-TREND_WEEKS] if len(complete) >= TREND_WEEKS else complete[0],
            until=complete[-1] + timedelta(days=6),
        )
        for agent_id, t in found
        if agent_id in users
    ]
    return sorted(out, key=lambda a: a.agent.username)


class _Counts(NamedTuple):
    """An agent's week, the four counts the trend pools."""

    loops_closed_on_time: int
    loops_closed_with_deadline: int
    breaches: int
    loops_finished: int


def dashboard(
    *,
    team_ids: set[int] | None,
    now: datetime,
    weeks: int = WEEKS_SHOWN,
    agent_ids: Collection[int] | None = None,
) -> Dashboard:
    """The rollups of the teams ``team_ids`` (None: every team) for the last ``weeks``
    weeks, and the agents of ``agent_ids`` (None: every agent) whose trend is worsening:
    one read of ``TeamWeekRollup`` and one of ``AgentWeekRollup``, whatever the number of
    loops."""
    shown = weeks_back(now, weeks)
    teams_qs = Team.objects.order_by("name")
    if team_ids is not None:
        teams_qs = teams_qs.filter(pk__in=team_ids)
    teams = list(teams_qs)
    rollups = TeamWeekRollup.objects.filter(
        team__in=[t.pk for t in teams], week__gte=shown[0], week__lte=shown[-1]
    )
    by_key = {(r.team_id, r.week): r for r in rollups}
    funnel_rows = FunnelWeekRollup.objects.filter(
        week__gte=shown[0], week__lte=shown[-1], funnel__archived=False
    ).select_related("funnel")
    if team_ids is not None:
        funnel_rows = funnel_rows.filter(funnel__team__in=sorted(team_ids))
    funnels: dict[int, FunnelWeeks] = {}
    by_funnel: dict[tuple[int, date], FunnelWeekRollup] = {}
    for fr in funnel_rows.order_by("funnel__name", "funnel_id"):
        funnels.setdefault(fr.funnel_id, FunnelWeeks(funnel=fr.funnel, rows=[]))
        by_funnel[(fr.funnel_id, fr.week)] = fr
    for fw in funnels.values():
        fw.rows = [by_funnel.get((fw.funnel.pk, w)) for w in shown]
    out = []
    for t in teams:
        rows = [by_key.get((t.pk, w)) for w in shown]
        out.append(
            TeamDashboard(
                team=t,
                weeks=shown,
                rows=rows,
                current=figures(rows[-1]),
                trend=trend(rows[:-1]),
                funnels=[f for f in funnels.values() if f.funnel.team_id == t.pk],
            )
        )
    no_team = None
    if team_ids is None:
        unattached = {
            r.week: r
            for r in NoTeamWeekRollup.objects.filter(week__gte=shown[0], week__lte=shown[-1])
        }
        no_team = NoTeam(
            rows=[unattached.get(w) for w in shown],
            funnels=[f for f in funnels.values() if f.funnel.team_id is None],
        )
    stamps = [r.computed_at for r in by_key.values() if r.week == shown[-1]]
    return Dashboard(
        weeks=shown,
        teams=out,
        computed_at=min(stamps) if stamps else None,
        agents_worsening=_agents_worsening(shown, agent_ids),
        no_team=no_team,
    )


# --- the rows behind a dashboard figure ------------------------------------------------------
# The same filters as the rollups' aggregates above, for one team (None: no team) and one
# week, so the dashboard's rows page recounts what its tile says.


def sentiment_rows(team_id: int, start: datetime, end: datetime) -> QuerySet[Interaction]:
    """The customers' inbound messages with a sentiment score on the team's cases."""
    return Interaction.objects.filter(
        direction=Direction.INBOUND,
        sentiment_score__isnull=False,
        case__team_id=team_id,
        occurred_at__gte=start,
        occurred_at__lt=end,
    )


def jobs_rows(team_id: int, start: datetime, end: datetime, now: datetime) -> QuerySet[Job]:
    """The team's deliveries and visits whose window ended in the range by ``now``,
    cancelled ones left out; ``on_time`` annotated (completed within the window)."""
    within = Q(
        state=JobState.COMPLETED,
        completed_at__gte=F("window_start"),
        completed_at__lte=F("window_end"),
    )
    return (
        Job.objects.filter(team_id=team_id, window_end__gte=start, window_end__lt=min(end, now))
        .exclude(state=JobState.CANCELLED)
        .annotate(on_time=Count("pk", filter=within))
    )


def answer_rows(kind: str, team_id: int | None, start: datetime, end: datetime) -> QuerySet[Any]:
    """The ``kind`` (csat or nps) survey answers given in the range that count for the
    team (``answers_by_team``); ``team_id`` None: the answers of no team
    (``NO_TEAM_ANSWER``)."""
    qs = answers_by_team().filter(survey__kind=kind, at__gte=start, at__lt=end)
    if team_id is None:
        return qs.filter(NO_TEAM_ANSWER)
    return qs.filter(answer_team=team_id)


def recovery_rows(team_id: int, start: datetime, end: datetime) -> QuerySet[Recovery]:
    """The recoveries of the team's recovery loops that ended in the week."""
    return recoveries_ended(start, end).filter(loop__team_id=team_id)


def alert_rows(team_id: int | None, start: datetime, end: datetime) -> QuerySet[Alert]:
    """The team's social listening alerts raised in the range, loudest first (``team_id``
    None: the alerts of no team)."""
    mentions = Coalesce(Cast(KT("details__mentions"), IntegerField()), 0)
    owner = Q(team__isnull=True) if team_id is None else Q(team_id=team_id)
    return (
        Alert.objects.filter(owner, raised_at__gte=start, raised_at__lt=end)
        .annotate(mentions=mentions)
        .order_by("-mentions", "-raised_at", "-pk")
    )


def funnel_rows(team_id: int | None, week: date) -> QuerySet[FunnelWeekRollup]:
    """The week's rows of the live funnels the team owns (None: funnels of no team)."""
    owner = Q(funnel__team__isnull=True) if team_id is None else Q(funnel__team_id=team_id)
    return (
        FunnelWeekRollup.objects.filter(owner, week=week, funnel__archived=False)
        .select_related("funnel")
        .order_by("funnel__name", "funnel_id")
    )

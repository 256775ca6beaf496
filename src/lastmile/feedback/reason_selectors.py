"""Reads for the reasons page: why customers answer as they do, team by team and over time,
with the recovery loops still open beside each reason (the outer loop of issue 16).

A response belongs to its survey's team (as in ``feedback.selectors.feedback_summary``'s
``team`` filter), and its detractors are the detractor band, as that summary counts them; a
negative comment on a better score (which opens a recovery loop too) is counted beside them,
apart. The viewer sees the teams whose work they see (``visible_team_ids``: agents and leads
their teams, admins every team) and the teams they lead. A recovery loop belongs to the team
that served the customer (the case's), which may be another: only the loops the viewer may
open (``loops_visible``) are linked, the others counted as held by other teams. Counts come
from one grouped query (team, reason, week or month); the open loops from one more, limited.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth, TruncWeek

from lastmile.core.clock import utcnow
from lastmile.feedback.models import Band, ReasonTag, Response
from lastmile.loops.models import Loop, LoopState
from lastmile.people.models import Team
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

BUCKETS = ("week", "month")
TEAMS_PER_PAGE = 10
REASONS_PER_TEAM = 20  # the rest of a team's reasons are summed in one "other reasons" row
LOOPS_PER_ROW = 5  # open loops linked on a row; the count says how many in all
NO_REASON = 0  # the row of responses without a reason tag
OPEN_LOOPS_READ = 2000  # open loops read to pick each row's first ones


@dataclass(frozen=True)
class Cell:
    """One bucket (week or month) of one reason: answers, and of them detractors (by band)."""

    start: date
    responses: int = 0
    detractors: int = 0

    @property
    def detractor_share(self) -> float | None:
        return self.detractors / self.responses if self.responses else None


@dataclass(frozen=True)
class OpenLoop:
    """An open recovery loop a detractor's answer opened: where to act on it."""

    id: int
    title: str
    due_at: datetime | None
    case_ref: str
    customer_id: int | None
    overdue: bool = False  # past its deadline now
    breached: bool = False  # its ladder marked it breached


@dataclass
class Counts:
    """A row's or a team's totals (shared by ``ReasonRow`` and ``TeamReasons``)."""

    responses: int = 0
    detractors: int = 0  # the detractor band, as ``feedback_summary`` counts it
    negative: int = 0  # not detractors by score, but with a negative comment
    open_loops: int = 0  # every open recovery loop these answers opened
    held_elsewhere: int = 0  # of them, the ones held by teams the viewer does not see

    @property
    def detractor_share(self) -> float | None:
        return self.detractors / self.responses if self.responses else None

    @property
    def open_visible(self) -> int:
        return self.open_loops - self.held_elsewhere


@dataclass
class ReasonRow(Counts):
    reason_id: int = NO_REASON  # NO_REASON for untagged answers, -1 for "other reasons"
    name: str = ""
    cells: list[Cell] = field(default_factory=list)
    loops: list[OpenLoop] = field(default_factory=list)  # linked: ones the viewer may open


@dataclass
class TeamReasons(Counts):
    team_id: int = 0
    name: str = ""
    slug: str = ""
    rows: list[ReasonRow] = field(default_factory=list)


@dataclass
class ReasonReport:
    start: datetime
    end: datetime
    bucket: str
    buckets: list[date]
    teams: list[TeamReasons]
    teams_total: int  # teams with answers in the range, across every page
    page: int
    pages: int


def reason_teams(*, viewer: Viewer) -> list[Team]:
    """The teams whose reasons ``viewer`` may read, by name: their own and those they lead,
    or every team for admins, superusers and ``SYSTEM``."""
    ids = _team_ids(viewer)
    qs = Team.objects.order_by("name", "id")
    return list(qs if ids is None else qs.filter(id__in=ids))


def _team_ids(viewer: Viewer) -> set[int] | None:
    viewer = viewer_check(viewer)
    ids = visible_team_ids(viewer)
    if ids is None or viewer is SYSTEM:
        return ids
    return ids | set(Team.objects.filter(lead=viewer).values_list("id", flat=True))


def bucket_starts(start: datetime, end: datetime, bucket: str) -> list[date]:
    """The first day of every week (Monday) or month that ``[start, end)`` touches, in UTC."""
    first = start.astimezone(UTC).date()
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    out: list[date] = []
    if bucket == "week":
        day = first - timedelta(days=first.weekday())
        while day <= last:
            out.append(day)
            day += timedelta(days=7)
    else:
        day = first.replace(day=1)
        while day <= last:
            out.append(day)
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


def reasons_by_team(
    *,
    viewer: Viewer,
    start: datetime,
    end: datetime,
    bucket: str = "week",
    team: str | None = None,
    page: int = 1,
    now: datetime | None = None,
) -> ReasonReport:
    """Responses in ``[start, end)`` by team and reason, each with its count per ``bucket``
    (``week`` or ``month``, UTC), its detractors and its detractor share, and the recovery
    loops those answers opened that are still open (count, and the first due linked).

    Teams with answers only, most answers first, ``TEAMS_PER_PAGE`` a page (``page`` from 1;
    past the last: the last). A team's reasons most answers first, ``REASONS_PER_TEAM`` of
    them, the rest summed in one row. ``team`` (a slug) narrows to one team the viewer sees;
    one they do not see reads as one with no answers. A linked loop past its due time
    (``now``, the clock's by default) is marked overdue.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {BUCKETS}")
    team_ids = _team_ids(viewer)
    loop_teams = visible_team_ids(viewer)  # as loops.selectors.loops_visible
    is_open = Q(recovery_loop__state=LoopState.OPEN)
    # open loops held by teams the viewer does not see (none for who sees every team)
    # open loops held by teams the viewer does not see (none for who sees every team)
    held = (
        Q(pk__isnull=True)  # never
        if loop_teams is None
        else is_open & ~Q(recovery_loop__team_id__in=loop_teams)
    )
    qs = Response.objects.filter(at__gte=start, at__lt=end)
    if team_ids is not None:
        qs = qs.filter(survey__team_id__in=team_ids)
    if team:
        qs = qs.filter(survey__team__slug=team)
    trunc = TruncWeek("at", tzinfo=UTC) if bucket == "week" else TruncMonth("at", tzinfo=UTC)
    grouped = (
        qs.annotate(bucket=trunc)
        .values("survey__team_id", "reason_id", "bucket")
        .annotate(
            n=Count("id"),
            d=Count("id", filter=Q(band=Band.DETRACTOR)),
            neg=Count("id", filter=Q(detractor=True) & ~Q(band=Band.DETRACTOR)),
            o=Count("id", filter=is_open),
            x=Count("id", filter=held),
        )
        .order_by()
    )
    buckets = bucket_starts(start, end, bucket)
    # team -> reason -> bucket -> (answers, detractors); and open loops per team and reason
    counts: dict[int, dict[int, dict[date, tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    # (team, reason) -> [negative comments, open loops, open loops held elsewhere]
    extra: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    for g in grouped:
        team_id, reason_id = g["survey__team_id"], g["reason_id"] or NO_REASON
        day = _day(g["bucket"])
        n, d = counts[team_id][reason_id].get(day, (0, 0))
        counts[team_id][reason_id][day] = (n + g["n"], d + g["d"])
        more = extra[(team_id, reason_id)]
        more[0] += g["neg"]
        more[1] += g["o"]
        more[2] += g["x"]

    totals = {
        t: sum(n for cells in reasons.values() for n, _ in cells.values())
        for t, reasons in counts.items()
    }
    order = sorted(totals, key=lambda t: (-totals[t], t))
    pages = max(1, -(-len(order) // TEAMS_PER_PAGE))
    page = min(max(1, page), pages)
    shown = order[(page - 1) * TEAMS_PER_PAGE : page * TEAMS_PER_PAGE]
    teams = {t.pk: t for t in Team.objects.filter(id__in=shown)}
    reason_ids = {r for t in shown for r in counts[t] if r != NO_REASON}
    names = dict(ReasonTag.objects.filter(id__in=reason_ids).values_list("id", "name"))

    report_teams: list[TeamReasons] = []
    for team_id in shown:
        t = teams.get(team_id)
        block = TeamReasons(
            team_id=team_id, name=t.name if t else f"Team {team_id}", slug=t.slug if t else ""
        )
        rows = []
        for reason_id, cells in counts[team_id].items():
            row = ReasonRow(reason_id=reason_id, name=names.get(reason_id, "No reason given"))
            row.cells = [Cell(b, *cells.get(b, (0, 0))) for b in buckets]
            row.responses = sum(c.responses for c in row.cells)
            row.detractors = sum(c.detractors for c in row.cells)
            row.negative, row.open_loops, row.held_elsewhere = extra[(team_id, reason_id)]
            rows.append(row)
        rows.sort(key=lambda r: (r.reason_id == NO_REASON, -r.responses, r.name))
        if len(rows) > REASONS_PER_TEAM:
            rest, rows = rows[REASONS_PER_TEAM - 1 :], rows[: REASONS_PER_TEAM - 1]
            other = ReasonRow(reason_id=-1, name=f"{len(rest)} other reasons")
            other.cells = [
                Cell(
                    b,
                    sum(r.cells[i].responses for r in rest),
                    sum(r.cells[i].detractors for r in rest),
                )
                for i, b in enumerate(buckets)
            ]
            other.responses = sum(r.responses for r in rest)
            other.detractors = sum(r.detractors for r in rest)
            other.negative = sum(r.negative for r in rest)
            other.open_loops = sum(r.open_loops for r in rest)
            other.held_elsewhere = sum(r.held_elsewhere for r in rest)
            rows.append(other)
        block.rows = rows
        block.responses = sum(r.responses for r in rows)
        block.detractors = sum(r.detractors for r in rows)
        block.negative = sum(r.negative for r in rows)
        block.open_loops = sum(r.open_loops for r in rows)
        block.held_elsewhere = sum(r.held_elsewhere for r in rows)
        report_teams.append(block)

    if loop_teams is not None:
        qs = qs.filter(recovery_loop__team_id__in=loop_teams)
    _attach_open_loops(qs, report_teams, now=now or utcnow())
    return ReasonReport(
        start=start,
        end=end,
        bucket=bucket,
        buckets=buckets,
        teams=report_teams,
        teams_total=len(order),
        page=page,
        pages=pages,
    )


def _attach_open_loops(qs: Any, teams: list[TeamReasons], *, now: datetime) -> None:
    """The first ``LOOPS_PER_ROW`` open loops (soonest due) of each row shown, of those in
    ``qs`` (the ones the viewer may open): two queries, the first bounded by
    ``OPEN_LOOPS_READ``."""
    rows = {(t.team_id, r.reason_id): r for t in teams for r in t.rows if r.open_visible}
    if not rows:
        return
    summed = {t.team_id for t in teams for r in t.rows if r.reason_id == -1}
    found = (
        qs.filter(
            survey__team_id__in={team for team, _ in rows},
            recovery_loop__state=LoopState.OPEN,
        )
        .values_list("survey__team_id", "reason_id", "recovery_loop_id")
        .order_by("recovery_loop__due_at", "recovery_loop_id")[:OPEN_LOOPS_READ]
    )
    picked: list[tuple[ReasonRow, int]] = []
    taken: dict[int, int] = defaultdict(int)
    for team_id, reason_id, loop_id in found:
        row = rows.get((team_id, reason_id or NO_REASON))
        if row is None and team_id in summed:
            row = rows.get((team_id, -1))
        if row is None or taken[id(row)] >= LOOPS_PER_ROW:
            continue
        taken[id(row)] += 1
        picked.append((row, loop_id))
    loops = Loop.objects.select_related("case").in_bulk([loop_id for _, loop_id in picked])
    for row, loop_id in picked:
        loop = loops[loop_id]
        row.loops.append(
            OpenLoop(
                id=loop.pk,
                title=loop.title,
                due_at=loop.due_at,
                case_ref=loop.case.ref if loop.case is not None else "",
                customer_id=loop.customer_id,
                overdue=loop.due_at is not None and loop.due_at <= now,
                breached=loop.breached_at is not None,
            )
        )


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    return datetime.fromisoformat(str(value)).date()

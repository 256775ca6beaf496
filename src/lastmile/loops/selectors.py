"""Reads of loops, scoped to a viewer, and the words that explain a deadline."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.db.models import Case as When_
from django.db.models import (
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce, NullIf

from lastmile.core.errors import NotFound
from lastmile.loops.models import (
    TEAM_OWN_KINDS,
    Loop,
    LoopEvent,
    LoopEventKind,
    LoopKind,
    LoopState,
    SlaTarget,
)
from lastmile.loops.services import calendar_of
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer

# How far back, in loop event ids, a poll looks for an event of the viewer's teams before the
# cursor it was given: an event whose transaction committed after a later one's (PostgreSQL
# hands out ids before commit) is still seen.
INBOX_WINDOW = 200


@dataclass(frozen=True)
class InboxStamp:
    """``cursor``: the newest loop event, for the page to send back; ``last``: the newest
    event of a loop of the viewer's teams from ``INBOX_WINDOW`` before the cursor given on
    (0: none there). The inbox is redrawn when ``last`` grows."""

    cursor: int
    last: int


def inbox_version(*, viewer: Viewer, since: int | None = None) -> InboxStamp:
    """Whether the viewer's inbox (the open loops of their teams) changed since the poll that
    answered the cursor ``since`` (None: the first poll): every change of a loop (opened,
    closed, paused, escalated, breached, reassigned) writes one of its events.

    Two queries, each bounded by what happened since the last poll, not by the size of the
    tables: the newest event along the primary key, and the newest of the teams' among the
    events after ``since`` (less the window), read backwards along it. (The newest event of
    the teams' loops overall would walk every other team's events back to the last of
    theirs: a quiet team's inbox behind a busy one's.)
    """
    newest = LoopEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    teams = visible_team_ids(viewer)
    if teams is None:
        return InboxStamp(cursor=newest, last=newest)
    start = (newest if since is None else min(since, newest)) - INBOX_WINDOW
    last = (
        LoopEvent.objects.filter(id__gt=start, loop__team_id__in=teams)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return InboxStamp(cursor=newest, last=last or 0)


def loops_open_on_case(*, case: Any) -> list[Loop]:
    return list(Loop.objects.filter(case=case, state=LoopState.OPEN).order_by("pk"))


def reply_loops_open(*, case_ids: Iterable[int]) -> dict[int, int]:
    """The newest open reply loop's id on each of ``case_ids`` that has one."""
    return {
        case_id: pk
        for case_id, pk in Loop.objects.filter(
            case_id__in=list(case_ids), kind=LoopKind.REPLY, state=LoopState.OPEN
        )
        .order_by("opened_at", "pk")
        .values_list("case_id", "pk")
    }


class ReplyLoopFacts(NamedTuple):
    pk: int
    opened_by_id: int | None
    state: str
    opened_at: datetime
    closed_at: datetime | None


def reply_loops_facts(*, opened_by: Iterable[int], pks: Iterable[int]) -> list[ReplyLoopFacts]:
    """The reply loops ``opened_by`` those interactions, or with those ``pks``: how each
    stands (a caller following a batch it just recorded)."""
    return [
        ReplyLoopFacts(*values)
        for values in Loop.objects.filter(
            Q(opened_by_id__in=list(opened_by)) | Q(pk__in=list(pks)), kind=LoopKind.REPLY
        ).values_list("pk", "opened_by_id", "state", "opened_at", "closed_at")
    ]


def loops_grant_cases(teams: set[int], case: Any) -> QuerySet[Any]:
    """The ``case.view`` grant loops register for ``cases_visible``: the loops of ``teams`` on
    ``case`` (the outer case's id); any row grants it. One probe of the (case, state) index
    per case the outer query looks at.

    The team is compared as ``team_id + 0``, which no index serves: SQLite (no ``ANALYZE``
    statistics) otherwise probes the team's index and reads every loop of the team for each
    case, 6.5 s instead of 15 ms over 10,000 cases a back-office agent does not own.
    """
    return (
        Loop.objects.annotate(
            grant_team=ExpressionWrapper(F("team_id") + 0, output_field=IntegerField())
        )
        .filter(case_id=case, grant_team__in=sorted(teams))
        .values("pk")
    )


def loops_grant_cases_owned_before(teams: set[int], case: Any) -> QuerySet[Any]:
    """The second ``case.view`` grant of loops: the ``reassigned`` events of loops on ``case``
    that one of ``teams`` owned before the reassignment, as the loop's trail tells
    (``loop_reassign`` writes ``{"from": {"team": id, ...}}``; the sweeper's reassignment to
    the lead keeps the team and writes a bare id, which this does not match). Reads only the
    ``reassigned`` rows of the trail, through their partial index."""
    return LoopEvent.objects.filter(
        loop__case_id=case,
        kind=LoopEventKind.REASSIGNED,
        data__from__team__in=sorted(teams),
    )


def loops_visible(*, viewer: Viewer) -> QuerySet[Loop]:
    qs = Loop.objects.select_related(
        "case", "team", "assignee", "customer", "sla_policy__business_hours"
    )
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    return qs.filter(team_id__in=teams)


def loop_get(*, loop_id: int, viewer: Viewer) -> Loop:
    loop = loops_visible(viewer=viewer).filter(pk=loop_id).first() if 0 < loop_id < 2**63 else None
    if loop is None:
        raise NotFound(f"loop {loop_id}")
    return loop


def loop_list(
    *,
    viewer: Viewer,
    now: datetime,
    state: str | None = None,
    team: str | None = None,
    kind: str | None = None,
    due_before: datetime | None = None,
    breached: bool | None = None,
    assignee: Any = None,
    breached_by: Any = None,
    customer: Any = None,
    case: Any = None,
    closed_after: datetime | None = None,
    closed_before: datetime | None = None,
    team_own: bool | None = None,
) -> QuerySet[Loop]:
    """Loops, most urgent first: earliest deadline first, no deadline last.

    ``breached_by``: breached while that user held them (``with_breach_owner``), whoever
    holds them now: the scorecards' breaches of an agent.

    ``closed_after``/``closed_before``: finished (closed, broken or cancelled) at or after /
    strictly before those instants, so two adjacent periods never count a loop twice.
    ``team_own``: only (True) or none of (False) a team's own loops (``TEAM_OWN_KINDS``:
    acknowledgements, coaching, pay disputes), which the scorecards leave out."""
    qs = loops_visible(viewer=viewer)
    if state:
        qs = qs.filter(state=state)
    if team:
        qs = qs.filter(team__slug=team)
    if kind:
        qs = qs.filter(kind=kind)
    if due_before is not None:
        qs = qs.filter(due_at__lt=due_before)
    if breached is not None:
        is_breached = Q(breached_at__isnull=False) | Q(state=LoopState.OPEN, due_at__lte=now)
        qs = qs.filter(is_breached) if breached else qs.exclude(is_breached)
    if assignee is not None:
        qs = qs.filter(assignee=assignee)
    if breached_by is not None:
        qs = with_breach_owner(qs.filter(breached_at__isnull=False)).filter(
            breach_owner=str(breached_by.pk)
        )
    if customer is not None:
        qs = qs.filter(customer=customer)
    if case is not None:
        qs = qs.filter(case=case)
    if closed_after is not None:
        qs = qs.filter(closed_at__gte=closed_after)
    if closed_before is not None:
        qs = qs.filter(closed_at__lt=closed_before)
    if team_own is not None:
        own = Q(kind__in=TEAM_OWN_KINDS)
        qs = qs.filter(own) if team_own else qs.exclude(own)
    return qs.order_by(F("due_at").asc(nulls_last=True), "pk")


def loops_without_policy(qs: QuerySet[Loop] | None = None) -> QuerySet[Loop]:
    """Open loops with no deadline because no SLA policy matched them — a configuration gap
    (``loop_explain`` says "no SLA policy matches"). A loop with a deadline of its own
    (``due_at`` given when opened) or under a policy is not one."""
    base = Loop.objects.all() if qs is None else qs
    return base.filter(state=LoopState.OPEN, sla_policy__isnull=True, sla_seconds__isnull=True)


def sla_gaps(*, viewer: Viewer) -> list[dict[str, Any]]:
    """The loops no policy matches, one row per kind, channel and team with a count,
    largest first: what a policy is missing for."""
    rows = (
        loops_without_policy(loops_visible(viewer=viewer))
        .order_by()
        .values("kind", "channel", "team_id", "team__name")
        .annotate(n=Count("pk"))
    )
    gaps = [
        {
            "kind": row["kind"],
            "channel": row["channel"],
            "team_id": row["team_id"],
            "team_name": row["team__name"] or "",
            "n": row["n"],
        }
        for row in rows
    ]
    return sorted(gaps, key=lambda g: (-g["n"], g["kind"], g["channel"], g["team_name"]))


SLA_STATES = ("breached", "at_risk", "ok", "paused", "none")


def loop_sla_state(loop: Loop, *, now: datetime) -> str:
    """breached, at_risk (past the first rung or in the last quarter), ok, paused, none;
    for a loop that is no longer open, its state (closed, broken, cancelled)."""
    if loop.state != LoopState.OPEN:
        return loop.state
    if loop.paused_at is not None:
        return "paused"
    if loop.breached_at is not None or (loop.due_at is not None and loop.due_at <= now):
        return "breached"
    if loop.due_at is None:
        return "none"
    span = (loop.due_at - loop.opened_at).total_seconds()
    if loop.escalation_level > 0 or (span > 0 and (loop.due_at - now).total_seconds() < span / 4):
        return "at_risk"
    return "ok"


def loop_state_counts(qs: QuerySet[Loop], *, now: datetime) -> dict[str, int]:
    """How many open loops of ``qs`` are in each SLA state: ``loop_sla_state``'s rules, by
    counting ranges of the (team, state, …) indexes instead of testing every row.

    The stored columns the loop services keep (``loops.services``) make that exact:

    - a paused loop has no deadline (``loop_schedule``), so the loops with a deadline are
      breached (``due_at <= now``, or marked breached), at risk or on track; those without
      one are few and are sorted row by row (paused, breached, none);
    - ``at_risk_at`` is when a loop with a deadline starts to count as at risk (an escalated
      or breached one: long ago), never after its deadline: so ``at_risk_at <= now`` holds
      for every breached loop and every at-risk one, and the rest are on track.

    Five counts over index ranges: on SQLite about 10 ms for a team's 100,000 open loops,
    where a CASE with date arithmetic on every row took 250 ms.
    """
    open_qs = qs.filter(state=LoopState.OPEN).order_by()
    counts = dict.fromkeys(SLA_STATES, 0)
    undated = open_qs.filter(due_at__isnull=True).annotate(
        sla=When_(
            When(paused_at__isnull=False, then=Value("paused")),
            When(breached_at__isnull=False, then=Value("breached")),
            default=Value("none"),
        )
    )
    for row in undated.values("sla").annotate(n=Count("pk")):
        counts[row["sla"]] = row["n"]
    # Each filter on one column of an index beside (team, state), and no other column: a
    # second condition (even ``due_at IS NOT NULL``) makes SQLite read every row's table entry.
    overdue = open_qs.filter(due_at__lte=now).count()
    # Marked breached before the deadline (a fixed deadline between whole seconds, a sweep
    # ahead of the clock): breached, though at_risk_at counts them at risk. Rare; a partial
    # index of their own.
    marked = open_qs.filter(due_at__gt=now, breached_at__isnull=False).count()
    # An open loop has an at_risk_at exactly when it has a deadline: the two ranges of
    # at_risk_at split the loops with one (fewer entries read than counting them all).
    risky = open_qs.filter(at_risk_at__lte=now).count()
    counts["breached"] += overdue + marked
    counts["at_risk"] = risky - overdue - marked
    counts["ok"] = open_qs.filter(at_risk_at__gt=now).count()
    return counts


def _local(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %H:%M %Z")


def duration_words(seconds: float) -> str:
    """3 h 20 min, 2 days 4 h, 45 min — short words for an interval."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts) or "0 min"


# A reason that starts by saying when the loop is due ("due Tue 24 Nov 12:00 GMT: the end of
# the window the customer chose (…)"): the explanation says it once.
_DUE_PREFIX = re.compile(r"^due [^:]*?\d{1,2}:\d{2}[^:]*: ")


def _opened_reason(loop: Loop) -> str:
    """Why the loop's own deadline is what it is: the reason given when it was opened (the
    opened event's; a prefetched ``events`` is used when there), without a leading
    "due …:"."""
    cached = getattr(loop, "_prefetched_objects_cache", {}).get("events")
    if cached is not None:
        reason = next((e.reason for e in cached if e.kind == LoopEventKind.OPENED), "")
    else:
        reason = (
            LoopEvent.objects.filter(loop_id=loop.pk, kind=LoopEventKind.OPENED)
            .values_list("reason", flat=True)
            .first()
            or ""
        )
    return _DUE_PREFIX.sub("", reason.strip())


def loop_explain(loop: Loop, *, now: datetime | None = None) -> str:
    """Why the loop is due when it is, in words an agent can repeat to a customer.

    "due Tue 24 Nov 14:00 CET: 4 h of business hours from Mon 23 Nov 16:00 CET under
    'Email — normal'; paused 2 h (waiting on customer)". A deadline given when the loop was
    opened is explained by the reason given with it ("due Tue 24 Nov 12:00 GMT: the end of
    the window the customer chose (…)"), else by when it was set.
    """
    cal = calendar_of(loop)
    tz = cal.tz
    if loop.state != LoopState.OPEN:
        when = _local(loop.closed_at, tz) if loop.closed_at else "?"
        return f"{loop.get_state_display().lower()} {when}"
    if loop.sla_seconds is None:
        if loop.sla_policy is not None:
            target = SlaTarget(loop.sla_target).label.lower() if loop.sla_target else "this"
            return f"no deadline: policy '{loop.sla_policy.name}' sets no {target} target"
        conditions = f"kind {loop.kind}, channel {loop.channel or '-'}, team {loop.team or '-'}"
        return f"no deadline: no SLA policy matches ({conditions})"
    total = duration_words(loop.sla_seconds)
    clock = "of business hours " if not cal.always_open else ""
    if loop.due_at_fixed:
        why = _opened_reason(loop)
        basis = why or f"deadline set when opened {_local(loop.opened_at, tz)}"
    else:
        target = SlaTarget(loop.sla_target).label.lower() if loop.sla_target else "target"
        basis = (
            f"{total} {clock}from {_local(loop.opened_at, tz)} under '{loop.sla_policy}' ({target})"
        )
    if loop.paused_at is not None:
        left = max(0, loop.sla_seconds - loop.consumed_seconds)
        why = f" ({loop.pause_reason})" if loop.pause_reason else ""
        return f"paused since {_local(loop.paused_at, tz)}{why}: {duration_words(left)} {clock}left; {basis}"
    assert loop.due_at is not None
    text = f"due {_local(loop.due_at, tz)}: {basis}"
    if loop.paused_seconds:
        why = f" ({loop.pause_reason})" if loop.pause_reason else ""
        text += f"; paused {duration_words(loop.paused_seconds)}{why}"
    return text


# --- where a team's own loop is worked ------------------------------------------------------

# A loop with no customer has no customer page to be worked on. The app that opens such
# loops (crisis: an alert's acknowledgement) says where they are worked instead: a function
# from loop ids to page paths, registered in its AppConfig.ready, as a subscriber to events
# is (loops sits below that app and must not import it).
TeamLoopPages = Callable[[Sequence[int]], dict[int, str]]
_team_loop_pages: list[TeamLoopPages] = []


def team_loop_pages_register(fn: TeamLoopPages) -> TeamLoopPages:
    """Register ``fn(loop_ids) -> {loop_id: path}``; idempotent."""
    if fn not in _team_loop_pages:
        _team_loop_pages.append(fn)
    return fn


def team_loop_pages(loops: Iterable[Loop]) -> dict[int, str]:
    """The page of each loop without a customer among ``loops`` (one query per registered
    app, none when every loop has a customer)."""
    ids = [lp.pk for lp in loops if lp.customer_id is None]
    pages: dict[int, str] = {}
    if ids:
        for fn in _team_loop_pages:
            pages.update(fn(ids))
    return pages


def event_data_text(path: str) -> Cast:
    """A JSON value of a loop event's data as text, the same on SQLite and PostgreSQL."""
    return Cast(KT(path), output_field=CharField())


def reassigned_from() -> Any:
    """A reassigned event's previous assignee as text (None: nobody). Two shapes in the
    trail: loop_reassign writes {"from": {"team", "assignee"}, "to": {…}}; the sweeper's
    hand-over to the lead writes bare assignee ids {"from": 3, "to": 7}."""
    src = When_(
        When(data__from__has_key="assignee", then=event_data_text("data__from__assignee")),
        default=event_data_text("data__from"),
        output_field=CharField(),
    )
    # A JSON null reads as the text "null" on SQLite: nobody, as NULL is on PostgreSQL.
    return NullIf(src, Value("null", output_field=CharField()))


def with_breach_owner(loops: QuerySet[Loop]) -> QuerySet[Any]:
    """``loops`` annotated with ``breach_owner``: the user id (as text; None: nobody) the
    loop was assigned to when it breached (``breached_at``). The trail's first reassigned
    event after the breach names that owner as its previous assignee (the SLA ladder's
    hand-over to the lead comes after the breach rung); with none, the owner now held it
    then. A reassignment at the very instant of the breach counts as after it when its
    event follows the breach's."""
    breach_event = LoopEvent.objects.filter(
        loop=OuterRef(OuterRef("pk")), kind=LoopEventKind.BREACHED
    ).order_by("at", "pk")
    after = (
        LoopEvent.objects.filter(loop=OuterRef("pk"), kind=LoopEventKind.REASSIGNED)
        .filter(
            Q(at__gt=OuterRef("breached_at"))
            | Q(
                at=OuterRef("breached_at"),
                pk__gt=Coalesce(Subquery(breach_event.values("pk")[:1]), 0),
            )
        )
        .order_by("at", "pk")
    )
    return loops.annotate(
        breach_owner=When_(
            When(
                Exists(after),
                then=Subquery(after.annotate(src=reassigned_from()).values("src")[:1]),
            ),
            default=Cast("assignee_id", output_field=CharField()),
            output_field=CharField(),
        )
    )

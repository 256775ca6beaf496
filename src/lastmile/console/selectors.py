"""Reads the console's pages compose from the domain selectors.

Every row handed to a template is already decorated (SLA state, explanation), so templates
never call back into the database and a page costs a fixed number of queries however many
rows it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import F, Prefetch, QuerySet

from lastmile.cases.models import Case
from lastmile.cases.selectors import cases_visible, customer_cases
from lastmile.customers.models import Customer, Interaction
from lastmile.customers.selectors import interactions_list, timeline
from lastmile.loops.models import Loop, LoopEvent, LoopState
from lastmile.loops.selectors import (
    loop_explain,
    loop_list,
    loop_sla_state,
    loop_state_counts,
    team_loop_pages,
)
from lastmile.loops.services import calendar_of
from lastmile.people.models import Team
from lastmile.people.selectors import every_team, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer

INBOX_PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 20

# (key, label) in the order the inbox shows the counts: worst first.
SLA_STATE_LABELS = (
    ("breached", "Breached"),
    ("at_risk", "At risk"),
    ("ok", "On track"),
    ("paused", "Paused"),
    ("none", "No deadline"),
)


@dataclass
class LoopRow:
    """A loop with what the page shows about it, computed once."""

    loop: Loop
    sla: str  # breached, at_risk, ok, paused, none — or the loop's state once it is not open
    explanation: str
    can_act: bool = False
    case_visible: bool = False
    page: str = ""  # where a loop with no customer is worked (an alert's crisis room)

    @property
    def is_open(self) -> bool:
        return self.loop.state == LoopState.OPEN

    @property
    def tz(self) -> str:
        """The zone of the loop's business hours, so the due time and its explanation agree."""
        return calendar_of(self.loop).tz


def _can_act(loop: Loop, teams: set[int] | None) -> bool:
    """Actions on a loop go to the team that owns it (``loop_get`` enforces the same)."""
    return loop.state == LoopState.OPEN and (teams is None or loop.team_id in teams)


class Unasked:
    """A parameter's default: "not known yet, ask" (``None`` is an answer: every team)."""


UNASKED = Unasked()


def _decorate(
    loops: list[Loop],
    *,
    viewer: Viewer,
    now: datetime,
    visible_cases: set[int],
    teams: set[int] | None | Unasked = UNASKED,
) -> list[LoopRow]:
    """``teams`` is ``visible_team_ids(viewer)`` when the caller has it already."""
    if isinstance(teams, Unasked):
        teams = visible_team_ids(viewer)
    pages = team_loop_pages(loops)
    return [
        LoopRow(
            loop=lp,
            sla=loop_sla_state(lp, now=now) if lp.state == LoopState.OPEN else lp.state,
            explanation=loop_explain(lp, now=now),
            can_act=_can_act(lp, teams),
            case_visible=lp.case_id is not None and lp.case_id in visible_cases,
            page=pages.get(lp.pk, ""),
        )
        for lp in loops
    ]


def _visible_case_ids(
    *,
    viewer: Viewer,
    cases: dict[int, int | None],
    teams: set[int] | None | Unasked = UNASKED,
) -> set[int]:
    """Which of ``cases`` (id: the id of the team that owns it) the viewer may open.

    Those a team of the viewer owns are open to it (``cases_visible``'s first rule) without
    asking the database; only the others go through ``cases_visible``'s grants, whose
    query costs more to build than to run (a case page asked it three times).
    """
    if not cases:
        return set()
    if isinstance(teams, Unasked):
        teams = visible_team_ids(viewer)
    if teams is None:
        return set(cases)
    owned = {pk for pk, team in cases.items() if team in teams}
    rest = set(cases) - owned
    if rest:
        owned |= set(cases_visible(viewer=viewer).filter(pk__in=rest).values_list("pk", flat=True))
    return owned


# --- inbox -------------------------------------------------------------------------------


@dataclass
class InboxFilters:
    team: str = ""
    kind: str = ""
    breached: bool = False
    mine: bool = False

    def querystring(self) -> str:
        from urllib.parse import urlencode

        params: dict[str, str] = {}
        if self.team:
            params["team"] = self.team
        if self.kind:
            params["kind"] = self.kind
        if self.breached:
            params["breached"] = "1"
        if self.mine:
            params["mine"] = "1"
        return urlencode(params)


@dataclass
class Inbox:
    rows: list[LoopRow]
    page: Page
    counts: list[tuple[str, str, int]]
    total: int
    filters: InboxFilters


def inbox(*, viewer: Viewer, now: datetime, filters: InboxFilters, page_number: Any = 1) -> Inbox:
    """Open loops of the viewer's teams, most urgent first, one page of them, and the counts.

    The counts follow the team/kind/mine filters but not ``breached`` (they are what the
    breached filter picks from). ``mine`` is the loops assigned to the viewer (``SYSTEM``
    is assigned none, so it means nothing for it).
    """
    # The loops assigned to the viewer; SYSTEM is assigned none, so the filter is dropped.
    mine = viewer if filters.mine and viewer is not SYSTEM else None
    base = loop_list(
        viewer=viewer,
        now=now,
        state=LoopState.OPEN,
        team=filters.team or None,
        kind=filters.kind or None,
        assignee=mine,
    )
    counts = loop_state_counts(base, now=now)
    listed = (
        loop_list(
            viewer=viewer,
            now=now,
            state=LoopState.OPEN,
            team=filters.team or None,
            kind=filters.kind or None,
            assignee=mine,
            breached=True,
        )
        if filters.breached
        else base
    )
    paginator = Paginator(listed, INBOX_PAGE_SIZE)
    if not filters.breached:
        # The counts hold how many loops are listed: no second count of every row. (The
        # breached filter also lists paused loops past their deadline, which count as paused.)
        paginator.count = sum(counts.values())
    page = paginator.get_page(page_number)
    loops = list(page.object_list)
    teams = visible_team_ids(viewer)
    visible = _visible_case_ids(
        viewer=viewer,
        cases={lp.case.pk: lp.case.team_id for lp in loops if lp.case is not None},
        teams=teams,
    )
    return Inbox(
        rows=_decorate(loops, viewer=viewer, now=now, visible_cases=visible, teams=teams),
        page=page,
        counts=[(key, label, counts.get(key, 0)) for key, label in SLA_STATE_LABELS],
        total=sum(counts.values()),
        filters=filters,
    )


# --- case page ---------------------------------------------------------------------------


# The case page shows the newest messages of a long case; older ones load on request.
THREAD_PAGE = 50
# And the newest finished loops, with a count of the rest.
DONE_LOOPS_SHOWN = 20


@dataclass
class Thread:
    """One page of a case's messages, oldest first: the newest ``THREAD_PAGE`` (or those
    before ``before``), how many the case has in all, and whether older ones remain."""

    rows: list[Interaction]
    total: int
    has_older: bool

    @property
    def oldest_id(self) -> int | None:
        return self.rows[0].pk if self.rows else None


def case_thread(*, case: Case, before: int | None = None, limit: int = THREAD_PAGE) -> Thread:
    """What was said on the case, on every channel, oldest first: the newest ``limit``
    messages, or the ``limit`` before the message ``before`` (the "earlier" button).

    Ordered by id, which is the case index's order (the order messages were recorded in);
    a read of the customers app's table for one page.
    """
    qs = Interaction.objects.filter(case=case)
    page = qs if before is None else qs.filter(pk__lt=before)
    newest = list(page.select_related("actor", "customer").order_by("-id")[: limit + 1])
    has_older = len(newest) > limit
    rows = newest[:limit][::-1]
    total = len(rows) if before is None and not has_older else qs.count()
    return Thread(rows=rows, total=total, has_older=has_older)


def _with_trail(qs: QuerySet[Loop]) -> QuerySet[Loop]:
    return qs.prefetch_related(
        Prefetch("events", queryset=LoopEvent.objects.select_related("actor").order_by("at", "id"))
    )


def case_loops(*, case: Case, viewer: Viewer, now: datetime) -> tuple[list[LoopRow], list[LoopRow]]:
    """(open, finished) loops of a case the viewer may see, with their trails.

    Every loop of the case is shown, whichever team owns it — a hand-off to the back office
    is part of the case; only the owning team gets the actions.
    """
    qs = loop_list(viewer=SYSTEM, now=now, case=case)
    # Finished loops: the newest DONE_LOOPS_SHOWN (the page says how many there are).
    done_qs = qs.exclude(state=LoopState.OPEN).order_by(
        F("closed_at").desc(nulls_last=True), "-opened_at", "-id"
    )
    loops = list(_with_trail(qs.filter(state=LoopState.OPEN))) + list(
        _with_trail(done_qs)[:DONE_LOOPS_SHOWN]
    )
    rows = _decorate(loops, viewer=viewer, now=now, visible_cases={case.pk})
    open_rows = [r for r in rows if r.is_open]
    done = sorted(
        (r for r in rows if not r.is_open),
        key=lambda r: r.loop.closed_at or r.loop.opened_at,
        reverse=True,
    )
    return open_rows, done


def case_loops_finished(*, case: Case) -> int:
    """How many of the case's loops are finished (the page shows the newest few)."""
    return Loop.objects.filter(case=case).exclude(state=LoopState.OPEN).count()


# --- customer panel ----------------------------------------------------------------------


@dataclass
class CasePeek:
    case: Case
    visible: bool


@dataclass
class TimelineRow:
    interaction: Interaction
    case_visible: bool
    withheld: str = ""  # an internal note on a case the viewer cannot open: shown instead


@dataclass
class Timeline:
    rows: list[TimelineRow]
    next: str | None
    channel: str = ""  # the channel filter, "" for every channel
    channels: list[str] = field(default_factory=list)  # the filter's choices (first page only)


@dataclass
class CustomerPanel:
    customer: Customer
    identities: list[Any]
    open_loops: list[LoopRow]
    cases: list[CasePeek]
    timeline: Timeline


def customer_panel(
    *,
    customer: Customer,
    viewer: Viewer,
    now: datetime,
    before: str | None = None,
    beside: Case | None = None,
) -> CustomerPanel:
    """What every agent beside this customer should know, so nobody asks twice.

    The caller has checked the viewer may see the customer. Open loops are listed for every
    team (who else owes this customer what) — beside a case, those not on that case, which
    the case page lists itself; previous cases are listed by reference and subject, linked
    only where the viewer may open them.
    """
    loops = loop_list(viewer=SYSTEM, now=now, customer=customer, state=LoopState.OPEN)
    if beside is not None:
        loops = loops.exclude(case=beside)
    # The ids first, then the rows by id: PostgreSQL overestimates a customer's open loops
    # (200 for 12) and joined every case by a scan of the whole table (7 ms of 10,000 cases
    # in bench/console.py); given the ids it reads the few cases by key.
    ids = list(loops.values_list("pk", flat=True))
    open_loops = list(_with_trail(loops.filter(pk__in=ids))) if ids else []
    all_cases = list(customer_cases(customer=customer))
    teams = visible_team_ids(viewer)
    visible = _visible_case_ids(
        viewer=viewer,
        cases={c.pk: c.team_id for c in all_cases}
        | {lp.case.pk: lp.case.team_id for lp in open_loops if lp.case is not None},
        teams=teams,
    )
    return CustomerPanel(
        customer=customer,
        identities=list(customer.identities.order_by("kind", "network", "value")),
        open_loops=_decorate(
            open_loops, viewer=viewer, now=now, visible_cases=visible, teams=teams
        ),
        cases=[CasePeek(case=c, visible=c.pk in visible) for c in all_cases],
        timeline=customer_timeline(customer=customer, viewer=viewer, before=before),
    )


def customer_timeline(
    *, customer: Customer, viewer: Viewer, before: str | None = None, channel: str = ""
) -> Timeline:
    """One page of the customer's timeline, newest first; ``before`` is the last page's cursor,
    ``channel`` keeps one channel's interactions (``social:twitter`` is one channel). The first
    page also lists the customer's channels, for the filter."""
    if channel:
        page = interactions_list(
            viewer=viewer,
            customer=customer,
            channel=channel,
            before=before,
            limit=TIMELINE_PAGE_SIZE,
        )
    else:
        page = timeline(customer=customer, viewer=viewer, before=before, limit=TIMELINE_PAGE_SIZE)
    channels = []
    if not before:
        channels = sorted(
            set(
                Interaction.objects.filter(customer_id=customer.pk)
                .order_by()
                .values_list("channel", flat=True)
                .distinct()
            )
        )
    return Timeline(
        rows=[
            TimelineRow(
                interaction=i,
                case_visible=i.case_id in page.open_cases,
                withheld=page.withheld.get(i.pk, ""),
            )
            for i in page.items
        ],
        next=page.next,
        channel=channel,
        channels=channels,
    )


@dataclass
class ViewerTeams:
    """The teams whose work the viewer sees; ``every`` for admins, who see all of them."""

    teams: list[Team]
    every: bool

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.teams)

    def __bool__(self) -> bool:
        return bool(self.teams)


def teams_of(viewer: Viewer) -> ViewerTeams:
    """For the top bar and the inbox's team filter."""
    ids = visible_team_ids(viewer)
    teams = every_team()  # read once per page: the forms list every team too
    if ids is not None:
        teams = [t for t in teams if t.pk in ids]
    return ViewerTeams(teams=teams, every=ids is None)


def all_teams() -> list[Team]:
    """Every team by name, for a form's choices: a task can be handed to any of them,
    whether the viewer sees its work or not. Read once per page (``every_team``)."""
    return every_team()

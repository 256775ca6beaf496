"""Reads of the console's case lists: scope, filters, sort, one page, and the sidebar's
counts. Cases come from ``cases.selectors.case_list`` (the one visibility rule); what
depends on loops (breached, due) is read here, above both apps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Min, Q, QuerySet

from lastmile.cases.models import Case, SavedView
from lastmile.cases.selectors import (
    UNSOLVED,
    case_list,
    case_tag_names,
    member_team_ids,
    saved_views,
)
from lastmile.loops.models import Loop, LoopState
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer

CASE_PAGE_SIZE = 50

SCOPES = (
    ("mine", "Mine"),
    ("unassigned", "Unassigned in my teams"),
    ("teams", "My teams"),
    ("all", "All cases"),
)
SORTS = (("due", "Due first"), ("updated", "Recently updated"), ("created", "Newest"))


@dataclass
class CaseQuery:
    """A case list's parameters, as its query string holds them (a saved view stores that)."""

    scope: str = "teams"
    status: str = UNSOLVED
    priority: str = ""
    channel: str = ""
    tag: str = ""
    team: str = ""
    breached: bool = False
    sort: str = "updated"

    def as_query(self) -> str:
        """The query string of this list (defaults left out): a saved view's ``query``."""
        defaults = CaseQuery()
        pairs = [
            (name, "1" if value is True else value)
            for name, value in vars(self).items()
            if value != getattr(defaults, name) and value not in ("", False)
        ]
        if self.status != defaults.status and not self.status:
            pairs.append(("status", "any"))
        return urlencode(pairs)


@dataclass
class CaseRow:
    case: Case
    tags: list[str]
    due_at: datetime | None
    breached: bool


@dataclass
class ViewCount:
    key: str
    label: str
    query: str
    count: int
    saved: SavedView | None = None


@dataclass
class CaseListPage:
    rows: list[CaseRow]
    page: Page
    query: CaseQuery
    sidebar: list[ViewCount] = field(default_factory=list)
    saved: list[ViewCount] = field(default_factory=list)


def _breached_loops(now: datetime) -> QuerySet[Loop]:
    """Open loops past their deadline, or marked breached by the sweeper (the inbox's rule)."""
    return Loop.objects.filter(state=LoopState.OPEN, case__isnull=False).filter(
        Q(breached_at__isnull=False) | Q(due_at__lte=now)
    )


def scope_filter(scope: str, *, viewer: Viewer) -> Q:
    """``mine``: assigned to the viewer; ``unassigned``: nobody's, in one of the viewer's
    teams; ``teams``: in one of the viewer's teams; ``all``: every case they may open
    (an admin: every case)."""
    if scope == "all":
        return Q()
    if scope == "mine":
        return Q(assignee=viewer) if viewer is not SYSTEM else Q(pk__in=[])
    teams = member_team_ids(viewer)
    if scope == "unassigned":
        return Q(team_id__in=teams, assignee__isnull=True)
    return Q(team_id__in=teams)


def case_rows(
    *, viewer: Viewer, query: CaseQuery, now: datetime, ordered: bool = True
) -> QuerySet[Case]:
    """The list's cases, filtered and sorted (not yet paged); ``ordered=False``: only
    filtered, for counting."""
    qs = case_list(
        viewer=viewer,
        status=None if query.status == "any" else query.status,
        team=query.team or None,
        priority=query.priority or None,
        tag=query.tag or None,
        channel=query.channel or None,
        in_my_teams=query.scope != "all",
    ).filter(scope_filter(query.scope, viewer=viewer))
    if query.breached:
        qs = qs.filter(pk__in=_breached_loops(now).values("case_id"))
    if not ordered:
        return qs
    if query.sort == "due":
        # The earliest deadline of the case's open loops: one grouped join (a correlated
        # subquery per case cost three times as much on PostgreSQL with 75,000 cases).
        return qs.annotate(
            due_at=Min("loops__due_at", filter=Q(loops__state=LoopState.OPEN))
        ).order_by(F("due_at").asc(nulls_last=True), "-id")
    if query.sort == "created":
        return qs.order_by("-created_at", "-id")
    return qs.order_by("-updated_at", "-id")


def _counts(
    *, viewer: Viewer, now: datetime, views: list[SavedView]
) -> tuple[list[ViewCount], list[ViewCount]]:
    """The sidebar: how many unsolved cases each scope holds, in one query, then each saved
    view's count (one query each)."""
    # mine, unassigned and my teams are all within my teams: one pass over that index range
    base = case_list(viewer=viewer, status=UNSOLVED, in_my_teams=True).order_by()
    agg = base.aggregate(
        **{
            key: Count("pk", filter=scope_filter(key, viewer=viewer))
            for key in ("mine", "unassigned", "teams")
        }
    )
    scopes = list(SCOPES[:3])
    if visible_team_ids(viewer) is None:  # admins: every unsolved case (its partial index)
        scopes.append(SCOPES[3])
        agg["all"] = case_list(viewer=viewer, status=UNSOLVED).order_by().count()
    sidebar = [
        ViewCount(key=key, label=label, query=CaseQuery(scope=key).as_query(), count=agg[key] or 0)
        for key, label in scopes
    ]
    saved = []
    for view in views:
        q = case_query_parse(view.query)
        saved.append(
            ViewCount(
                key=f"v{view.pk}",
                label=view.name,
                query=view.query,
                count=case_rows(viewer=viewer, query=q, now=now, ordered=False).order_by().count(),
                saved=view,
            )
        )
    return sidebar, saved


def case_query_parse(query: str | dict[str, Any]) -> CaseQuery:
    """A list's query string (or a request's GET), lenient: an unknown value is dropped."""
    from django.http import QueryDict

    data = QueryDict(query) if isinstance(query, str) else query
    q = CaseQuery()
    scope = data.get("scope", "")
    if scope in dict(SCOPES):
        q.scope = scope
    status = data.get("status", "")
    if status in ("any", UNSOLVED, "open", "pending", "solved", "closed"):
        q.status = status
    if data.get("priority", "") in ("low", "normal", "high", "urgent"):
        q.priority = data["priority"]
    for name in ("channel", "tag", "team"):
        value = (data.get(name) or "").strip()[:50]
        setattr(q, name, value)
    q.breached = data.get("breached") in ("1", "on", "true")
    if data.get("sort", "") in dict(SORTS):
        q.sort = data["sort"]
    return q


def case_list_page(
    *, viewer: Viewer, query: CaseQuery, now: datetime, page_number: Any = 1, counts: bool = True
) -> CaseListPage:
    """One page of a case list, each row with its tags, earliest open deadline and whether
    a loop on it is breached; and the sidebar's counts. A fixed number of queries.

    "All" is the admins' list (every case); an agent asking for it gets their teams' cases
    (the other cases they may open are reached from their loops and customers: listing
    them all would probe every other team's case for a grant)."""
    if query.scope == "all" and visible_team_ids(viewer) is not None:
        query.scope = "teams"
    qs = case_rows(viewer=viewer, query=query, now=now)
    # Page the ids (a narrow sort, no joins), then read those rows with what they show.
    paginator = Paginator(qs.values_list("pk", flat=True), CASE_PAGE_SIZE)
    # Counted without the sort's grouping (the same cases, without reading their loops).
    paginator.__dict__["count"] = (
        case_rows(viewer=viewer, query=query, now=now, ordered=False).order_by().count()
    )
    page = paginator.get_page(page_number)
    ids = list(page.object_list)
    found = Case.objects.select_related("customer", "team", "assignee").in_bulk(ids)
    cases = [found[pk] for pk in ids if pk in found]
    tags = case_tag_names(case_ids=ids)
    due: dict[int, datetime | None] = {}
    for case_id, due_at in (
        Loop.objects.filter(case_id__in=ids, state=LoopState.OPEN, due_at__isnull=False)
        .order_by("-due_at")
        .values_list("case_id", "due_at")
    ):
        due[case_id] = due_at  # the earliest wins: last in descending order
    breached = set(_breached_loops(now).filter(case_id__in=ids).values_list("case_id", flat=True))
    rows = [
        CaseRow(case=c, tags=tags.get(c.pk, []), due_at=due.get(c.pk), breached=c.pk in breached)
        for c in cases
    ]
    result = CaseListPage(rows=rows, page=page, query=query)
    if counts:
        result.sidebar, result.saved = _counts(
            viewer=viewer, now=now, views=saved_views(viewer=viewer)
        )
    return result

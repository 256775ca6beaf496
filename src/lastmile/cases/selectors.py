"""Reads of cases, scoped to a viewer (a ``User``, or ``SYSTEM``, which sees everything)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from lastmile.cases.models import Case, CaseEvent, CaseStatus, CaseTag, SavedView, Tag
from lastmile.core.errors import NotFound
from lastmile.core.events import grants
from lastmile.people.models import Team
from lastmile.people.selectors import agent_for, person_name, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer


def ref_number(ref: str) -> int | None:
    """``LM-1042`` → 1042; None if it is not one of our references. Typed in any case and
    with the dash left out (``lm1042``, ``LM1042``, ``lm-1042``): it names the same case."""
    m = re.fullmatch(
        rf"{re.escape(settings.LASTMILE_CASE_PREFIX.upper())}-?(\d{{1,15}})",
        (ref or "").strip().upper(),
    )
    return int(m.group(1)) if m else None


def cases_visible(*, viewer: Viewer) -> QuerySet[Case]:
    """The one rule of which cases a viewer may open (pages, API and search all read it).

    A team may open a case:

    1. it owns (``Case.team``);
    2. on which it owns a loop, or owned one before a reassignment (granted by loops);
    3. on which one of its members wrote: a reply, a note, a logged call (granted by
       customers), as front office opens the case where its own call notes are.

    Admins and ``SYSTEM`` open every case; a user in no team, none. An app above cases
    registers a ``case.view`` grant (``lastmile.core.events.grant_register``) in its
    AppConfig.ready: ``grant(team_ids, case)`` answers with a query of the rows that let
    those teams open ``case`` (an ``OuterRef`` to the case's id); any row grants it.

    Each grant is an ``EXISTS`` probe by case (its table's index on the case), asked only of
    the cases the rest of the query picks and the teams do not own: a case page or a page of
    ids costs a probe or a few, never a read of every case a team ever touched.
    """
    qs = Case.objects.select_related("customer", "team", "assignee")
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    seen = Q(team_id__in=teams)
    for grant in grants("case.view"):
        seen |= Q(Exists(grant(teams, OuterRef("pk"))))
    return qs.filter(seen)


def case_held(*, ref: str) -> Case | None:
    """The case called ``ref`` whoever may open it, with only its reference and team: for
    "held by Team X" where the viewer may not open it (nothing of its content is shown)."""
    number = ref_number(ref)
    if number is None:
        return None
    return (
        Case.objects.select_related("team")
        .only("number", "team__name")
        .filter(number=number)
        .first()
    )


def case_history(*, case: Case) -> list[CaseEvent]:
    """The case's trail, oldest first, with who did each thing (the case page's History).

    An ``assigned`` event stores the assignee's username and the team's slug, as the API
    shows them; each such event also gets ``assignee_name`` and ``team_name`` to show
    people (two queries for the whole trail)."""
    events = list(CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "id"))
    assigned = [e for e in events if e.kind == "assigned" and isinstance(e.data, dict)]
    usernames = {e.data.get("assignee") for e in assigned} - {None, ""}
    slugs = {e.data.get("team") for e in assigned} - {None, ""}
    users = {
        u.username: person_name(u) for u in get_user_model().objects.filter(username__in=usernames)
    }
    teams = dict(Team.objects.filter(slug__in=slugs).values_list("slug", "name"))
    for e in assigned:
        who, team = e.data.get("assignee"), e.data.get("team")
        e.assignee_name = users.get(who, who) if who else ""  # type: ignore[attr-defined]
        e.team_name = teams.get(team, team) if team else ""  # type: ignore[attr-defined]
    return events


def case_tag_names(*, case_ids: Iterable[int]) -> dict[int, list[str]]:
    """The tags of each of ``case_ids``, by name, in one query."""
    out: dict[int, list[str]] = {}
    for case_id, name in (
        CaseTag.objects.filter(case_id__in=list(case_ids))
        .order_by("tag__name")
        .values_list("case_id", "tag__name")
    ):
        out.setdefault(case_id, []).append(name)
    return out


def tag_names() -> list[str]:
    """Every tag in use, for the filters' choices."""
    return list(Tag.objects.order_by("name").values_list("name", flat=True))


def member_team_ids(viewer: Viewer) -> set[int]:
    """The teams the viewer is a member of (an admin's own teams too; SYSTEM: none): what
    "my teams" and "unassigned in my teams" mean, which is not what they may open."""
    agent = agent_for(viewer) if viewer is not SYSTEM else None
    return set(agent.teams.values_list("id", flat=True)) if agent is not None else set()


def saved_views(*, viewer: Viewer) -> list[SavedView]:
    """The viewer's own saved case lists, then those shared with their teams."""
    if viewer is SYSTEM:
        return []
    return list(
        SavedView.objects.filter(Q(owner=viewer) | Q(team_id__in=member_team_ids(viewer)))
        .select_related("team")
        .order_by("team_id", "name", "id")
    )


def case_get(*, ref: str, viewer: Viewer) -> Case:
    """The case called ``ref`` if ``viewer`` may see it; otherwise 404, the same as missing."""
    number = ref_number(ref)
    case = (
        cases_visible(viewer=viewer).filter(number=number).first() if number is not None else None
    )
    if case is None:
        raise NotFound(f"case {ref}")
    return case


def cases_by_ref(refs: Iterable[str]) -> dict[str, Case]:
    numbers = {r: ref_number(r) for r in refs}
    found = {
        c.number: c
        for c in Case.objects.filter(number__in=[n for n in numbers.values() if n is not None])
    }
    return {r: found[n] for r, n in numbers.items() if n is not None and n in found}


def cases_routing(*, case_ids: Iterable[int]) -> dict[int, Case]:
    """The cases ``case_ids`` by id, with only what work opened on a case takes from it: the
    customer (and their name), team, assignee, status and priority. In one query: the loop
    engine reads hundreds for a batch."""
    return (
        Case.objects.select_related("customer")
        .only(
            "customer_id",
            "team_id",
            "assignee_id",
            "status",
            "priority",
            "customer__display_name",
        )
        .in_bulk(case_ids)
    )


UNSOLVED = "unsolved"  # a status filter: open or pending


def case_list(
    *,
    viewer: Viewer,
    status: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    priority: str | None = None,
    tag: str | None = None,
    channel: str | None = None,
    in_my_teams: bool = False,
) -> QuerySet[Case]:
    """The cases the viewer may open, filtered (each filter indexed: status, team, assignee
    with ``case_*`` indexes; a tag through the (tag, case) unique index), newest first.
    ``status`` may be ``unsolved`` (open or pending).

    ``in_my_teams``: only the cases of the teams the viewer is a member of — all of which
    they may open (the rule's first way), so the grants are not read: the lists "mine",
    "unassigned in my teams" and "my teams" stay an index range on 100,000 cases."""
    if in_my_teams:
        qs = Case.objects.select_related("customer", "team", "assignee").filter(
            team_id__in=member_team_ids(viewer)
        )
    else:
        qs = cases_visible(viewer=viewer)
    if status == UNSOLVED:
        qs = qs.filter(status__in=[CaseStatus.OPEN, CaseStatus.PENDING])
    elif status:
        qs = qs.filter(status=status)
    if team:
        qs = qs.filter(team__slug=team)
    if assignee:
        qs = qs.filter(assignee__username=assignee)
    if priority:
        qs = qs.filter(priority=priority)
    if channel:
        qs = qs.filter(channel=channel)
    if tag:
        qs = qs.filter(
            pk__in=CaseTag.objects.filter(tag__name=tag.strip().lower()).values("case_id")
        )
    return qs.order_by("-number")


def customer_cases(*, customer: Any) -> QuerySet[Case]:
    return Case.objects.filter(customer=customer).select_related("team").order_by("-number")

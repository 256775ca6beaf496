"""Reads of cases, scoped to a viewer (a ``User``, or ``SYSTEM``, which sees everything)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from lastmile.cases.models import Case
from lastmile.core.errors import NotFound
from lastmile.core.events import grants
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer


def ref_number(ref: str) -> int | None:
    """``LM-1042`` → 1042; None if it is not one of our references."""
    m = re.fullmatch(
        rf"{re.escape(settings.LASTMILE_CASE_PREFIX)}-(\d{{1,15}})", (ref or "").strip().upper()
    )
    return int(m.group(1)) if m else None


def cases_visible(*, viewer: Viewer) -> QuerySet[Case]:
    """Cases of the viewer's teams, and the cases the apps above grant their teams (loops:
    the cases on which one of their teams owns a loop, as the back office sees the case
    behind the task handed to it).

    An app above cases that hands a team work on a case registers a ``case.view`` grant
    (``lastmile.core.events.grant_register``) in its AppConfig.ready: ``grant(team_ids)``
    answers with a query of the ids of the cases those teams may see.
    """
    qs = Case.objects.select_related("customer", "team", "assignee")
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    seen = Q(team_id__in=teams)
    for grant in grants("case.view"):
        seen |= Q(pk__in=grant(teams))
    return qs.filter(seen)


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


def case_list(
    *,
    viewer: Viewer,
    status: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
) -> QuerySet[Case]:
    qs = cases_visible(viewer=viewer)
    if status:
        qs = qs.filter(status=status)
    if team:
        qs = qs.filter(team__slug=team)
    if assignee:
        qs = qs.filter(assignee__username=assignee)
    return qs.order_by("-number")


def customer_cases(*, customer: Any) -> QuerySet[Case]:
    return Case.objects.filter(customer=customer).select_related("team").order_by("-number")

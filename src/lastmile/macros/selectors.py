"""Which macros a viewer may use (their own and their teams'; admins: every team's), and
which they may write (their own; a team's if they lead it; admins: any)."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import F, Q, QuerySet

from lastmile.core.errors import NotFound, PermissionDenied
from lastmile.macros.models import Macro
from lastmile.people.models import Role, Team
from lastmile.people.selectors import agent_for, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

MACROS_LISTED = 200
MACROS_PER_PAGE = 25


def macros_visible(*, viewer: Viewer) -> QuerySet[Macro]:
    viewer = viewer_check(viewer)
    qs = Macro.objects.select_related("team", "owner")
    if viewer is SYSTEM:
        return qs
    teams = visible_team_ids(viewer)
    shared = Q(team__isnull=False) if teams is None else Q(team_id__in=teams)
    return qs.filter(Q(owner=viewer) | shared)


def macros_for(*, viewer: Viewer) -> list[Macro]:
    """The viewer's personal macros first, then shared ones, by name."""
    rows = list(macros_visible(viewer=viewer)[:MACROS_LISTED])
    return sorted(rows, key=lambda m: (m.owner_id is None, m.name.lower(), m.pk))


def macro_get(*, macro_id: int, viewer: Viewer) -> Macro:
    macro = macros_visible(viewer=viewer).filter(pk=macro_id).first() if macro_id > 0 else None
    if macro is None:
        raise NotFound(f"macro {macro_id}")
    return macro


def macro_teams_managed(*, viewer: Viewer) -> set[int] | None:
    """Ids of the teams whose shared macros ``viewer`` may write; ``None`` means every team.

    Admins (and ``SYSTEM``) manage every team's; a team lead the teams they lead (named as
    the team's lead, or holding the lead role in it); an agent none: their own macros are
    personal. The one rule the service checks and the "My macros" page lists by."""
    viewer = viewer_check(viewer)
    teams = visible_team_ids(viewer)
    if teams is None or viewer is SYSTEM:
        return None
    agent = agent_for(viewer)
    as_role = teams if agent is not None and agent.role == Role.LEAD else set()
    named = set(Team.objects.filter(lead=viewer, id__in=teams).values_list("id", flat=True))
    return as_role | named


def macro_teams_for_sharing(*, viewer: Viewer) -> list[Team]:
    """The teams ``viewer`` may share a macro with, by name (the form's choices)."""
    managed = macro_teams_managed(viewer=viewer)
    qs = Team.objects.order_by("name")
    return list(qs if managed is None else qs.filter(id__in=managed))


def macros_writable(*, viewer: Viewer) -> QuerySet[Macro]:
    """The macros ``viewer`` may change: their personal ones and those of the teams they
    manage (admins: every shared one, and their own personal ones)."""
    viewer = viewer_check(viewer)
    managed = macro_teams_managed(viewer=viewer)
    shared = Q(team__isnull=False) if managed is None else Q(team_id__in=managed)
    if viewer is SYSTEM:
        return Macro.objects.select_related("team", "owner")
    return Macro.objects.select_related("team", "owner").filter(Q(owner=viewer) | shared)


def macro_page(*, viewer: Viewer, page_number: str | int | None = 1) -> Page:
    """The "My macros" page: the viewer's personal macros first, then the shared ones they
    manage by team, each by name; a page at a time."""
    qs = macros_writable(viewer=viewer).order_by(
        F("owner_id").asc(nulls_last=True), "team__name", "name", "id"
    )
    return Paginator(qs, MACROS_PER_PAGE).get_page(page_number)


def macro_get_writable(*, macro_id: int, viewer: Viewer) -> Macro:
    """A macro ``viewer`` may change: ``NotFound`` if they may not even use it (the same as
    missing), ``PermissionDenied`` if they use it but may not change it (a teammate's
    shared macro, for an agent who does not lead the team)."""
    macro = macro_get(macro_id=macro_id, viewer=viewer)
    if not macros_writable(viewer=viewer).filter(pk=macro.pk).exists():
        raise PermissionDenied(
            f"only a lead of {macro.team.name if macro.team else 'its team'} or an admin"
            " may change this macro"
        )
    return macro

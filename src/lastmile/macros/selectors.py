"""Which macros a viewer may use: their own and their teams' (admins: every team's)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from lastmile.core.errors import NotFound
from lastmile.macros.models import Macro
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

MACROS_LISTED = 200


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

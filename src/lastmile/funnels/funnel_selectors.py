"""Reads of saved funnels, and what the API and the pages say about the copy they ask.

(``selectors.py`` reads the event store for the analytics copy; these are apart.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet

from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.customers.selectors import customers_visible
from lastmile.funnels.definitions import Breakdown, FunnelDefinition
from lastmile.funnels.engines import Engine
from lastmile.funnels.engines.duckdb import PEOPLE, DuckDBEngine
from lastmile.funnels.funnel_services import definition_build
from lastmile.funnels.models import Funnel
from lastmile.people.selectors import agent_for
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

DEFAULT_RANGE = timedelta(days=30)


def _sees_funnels(viewer: Viewer) -> bool:
    """Saved funnels are the business's, not a team's: every agent (and the system) reads
    them; a signed-in user with no agent profile reads nothing, as elsewhere."""
    viewer = viewer_check(viewer)
    return viewer is SYSTEM or viewer.is_superuser or agent_for(viewer) is not None


def funnel_list(
    *, viewer: Viewer, archived: bool | None = False, search: str | None = None
) -> QuerySet[Funnel]:
    """Saved funnels by name: live ones (``archived=False``), archived ones (``True``) or
    both (``None``); ``search`` in the name or description."""
    if not _sees_funnels(viewer):
        return Funnel.objects.none()
    qs = Funnel.objects.select_related("team", "created_by").order_by("name", "id")
    if archived is not None:
        qs = qs.filter(archived=archived)
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return qs


def funnel_get(*, funnel_id: int, viewer: Viewer) -> Funnel:
    """One saved funnel, archived or not; 404 when missing or not for this viewer."""
    found = None
    if 0 < funnel_id < 2**63:
        found = funnel_list(viewer=viewer, archived=None).filter(pk=funnel_id).first()
    if found is None:
        raise NotFound(f"funnel {funnel_id}")
    return found


def funnel_range(
    *, from_: datetime | None, to: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The range a funnel is asked over: as given, ``to`` defaulting to now and ``from``
    to 30 days before ``to``; ``from`` after ``to`` is a 422 naming ``from``."""
    end = to if to is not None else now
    start = from_ if from_ is not None else end - DEFAULT_RANGE
    if start > end:
        raise InvalidInput(
            "from: must not be after to", [FieldError("from", "must not be after to")]
        )
    return start, end


def funnel_definition(
    *,
    funnel: Funnel,
    from_: datetime | None,
    to: datetime | None,
    breakdown: Breakdown | None = None,
    now: datetime,
) -> FunnelDefinition:
    """The saved funnel over a range (``funnel_range``), broken down if asked, ready for
    an engine."""
    start, end = funnel_range(from_=from_, to=to, now=now)
    definition = {**funnel.definition, "breakdown": breakdown}
    return definition_build(definition=definition, from_=start, to=end)


def customer_names(*, ids: Sequence[int], viewer: Viewer) -> dict[int, str]:
    """The display names of the customers among ``ids`` that ``viewer`` may see (a
    drop-off list names only those; the others are shown by id)."""
    found = customers_visible(viewer=viewer).filter(pk__in=list(ids))
    return {pk: name or f"Customer {pk}" for pk, name in found.values_list("pk", "display_name")}


@dataclass(frozen=True)
class Freshness:
    """How recent the copy a funnel was asked of is: every event-store id up to ``mark``
    is in it; ``copied_at`` is when a copy last ran (None: never)."""

    mark: int
    copied_at: datetime | None


def analytics_freshness(*, engine: Engine) -> Freshness:
    """The copy's high-water mark and, for the embedded engine, when a copy last finished
    (each copy ends by rewriting the people map, so its time is the last copy's, new
    events or not); other engines do not say when, only how far."""
    copied_at = None
    if isinstance(engine, DuckDBEngine):
        times = [p.stat().st_mtime for _, _, p in engine.segments()]
        people = engine.directory / PEOPLE
        if people.exists():
            times.append(people.stat().st_mtime)
        copied_at = datetime.fromtimestamp(max(times), tz=UTC) if times else None
    return Freshness(mark=engine.mark(), copied_at=copied_at)


def team_names(slugs: Sequence[str | None]) -> dict[str, str]:
    """slug → name of the teams among ``slugs`` (a first-touch team breakdown's buckets are
    slugs, the key the API and the CSV keep; the page says the name)."""
    from lastmile.people.models import Team

    wanted = {s for s in slugs if s}
    return dict(Team.objects.filter(slug__in=wanted).values_list("slug", "name")) if wanted else {}

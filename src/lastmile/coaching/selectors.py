"""Coaching reads, scoped to a viewer: an agent sees their own lessons, a lead their teams'
(and the lessons they coach), an admin (and ``SYSTEM``) every lesson; not yours is 404."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from lastmile.coaching.models import OPEN_STATES, Lesson, LessonState
from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.people.models import Role
from lastmile.people.selectors import agent_for, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

STATE_FILTERS = (
    "open",
    LessonState.ASSIGNED.value,
    LessonState.RETURNED.value,
    LessonState.SUBMITTED.value,
    LessonState.ACCEPTED.value,
    "all",
)


def lessons_visible(*, viewer: Viewer) -> QuerySet[Lesson]:
    """The lessons ``viewer`` may see."""
    viewer = viewer_check(viewer)
    qs = Lesson.objects.all()
    if viewer is SYSTEM:
        return qs
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    mine = Q(agent_id=viewer.pk) | Q(lead_id=viewer.pk)
    agent = agent_for(viewer)
    if agent is not None and agent.role == Role.LEAD and teams:
        mine |= Q(team_id__in=teams)
    return qs.filter(mine)


def viewer_leads(viewer: Viewer) -> bool:
    """Whether ``viewer`` sees lessons as a lead (a lead or an admin) rather than as an agent."""
    viewer = viewer_check(viewer)
    if viewer is SYSTEM or visible_team_ids(viewer) is None:
        return True
    agent = agent_for(viewer)
    return agent is not None and agent.role == Role.LEAD


def lesson_list(
    *, viewer: Viewer, state: str | None = None, agent_id: int | None = None
) -> QuerySet[Lesson]:
    """Lessons ``viewer`` may see, newest first; ``state``: ``open`` (assigned, returned or
    submitted), one of the states, or ``all``/None (422 ``state`` otherwise)."""
    qs = lessons_visible(viewer=viewer).select_related("agent", "lead", "team", "case")
    if state not in (None, "", "all"):
        if state == "open":
            qs = qs.filter(state__in=OPEN_STATES)
        elif state in LessonState.values:
            qs = qs.filter(state=state)
        else:
            raise InvalidInput(
                f"unknown state {state!r}",
                [FieldError("state", f"one of {', '.join(STATE_FILTERS)}")],
            )
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    return qs.order_by("-created_at", "-id")


def lesson_get(*, lesson_id: int, viewer: Viewer) -> Lesson:
    """The lesson, if ``viewer`` may see it; NotFound otherwise (not yours is missing)."""
    found = (
        lessons_visible(viewer=viewer)
        .select_related("agent", "lead", "team", "case", "loop", "qa_review", "promise")
        .filter(pk=lesson_id)
        .first()
    )
    if found is None:
        raise NotFound("lesson")
    return found


@dataclass(frozen=True)
class LessonCounts:
    open: int
    submitted: int
    accepted: int


def lesson_counts(
    *, viewer: Viewer, agent_ids: Iterable[int], start: datetime, end: datetime
) -> dict[int, LessonCounts]:
    """Per agent: lessons open now (to do or returned), waiting for the lead, and accepted
    within ``[start, end)``; only the lessons ``viewer`` may see."""
    ids = list(agent_ids)
    rows = (
        lessons_visible(viewer=viewer)
        .filter(agent_id__in=ids)
        .values("agent_id")
        .annotate(
            open=Count("id", filter=Q(state__in=(LessonState.ASSIGNED, LessonState.RETURNED))),
            submitted=Count("id", filter=Q(state=LessonState.SUBMITTED)),
            accepted=Count(
                "id",
                filter=Q(state=LessonState.ACCEPTED, decided_at__gte=start, decided_at__lt=end),
            ),
        )
    )
    return {r["agent_id"]: LessonCounts(r["open"], r["submitted"], r["accepted"]) for r in rows}

"""The coaching API, under /api/v1/coaching: lessons (list, get), the agent's submission,
and the lead's accept or return."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from lastmile.api.auth import viewer_of
from lastmile.api.types import StrictSchema
from lastmile.coaching.models import Lesson
from lastmile.coaching.selectors import STATE_FILTERS, lesson_get, lesson_list
from lastmile.coaching.services import (
    ANSWER_MAX,
    NOTE_MAX,
    lesson_accept,
    lesson_return,
    lesson_submit,
)
from lastmile.core.clock import utcnow
from lastmile.core.errors import PermissionDenied
from lastmile.people.selectors import user_by_username
from lastmile.people.viewers import actor_of

router = Router(tags=["coaching"])

LIMIT_MAX = 200


class LessonMessageOut(Schema):
    at: datetime
    author: Literal["customer", "agent", "note"]
    text: str


class LessonArticleOut(Schema):
    slug: str
    title: str
    url: str


class LessonPolicyOut(Schema):
    key: str
    title: str
    text: str


class EventOut(Schema):
    kind: str
    actor: str | None
    at: datetime
    note: str


class LessonOut(Schema):
    id: int
    url: str
    title: str
    reason: Literal["qa_below_target", "promise_broken", "breach"]
    state: Literal["assigned", "submitted", "accepted", "returned"]
    agent: str
    lead: str | None
    team: str | None
    loop: int | None
    case: str | None
    qa_review: int | None
    promise: int | None
    breached_loop: int | None
    what_went_wrong: str
    conversation: list[LessonMessageOut]
    articles: list[LessonArticleOut]
    policies: list[LessonPolicyOut]
    questions: list[str]
    answers: list[str]
    draft: str
    lead_note: str
    created_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    trail: list[EventOut]


class LessonsOut(Schema):
    count: int
    limit: int
    offset: int
    items: list[LessonOut]


class LessonsQuery(Schema):
    state: str | None = Field(default=None, max_length=20, description=" | ".join(STATE_FILTERS))
    agent: str | None = Field(default=None, max_length=150, description="username")
    limit: int = Field(default=50, ge=1, le=LIMIT_MAX)
    offset: int = Field(default=0, ge=0, le=1_000_000)


class SubmitIn(StrictSchema):
    answers: list[str] = Field(default_factory=list, max_length=20)
    draft: str = Field(default="", max_length=ANSWER_MAX)


class DecideIn(StrictSchema):
    note: str = Field(default="", max_length=NOTE_MAX)


def lesson_dict(lesson: Lesson, *, trail: bool = True) -> dict[str, Any]:
    return {
        "id": lesson.pk,
        "url": f"/coaching/{lesson.pk}/",
        "title": lesson.title,
        "reason": lesson.reason,
        "state": lesson.state,
        "agent": lesson.agent.username,
        "lead": lesson.lead.username if lesson.lead else None,
        "team": lesson.team.slug if lesson.team else None,
        "loop": lesson.loop_id,
        "case": lesson.case.ref if lesson.case else None,
        "qa_review": lesson.qa_review_id,
        "promise": lesson.promise_id,
        "breached_loop": lesson.breached_loop_id,
        "what_went_wrong": lesson.what_went_wrong,
        "conversation": lesson.conversation,
        "articles": [{**a, "url": f"/kb/{a['slug']}/"} for a in lesson.articles],
        "policies": lesson.policies,
        "questions": lesson.questions,
        "answers": lesson.answers,
        "draft": lesson.draft,
        "lead_note": lesson.lead_note,
        "created_at": lesson.created_at,
        "submitted_at": lesson.submitted_at,
        "decided_at": lesson.decided_at,
        "trail": [
            {
                "kind": e.kind,
                "actor": e.actor.username if e.actor else None,
                "at": e.at,
                "note": e.note,
            }
            for e in lesson.events.select_related("actor")
        ]
        if trail
        else [],
    }


@router.get("/lessons", response=LessonsOut, summary="Lessons, newest first")
def list_lessons(request: HttpRequest, q: Query[LessonsQuery]) -> dict[str, Any]:
    """The lessons the token may read: an agent's own, a lead's teams', an admin's or an
    integration's all. ``state``: ``open`` (assigned, returned or submitted), a state, or
    ``all``; 422 naming ``state`` or ``agent`` for an unknown one. Each item's ``trail`` is
    empty here; get the lesson for it."""
    viewer = viewer_of(request)
    agent = user_by_username(q.agent, field="agent")
    qs = lesson_list(viewer=viewer, state=q.state, agent_id=agent.pk if agent else None)
    rows = list(qs[q.offset : q.offset + q.limit])
    return {
        "count": qs.count(),
        "limit": q.limit,
        "offset": q.offset,
        "items": [lesson_dict(r, trail=False) for r in rows],
    }


@router.get("/lessons/{lesson_id}", response=LessonOut, summary="One lesson, with its trail")
def get_lesson(request: HttpRequest, lesson_id: int) -> dict[str, Any]:
    """The lesson (404 when it is not the token's to read), its masked conversation and
    its trail: every change, who made it and when."""
    return lesson_dict(lesson_get(lesson_id=lesson_id, viewer=viewer_of(request)))


def _person(request: HttpRequest) -> Any:
    actor = actor_of(viewer_of(request))
    if actor is None:
        raise PermissionDenied("a lesson is completed and decided by people: use an agent's token")
    return actor


@router.post("/lessons/{lesson_id}/submit", response=LessonOut, summary="Submit the lesson")
def submit_lesson(request: HttpRequest, lesson_id: int, payload: SubmitIn) -> dict[str, Any]:
    """The agent's answers to the questions, in order, and/or the better reply drafted:
    every question answered or a draft (422 naming ``answers`` and ``draft``). Only the
    agent the lesson is for (403); while assigned or returned (409 otherwise)."""
    lesson = lesson_get(lesson_id=lesson_id, viewer=viewer_of(request))
    lesson_submit(
        lesson=lesson,
        actor=_person(request),
        answers=payload.answers,
        draft=payload.draft,
        now=utcnow(),
    )
    return lesson_dict(lesson_get(lesson_id=lesson_id, viewer=viewer_of(request)))


@router.post("/lessons/{lesson_id}/accept", response=LessonOut, summary="Accept the lesson")
def accept_lesson(request: HttpRequest, lesson_id: int, payload: DecideIn) -> dict[str, Any]:
    """The lead (or a lead of the team, or an admin; 403 for anyone else) accepts the
    submitted lesson (409 in another state) and the coaching loop closes."""
    lesson = lesson_get(lesson_id=lesson_id, viewer=viewer_of(request))
    lesson_accept(lesson=lesson, actor=_person(request), note=payload.note, now=utcnow())
    return lesson_dict(lesson_get(lesson_id=lesson_id, viewer=viewer_of(request)))


@router.post("/lessons/{lesson_id}/return", response=LessonOut, summary="Return the lesson")
def return_lesson(request: HttpRequest, lesson_id: int, payload: DecideIn) -> dict[str, Any]:
    """The lead returns the submitted lesson to the agent with a ``note`` (422 without one;
    409 in another state); the coaching loop stays open."""
    lesson = lesson_get(lesson_id=lesson_id, viewer=viewer_of(request))
    lesson_return(lesson=lesson, actor=_person(request), note=payload.note, now=utcnow())
    return lesson_dict(lesson_get(lesson_id=lesson_id, viewer=viewer_of(request)))

"""The coaching pages: the lessons list (an agent's own; a lead's teams') and one lesson
with its masked conversation, what went wrong, the articles and policies, the agent's form
and the lead's accept or return. Writes go through ``coaching.services``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lastmile.coaching.masking import MaskedMessage
from lastmile.coaching.models import Lesson, LessonState
from lastmile.coaching.selectors import STATE_FILTERS, lesson_get, lesson_list, viewer_leads
from lastmile.coaching.services import (
    ANSWER_MAX,
    NOTE_MAX,
    lesson_accept,
    lesson_may_decide,
    lesson_return,
    lesson_submit,
)
from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput
from lastmile.core.paging import page_get


def _user(request: HttpRequest) -> User:
    """The signed-in user (every page here is behind ``login_required``)."""
    return cast(User, request.user)


FILTER_LABELS = {
    "open": "Open",
    LessonState.ASSIGNED: "To do",
    LessonState.RETURNED: "Returned",
    LessonState.SUBMITTED: "Waiting for the lead",
    LessonState.ACCEPTED: "Accepted",
    "all": "All",
}


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or "open"
    if state not in STATE_FILTERS:
        return error_response(
            request,
            InvalidInput(
                f"unknown state {state!r}",
                [FieldError("state", f"one of {', '.join(STATE_FILTERS)}")],
            ),
        )
    qs = lesson_list(viewer=_user(request), state=state)
    page = page_get(request, qs)
    return render(
        request,
        "coaching/index.html",
        {
            **page_chrome(request, utcnow()),
            "page": page,
            "state": state,
            "filters": [(key, FILTER_LABELS[key]) for key in STATE_FILTERS],
            "as_lead": viewer_leads(_user(request)),
        },
    )


def _detail(
    request: HttpRequest,
    lesson: Lesson,
    *,
    status: int = 200,
    error: str = "",
    errors: Sequence[FieldError] | None = None,
    posted: dict[str, Any] | None = None,
) -> HttpResponse:
    user = _user(request)
    posted = posted or {}
    answers = posted.get("answers") or lesson.answers or []
    questions = [
        {"n": i + 1, "text": q, "answer": answers[i] if i < len(answers) else ""}
        for i, q in enumerate(lesson.questions)
    ]
    is_agent = user.pk == lesson.agent_id
    return render(
        request,
        "coaching/detail.html",
        {
            **page_chrome(request, utcnow()),
            "lesson": lesson,
            "conversation": [MaskedMessage.from_json(m) for m in lesson.conversation],
            "questions": questions,
            "draft": posted.get("draft", lesson.draft),
            "note": posted.get("note", ""),
            "can_submit": is_agent and lesson.state in (LessonState.ASSIGNED, LessonState.RETURNED),
            "can_decide": lesson.state == LessonState.SUBMITTED and lesson_may_decide(lesson, user),
            "trail": lesson.events.select_related("actor"),
            "error": error,
            "field_errors": {e.field: e.reason for e in errors or []},
            "answer_max": ANSWER_MAX,
            "note_max": NOTE_MAX,
        },
        status=status,
    )


@login_required
@require_GET
def detail(request: HttpRequest, lesson_id: int) -> HttpResponse:
    try:
        lesson = lesson_get(lesson_id=lesson_id, viewer=_user(request))
    except DomainError as exc:
        return error_response(request, exc)
    return _detail(request, lesson)


def _act(request: HttpRequest, lesson_id: int, action: str) -> HttpResponse:
    try:
        lesson = lesson_get(lesson_id=lesson_id, viewer=_user(request))
    except DomainError as exc:
        return error_response(request, exc)
    now = utcnow()
    posted: dict[str, Any]
    if action == "submit":
        posted = {
            "answers": [
                request.POST.get(f"answer-{i + 1}", "") for i in range(len(lesson.questions))
            ],
            "draft": request.POST.get("draft", ""),
        }
    else:
        posted = {"note": request.POST.get("note", "")}
    try:
        if action == "submit":
            lesson_submit(lesson=lesson, actor=_user(request), now=now, **posted)
            done = "Submitted: your lead will read it."
        elif action == "accept":
            lesson_accept(lesson=lesson, actor=_user(request), note=posted["note"], now=now)
            done = "Accepted: the coaching task is closed."
        else:
            lesson_return(lesson=lesson, actor=_user(request), note=posted["note"], now=now)
            done = "Returned to the agent with your note."
    except DomainError as exc:
        lesson.refresh_from_db()
        return _detail(
            request,
            lesson,
            status=exc.status,
            error=exc.detail,
            errors=exc.errors,
            posted=posted,
        )
    messages.success(request, done)
    return redirect("coaching:detail", lesson.pk)


@login_required
@require_POST
def submit(request: HttpRequest, lesson_id: int) -> HttpResponse:
    return _act(request, lesson_id, "submit")


@login_required
@require_POST
def accept(request: HttpRequest, lesson_id: int) -> HttpResponse:
    return _act(request, lesson_id, "accept")


@login_required
@require_POST
def return_(request: HttpRequest, lesson_id: int) -> HttpResponse:
    return _act(request, lesson_id, "return")

"""The response page a survey link opens: no login, no JavaScript, one plain form.

GET shows the question (the customer's answer, when they gave one: they may change it for
24 hours); POST records it through ``feedback.services.response_record``. A forged token is
a 404 page, a suppressed or expired invite a 410, an answer past its 24 hours a 409: each a
page saying so, never a stack trace. CSRF is Django's (a cookie and the form's token), as
on every form.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.feedback.models import Invite, InviteState, Response
from lastmile.feedback.services import CHANGE_WINDOW, invite_by_token, response_record


def _closed(request: HttpRequest, *, title: str, reason: str, status: int) -> HttpResponse:
    return render(
        request, "feedback/closed.html", {"title": title, "reason": reason}, status=status
    )


def _page(
    request: HttpRequest,
    invite: Invite,
    *,
    response: Response | None,
    error: str = "",
    score: Any = None,
    comment: str = "",
    status: int = 200,
) -> HttpResponse:
    survey = invite.survey
    low, high = survey.scale
    chosen = score if score is not None else (response.score if response else None)
    return render(
        request,
        "feedback/respond.html",
        {
            "invite": invite,
            "texts": survey.text(invite.language),
            "scores": list(range(low, high + 1)),
            "chosen": str(chosen) if chosen is not None else "",
            "comment": comment if score is not None else (response.comment if response else ""),
            "response": response,
            "change_until": response.at + CHANGE_WINDOW if response else None,
            "error": error,
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def respond(request: HttpRequest, token: str) -> HttpResponse:
    invite = invite_by_token(token)
    if invite is None:
        return _closed(
            request,
            title="This survey link is not valid",
            reason="The link is incomplete or was never ours. Copy the whole link from the "
            "message you got.",
            status=404,
        )
    now = utcnow()
    response = Response.objects.filter(invite=invite).first()
    if invite.state == InviteState.SUPPRESSED:
        return _closed(
            request,
            title="This survey is closed",
            reason="We did not send this survey, so it takes no answer.",
            status=410,
        )
    if response is None and now >= invite.expires_at:
        return _closed(
            request,
            title="This survey is closed",
            reason=f"It could be answered until {invite.expires_at:%d %B %Y}.",
            status=410,
        )
    if response is not None and now >= response.at + CHANGE_WINDOW:
        return _closed(
            request,
            title="Thank you: your answer is recorded",
            reason=f"You answered {response.score}. An answer can be changed for 24 hours; "
            "that time is over.",
            status=409 if request.method == "POST" else 200,
        )
    if request.method == "GET":
        return _page(request, invite, response=response)

    raw = request.POST.get("score", "")
    comment = request.POST.get("comment", "")[:5000]
    try:
        score = int(raw)
    except ValueError:
        return _page(
            request,
            invite,
            response=response,
            error="Choose a score.",
            score=raw,
            comment=comment,
            status=422,
        )
    try:
        saved = response_record(
            invite=invite, score=score, comment=comment, now=now, source="link", change=True
        )
    except DomainError as exc:
        return _page(
            request,
            invite,
            response=response,
            error=exc.detail[:1].upper() + exc.detail[1:] + ".",
            score=raw,
            comment=comment,
            status=exc.status,
        )
    return render(
        request,
        "feedback/thanks.html",
        {
            "texts": invite.survey.text(invite.language),
            "response": saved,
            "change_until": saved.at + CHANGE_WINDOW,
            "token": token,
        },
    )

"""The response page a survey link opens: no login, no JavaScript, one plain form; and the
console's reasons page (``reasons_page``, below), for agents signed in.

GET shows the question (the customer's answer, when they gave one: they may change it for
24 hours); POST records it through ``feedback.services.response_record``. A forged token is
a 404 page, a suppressed or expired invite a 410, an answer past its 24 hours a 409: each a
page saying so, never a stack trace. CSRF is Django's (a cookie and the form's token), as
on every form.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from lastmile.console.pages import form_errors, page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.feedback.models import Invite, InviteState, Response
from lastmile.feedback.reason_selectors import reason_teams, reasons_by_team
from lastmile.feedback.services import CHANGE_WINDOW, invite_by_token, response_record
from lastmile.funnels.forms import day_range_check
from lastmile.people.selectors import visible_team_ids


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


# --- reasons by team (agents and leads: their teams; admins: every team) ----------------------

REASONS_DEFAULT_DAYS = 90
REASONS_MAX_DAYS = 366


class ReasonsForm(forms.Form):
    """The reasons page's question: which days (whole UTC days), which team, by week or month."""

    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    team = forms.ChoiceField(label="Team", required=False)
    by = forms.ChoiceField(label="Counted by", choices=[("week", "Week"), ("month", "Month")])

    def __init__(self, data: Any, *, teams: list[tuple[str, str]], every: bool, today: date):
        defaults = {
            "start": (today - timedelta(days=REASONS_DEFAULT_DAYS - 1)).isoformat(),
            "end": today.isoformat(),
            "team": "",
            "by": "week",
        }
        given = {k: v for k, v in data.items() if k in defaults and v not in ("", None)}
        super().__init__({**defaults, **given})
        everyone = "Every team" if every else "All my teams"
        self.fields["team"].choices = [("", everyone), *teams]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        day_range_check(self, data, max_days=REASONS_MAX_DAYS)
        return data


@login_required
@require_GET
def reasons_page(request: HttpRequest) -> HttpResponse:
    """Why customers answer as they do, by team and over time, with the recovery loops still
    open beside each reason (``feedback.reason_selectors.reasons_by_team``). A bad range is a
    422 with the form naming the field."""
    now = utcnow()
    teams = reason_teams(viewer=request.user)
    form = ReasonsForm(
        request.GET,
        teams=[(t.slug, t.name) for t in teams],
        every=visible_team_ids(request.user) is None,
        today=now.date(),
    )
    report = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            page = int(request.GET.get("page", "1"))
        except ValueError:
            page = 1
        report = reasons_by_team(
            viewer=request.user,
            start=datetime.combine(data["start"], time.min, tzinfo=UTC),
            end=datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=UTC),
            bucket=data["by"],
            team=data["team"] or None,
            page=page,
            now=now,
        )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "feedback/reasons.html",
        {
            **page_chrome(request, now),
            "form": form,
            "report": report,
            # the cleaned "by" (never the raw query): week unless month was chosen
            "bucket": report.bucket if report is not None else "week",
            "has_teams": bool(teams),
            "query": query.urlencode(),
            "error": form_errors(form) if form.errors else "",
        },
        status=200 if form.is_valid() else 422,
    )

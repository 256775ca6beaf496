"""Console pages for journeys: the board by team, and the actions of the case page's panel.

Actions answer like the console's own case actions: done, a message and a redirect to the
case; refused, the case page again with the service's reason and status, nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from lastmile.cases.selectors import case_get
from lastmile.console import selectors as console_selectors
from lastmile.console.views import _case_page, error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput, NotFound
from lastmile.journeys import services
from lastmile.journeys.definitions import windows_parse
from lastmile.journeys.selectors import (
    journey_get,
    journey_step_get,
    journeys_board,
    template_get,
    template_list,
)


class StartForm(forms.Form):
    template = forms.SlugField(max_length=50)


class CompleteForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False, strip=True)


class WindowsForm(forms.Form):
    windows = forms.CharField(max_length=2000, strip=True)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=400, strip=True)


def _errors(form: forms.Form) -> str:
    return "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    return render(
        request,
        "journeys/board.html",
        {
            "now": now,
            "my_teams": console_selectors.teams_of(request.user),
            "boards": journeys_board(viewer=request.user, now=now),
            "templates": template_list(),
        },
    )


Action = Callable[[HttpRequest, Any, datetime], str]


def _on_case(fn: Action) -> Callable[..., HttpResponse]:
    """Run ``fn`` on a case, journey or step the viewer may see, then back to the case page.

    Refused: the case page with the reason, or — for a viewer who sees the journey (their
    team has a step coming) but not yet its case — the error page.
    """

    @login_required
    @require_POST
    @wraps(fn)
    def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        now = utcnow()
        try:
            case, target = _resolve(request, **kwargs)
        except NotFound as exc:
            return error_response(request, exc)
        try:
            done = fn(request, target, now)
        except NotFound as exc:
            return error_response(request, exc)
        except DomainError as exc:
            try:
                case = case_get(ref=case.ref, viewer=request.user)
            except NotFound:
                return error_response(request, exc)
            return _case_page(request, case, now=now, status=exc.status, error=exc.detail)
        messages.success(request, done)
        return redirect(reverse("console:case", args=[case.ref]) + "#journeys")

    return view


def _resolve(request: HttpRequest, **kwargs: Any) -> tuple[Any, Any]:
    if "ref" in kwargs:
        case = case_get(ref=kwargs["ref"], viewer=request.user)
        return case, case
    journey = journey_get(journey_id=kwargs["journey_id"], viewer=request.user)
    if "key" in kwargs:
        return journey.case, journey_step_get(journey=journey, key=kwargs["key"])
    return journey.case, journey


@_on_case
def start(request: HttpRequest, case: Any, now: datetime) -> str:
    form = StartForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("choose a journey: " + _errors(form))
    template = template_get(slug=form.cleaned_data["template"])
    services.journey_start(template=template, case=case, actor=request.user, now=now)
    return f"Journey started: {template.name}."


@_on_case
def complete(request: HttpRequest, step: Any, now: datetime) -> str:
    form = CompleteForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("check the note: " + _errors(form))
    services.step_complete(step=step, actor=request.user, note=form.cleaned_data["note"], now=now)
    return f"Step done: {step.title}."


@_on_case
def cancel(request: HttpRequest, journey: Any, now: datetime) -> str:
    form = CancelForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("a journey is cancelled only with a reason")
    services.journey_cancel(
        journey=journey, reason=form.cleaned_data["reason"], actor=request.user, now=now
    )
    return f"Journey cancelled: {journey.name}."


@_on_case
def offer_windows(request: HttpRequest, step: Any, now: datetime) -> str:
    """The team offers the windows the customer chooses from, typed one a line in the
    step's time zone."""
    form = WindowsForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("write the windows to offer: " + _errors(form))
    windows = windows_parse(form.cleaned_data["windows"], zone=services.slot_zone(step))
    done = services.step_windows_offer(step=step, windows=windows, actor=request.user, now=now)
    return f"{len(done.windows)} window(s) offered to the customer: {step.title}."

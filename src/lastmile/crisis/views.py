"""The alerts list, the crisis room of one alert, and the public status page.

Console pages need a login and show only the viewer's teams' alerts (others are 404, as
missing). Actions parse a form, read the clock, call one service; a refusal re-renders the
room with the service's ``detail`` and status, and nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lastmile.console.pages import form_errors, page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput, NotFound
from lastmile.crisis import selectors
from lastmile.crisis.detectors import SIGNAL_LABELS
from lastmile.crisis.forms import BulkForm, NoteForm, ReasonForm, UpdateForm
from lastmile.crisis.models import Alert, SavedResponse
from lastmile.crisis.services import alerts, incidents, room
from lastmile.loops.selectors import loop_sla_state

ALERTS_PAGE_SIZE = 50


# --- alerts list ---------------------------------------------------------------------------------

STATE_FILTERS = [
    ("active", "Open or acknowledged"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("all", "All"),
]


@login_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    state = request.GET.get("state") or "active"
    if state not in dict(STATE_FILTERS):
        state = "active"
    qs = selectors.alert_list(viewer=request.user, state="" if state == "all" else state)
    page = Paginator(qs, ALERTS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "crisis/alert_list.html",
        {
            **page_chrome(request, now),
            "page": page,
            "state": state,
            "filters": STATE_FILTERS,
            "last_run": selectors.last_run(),
            "labels": SIGNAL_LABELS,
        },
    )


# --- the crisis room -------------------------------------------------------------------------------


def _room(
    request: HttpRequest,
    alert: Alert,
    *,
    now: datetime,
    status: int = 200,
    error: str | None = None,
    forms: dict[str, Any] | None = None,
) -> HttpResponse:
    forms = forms or {}
    members = selectors.team_members(alert=alert)
    responses = selectors.saved_responses(alert=alert)
    note = selectors.note_of(alert=alert)
    rows = selectors.unanswered(alert=alert, now=now)
    ack = alert.ack_loop
    owner = note.team if note is not None else alert.team
    context = {
        **page_chrome(request, now),
        "alert": alert,
        "label": SIGNAL_LABELS.get(alert.signal, alert.signal),
        "ack": ack,
        "ack_sla": (
            None if ack is None else (loop_sla_state(ack, now=now) if ack.is_open else ack.state)
        ),
        "series": selectors.alert_series(alert=alert, now=now).as_json(),
        "top": selectors.top_mentions(alert=alert),
        "rows": rows,
        "unanswered_total": selectors.unanswered_count(alert=alert),
        "members": members,
        "responses": responses,
        "note": note,
        "updates": selectors.note_updates(note=note) if note is not None else [],
        "can_publish": owner is not None and incidents.can_publish(request.user, owner),
        "bulk_form": forms.get("bulk") or BulkForm(members=members, responses=responses),
        "note_form": forms.get("note")
        or NoteForm(initial={"title": f"{alert.term.name}: we are looking into it"}),
        "update_form": forms.get("update") or UpdateForm(),
        "error": error,
    }
    return render(request, "crisis/room.html", context, status=status)


@login_required
@require_GET
def alert_room(request: HttpRequest, alert_id: int) -> HttpResponse:
    try:
        alert = selectors.alert_get(alert_id=alert_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    return _room(request, alert, now=utcnow())


AlertAction = Callable[[HttpRequest, Alert, datetime], "HttpResponse | str"]


def alert_action(fn: AlertAction) -> Callable[[HttpRequest, int], HttpResponse]:
    """A POST in a crisis room: the alert must be the viewer's team's (else 404).

    Done: a flash message and a redirect to the room. A DomainError: the room again with the
    error's ``detail`` and status (the service changed nothing).
    """

    @login_required
    @require_POST
    @wraps(fn)
    def view(request: HttpRequest, alert_id: int) -> HttpResponse:
        try:
            alert = selectors.alert_get(alert_id=alert_id, viewer=request.user)
        except NotFound as exc:
            return error_response(request, exc)
        now = utcnow()
        try:
            outcome = fn(request, alert, now)
        except NotFound as exc:
            return error_response(request, exc)
        except DomainError as exc:
            alert.refresh_from_db()
            detail = exc.detail
            if exc.errors:
                detail += ": " + "; ".join(e.reason for e in exc.errors[:10])
            return _room(request, alert, now=now, status=exc.status, error=detail)
        if isinstance(outcome, HttpResponse):
            return outcome
        messages.success(request, outcome)
        return redirect("crisis:room", alert.pk)

    return view


@alert_action
def alert_acknowledge(request: HttpRequest, alert: Alert, now: datetime) -> str:
    alerts.alert_acknowledge(alert=alert, actor=request.user, now=now)
    return "Alert acknowledged: the team knows."


@alert_action
def alert_resolve(request: HttpRequest, alert: Alert, now: datetime) -> str:
    alerts.alert_resolve(alert=alert, actor=request.user, now=now)
    return "Alert resolved."


@alert_action
def alert_bulk(request: HttpRequest, alert: Alert, now: datetime) -> HttpResponse | str:
    members = selectors.team_members(alert=alert)
    responses = selectors.saved_responses(alert=alert)
    form = BulkForm(request.POST, members=members, responses=responses)
    if not form.is_valid():
        return _room(
            request,
            alert,
            now=now,
            status=422,
            error="Check the form: " + form_errors(form),
            forms={"bulk": form},
        )
    data = form.cleaned_data
    ids = data["mentions"]
    if data["action"] == "assign":
        assignee = get_user_model().objects.get(pk=data["assignee"])
        n = room.mentions_assign(
            alert=alert, mention_ids=ids, assignee=assignee, actor=request.user, now=now
        )
        return f"{n} mention{'s' if n != 1 else ''} assigned to {assignee.get_full_name() or assignee.username}."
    if data["action"] == "reply":
        response = SavedResponse.objects.get(pk=data["response"])
        n = room.mentions_reply(
            alert=alert, mention_ids=ids, response=response, actor=request.user, now=now
        )
        return f"Replied to {n} mention{'s' if n != 1 else ''} with “{response.title}”."
    n = room.mentions_handle(
        alert=alert, mention_ids=ids, reason=data["reason"], actor=request.user, now=now
    )
    return f"{n} mention{'s' if n != 1 else ''} marked handled."


@alert_action
def note_create(request: HttpRequest, alert: Alert, now: datetime) -> HttpResponse | str:
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _room(
            request,
            alert,
            now=now,
            status=422,
            error="Check the form: " + form_errors(form),
            forms={"note": form},
        )
    note = incidents.incident_note_create(
        alert=alert,
        title=form.cleaned_data["title"],
        slug=form.cleaned_data["slug"],
        brand=form.cleaned_data["brand"],
        actor=request.user,
        now=now,
    )
    return (
        f"Incident note started; it goes public at /status/{note.slug} when an update is published."
    )


def _note(alert: Alert) -> Any:
    note = selectors.note_of(alert=alert)
    if note is None:
        raise InvalidInput("start the incident note first")
    return note


@alert_action
def note_update(request: HttpRequest, alert: Alert, now: datetime) -> HttpResponse | str:
    note = _note(alert)
    form = UpdateForm(request.POST)
    if not form.is_valid():
        return _room(
            request,
            alert,
            now=now,
            status=422,
            error="Check the form: " + form_errors(form),
            forms={"update": form},
        )
    publish = request.POST.get("publish") == "1"
    incidents.incident_update_post(
        note=note,
        body=form.cleaned_data["body"],
        next_update_at=form.next_update_at(now),
        publish=publish,
        actor=request.user,
        now=now,
    )
    return f"Update published on /status/{note.slug}." if publish else "Draft saved."


def note_update_publish(request: HttpRequest, alert_id: int, update_id: int) -> HttpResponse:
    def run(req: HttpRequest, alert: Alert, now: datetime) -> str:
        note = _note(alert)
        update = note.updates.filter(pk=update_id).first()
        if update is None:
            raise NotFound(f"update {update_id}")
        incidents.incident_update_publish(update=update, actor=req.user, now=now)
        return f"Update published on /status/{note.slug}."

    return alert_action(run)(request, alert_id)


@alert_action
def note_unpublish(request: HttpRequest, alert: Alert, now: datetime) -> HttpResponse | str:
    note = _note(alert)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("say why the page is withdrawn")
    incidents.incident_note_unpublish(
        note=note, reason=form.cleaned_data["reason"], actor=request.user, now=now
    )
    return f"/status/{note.slug} is no longer public."


# --- the public status page -------------------------------------------------------------------------


@require_GET
def status_page(request: HttpRequest, slug: str) -> HttpResponse:
    """Public, no login: a published note and its published updates, newest first."""
    try:
        public = selectors.note_public(slug=slug)
    except NotFound:
        return render(request, "crisis/status_404.html", {"slug": slug}, status=404)
    return render(
        request,
        "crisis/status.html",
        {
            "note": public.note,
            "updates": public.updates,
            "latest": public.latest,
            "resolved_at": public.resolved_at,
            "now": utcnow(),
        },
    )

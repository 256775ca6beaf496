"""Writing on a case in the console: replies and internal notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

from lastmile.cases.models import Case
from lastmile.console.forms import NoteForm, ReplyForm
from lastmile.console.views import _invalid, case_action
from lastmile.customers.models import Direction
from lastmile.customers.services.timeline import interaction_record

# Internal notes are written in the console, a web page; the thread shows them as notes.
NOTE_CHANNEL = "web"


def composer_context(
    request: HttpRequest, case: Case, *, now: datetime, forms: dict[str, Any]
) -> dict[str, Any]:
    """What ``console/_composer.html`` needs on the case page."""
    return {
        "reply_form": forms.get("reply") or ReplyForm(case=case),
        "note_form": forms.get("note") or NoteForm(),
    }


@case_action
def case_reply(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
    form = ReplyForm(request.POST, case=case)
    if not form.is_valid():
        return _invalid(request, case, now, "reply", form)
    from lastmile.channels.replies import case_reply_send

    return case_reply_send(
        case=case,
        channel=form.cleaned_data["channel"],
        body=form.cleaned_data["body"],
        actor=request.user,
        now=now,
    )


@case_action
def case_note(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _invalid(request, case, now, "note", form)
    interaction_record(
        customer=case.customer,
        case=case,
        channel=NOTE_CHANNEL,
        direction=Direction.NOTE,
        occurred_at=now,
        now=now,
        body=form.cleaned_data["body"],
        actor=request.user,
    )
    return "Note added."

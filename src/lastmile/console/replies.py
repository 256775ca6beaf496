"""Writing on a case in the console: replies and internal notes.

The "via" list is what ``channels.replies`` says can deliver on this case, then every other
channel offered only to log a reply given elsewhere. Before writing, the collision check: the
composer carries the id of the newest message the page showed; if the customer or a colleague
wrote since, the page comes back (409) naming what arrived, with the text kept and a "Send
anyway" button. A refused reply comes back with the text kept and the reason shown once, in
the composer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from lastmile.cases.models import Case
from lastmile.channels.replies import (
    REPLY_BODY_MAX,
    NewerMessages,
    OutgoingFile,
    ReplyOption,
    arrived_said,
    case_note_add,
    case_reply_send,
    newer_messages_check,
    reply_default,
    reply_file_limits,
    reply_options,
)
from lastmile.console.views import _case_page, case_action
from lastmile.core.errors import DomainError, ErrorCode
from lastmile.customers.models import Interaction


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


def _body_field(placeholder: str, required: str) -> forms.CharField:
    # The same limit as the service; the textarea's maxlength and the counter show it.
    return forms.CharField(
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": placeholder, "data-counter": str(REPLY_BODY_MAX)}
        ),
        max_length=REPLY_BODY_MAX,
        error_messages={
            "required": required,
            "max_length": "The text is %(show_value)d characters long; the limit is "
            "%(limit_value)d. Shorten it: nothing is cut off for you.",
        },
    )


class _Written(forms.Form):
    """What both composers carry for the collision check."""

    prefix_id = "written"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.prefix_id}-%s")
        super().__init__(*args, **kwargs)
        # No maxlength on the textarea: a browser would cut a long paste off silently. The
        # counter shows the limit; the server refuses more, saying so.
        self.fields["body"].widget.attrs.pop("maxlength", None)

    seen = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class ReplyForm(_Written):
    prefix_id = "reply"
    # Not a ChoiceField: a channel that does not deliver here is refused by the service,
    # which says why ("log it as given elsewhere") instead of "select a valid choice".
    channel = forms.CharField(label="via", max_length=60)
    body = _body_field("Write your reply…", "Write something before sending.")
    attachments = MultipleFileField(required=False)
    macro = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, case: Case, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options = reply_options(case=case)
        self.default = reply_default(case=case, options=self.options)
        channel = self.fields["channel"]
        channel.initial = self.default.value
        self.file_limits = reply_file_limits()

    def chosen(self) -> ReplyOption:
        """The option the composer shows selected: the one posted, else the default."""
        value = (self.data.get("channel") if self.is_bound else None) or self.default.value
        return next((o for o in self.options if o.value == value), self.default)

    def option(self) -> ReplyOption:
        """The option chosen; a value not offered is a send on that channel (the service
        refuses it if nothing delivers there)."""
        value = self.cleaned_data["channel"].strip()
        found = next((o for o in self.options if o.value == value), None)
        if found is not None:
            return found
        logged = value.startswith("log:")
        return ReplyOption(value.removeprefix("log:"), value, delivers=not logged)


class NoteForm(_Written):
    prefix_id = "note"
    body = _body_field("Only your colleagues see this…", "A note needs some text.")


def composer_context(
    request: HttpRequest, case: Case, *, now: datetime, forms: dict[str, Any]
) -> dict[str, Any]:
    """What ``console/_composer.html`` needs on the case page."""
    latest = Interaction.objects.filter(case=case).order_by("-id").values_list("id", flat=True)
    seen = latest.first() or 0
    reply = forms.get("reply") or ReplyForm(case=case, initial={"seen": seen})
    return {
        "reply_form": reply,
        "note_form": forms.get("note") or NoteForm(initial={"seen": seen}),
        "reply_limit": REPLY_BODY_MAX,
        "collision": forms.get("collision"),
    }


def _collision(
    request: HttpRequest, case: Case, now: datetime, name: str, form: Any
) -> HttpResponse | None:
    """The page again (409 ``newer_messages``, as the API) if the customer or a colleague
    wrote since ``seen``, unless the agent confirmed; None to go on."""
    if form.cleaned_data.get("confirm"):
        return None
    try:
        newer_messages_check(case=case, seen=form.cleaned_data.get("seen"), actor=request.user)
    except NewerMessages as exc:
        rows = exc.arrived
    else:
        return None
    data = request.POST.copy()
    data["confirm"] = "1"
    again = ReplyForm(data, case=case) if name == "reply" else NoteForm(data)
    again.is_valid()
    warning = (
        f"Not sent yet: since you opened this case, {arrived_said(rows)}. Read it above, then "
        + ("send anyway or change your reply." if name == "reply" else "add the note anyway.")
    )
    if name == "reply" and request.FILES:
        warning += " Attach your files again: a browser cannot keep them."
    page = _case_page(
        request, case, now=now, status=409, forms={name: again, "collision": (name, warning)}
    )
    page["X-Lastmile-Error"] = ErrorCode.NEWER_MESSAGES.value
    return page


def _refused(request: HttpRequest, case: Case, now: datetime, name: str, form: Any) -> HttpResponse:
    """The page again (422) with the form as written; the errors show once, in the composer."""
    return _case_page(request, case, now=now, status=422, forms={name: form})


@case_action
def case_reply(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
    form = ReplyForm(request.POST, request.FILES, case=case)
    if not form.is_valid():
        return _refused(request, case, now, "reply", form)
    if (page := _collision(request, case, now, "reply", form)) is not None:
        return page
    option = form.option()
    files = [
        OutgoingFile(f.name, f.content_type or "", f.read())
        for f in form.cleaned_data["attachments"]
    ]
    try:
        sent = case_reply_send(
            case=case,
            channel=option.channel,
            body=form.cleaned_data["body"],
            files=files,
            log_only=not option.delivers,
            macro=form.cleaned_data.get("macro"),
            actor=request.user,
            now=now,
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        form.add_error(None, exc.detail[:1].upper() + exc.detail[1:] + ".")
        case.refresh_from_db()
        return _case_page(request, case, now=now, status=exc.status, forms={"reply": form})
    messages.success(request, sent.said)
    return redirect("console:case", case.ref)


@case_action
def case_note(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _refused(request, case, now, "note", form)
    if (page := _collision(request, case, now, "note", form)) is not None:
        return page
    case_note_add(case=case, body=form.cleaned_data["body"], actor=request.user, now=now)
    return "Note added."

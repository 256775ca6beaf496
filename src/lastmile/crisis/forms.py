"""Forms of the crisis room: they parse input at the edge; the services decide."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import forms

BULK_ACTIONS = [
    ("assign", "Assign"),
    ("reply", "Reply from a saved response"),
    ("handle", "Mark handled"),
]
NEXT_UPDATE_CHOICES = [
    ("", "No time promised"),
    ("15", "in 15 minutes"),
    ("30", "in 30 minutes"),
    ("60", "in 1 hour"),
    ("120", "in 2 hours"),
    ("240", "in 4 hours"),
    ("1440", "tomorrow, same time"),
]


class BulkForm(forms.Form):
    """One action on the selected mentions; ``mentions`` are ids of the alert's term.

    A row's own Reply button sends ``reply_to``: a reply to that one mention, with the saved
    response chosen in the bar, whatever boxes are ticked.
    """

    action = forms.ChoiceField(choices=BULK_ACTIONS, required=False)
    mentions = forms.CharField(required=False)  # parsed from getlist in clean_mentions
    reply_to = forms.IntegerField(required=False, min_value=1, max_value=2**62)
    assignee = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    response = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    reason = forms.CharField(required=False, max_length=400)

    def __init__(self, *args: Any, members: list[Any], responses: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        response = self.fields["response"]
        assert isinstance(assignee, forms.ChoiceField) and isinstance(response, forms.ChoiceField)
        assignee.choices = [("", "Choose…")] + [
            (u.pk, u.get_full_name() or u.username) for u in members
        ]
        response.choices = [("", "Choose…")] + [(r.pk, r.title) for r in responses]

    def clean_mentions(self) -> list[int]:
        raw = self.data.getlist("mentions") if hasattr(self.data, "getlist") else []
        ids = []
        for value in raw:
            try:
                ids.append(int(value))
            except (TypeError, ValueError):
                raise forms.ValidationError(f"{value!r} is not a mention id") from None
        return ids

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("reply_to"):
            data["action"], data["mentions"] = "reply", [data["reply_to"]]
        elif "mentions" in data and not data["mentions"]:
            self.add_error("mentions", "Select at least one mention.")
        action = data.get("action")
        if not action and "action" not in self.errors:
            self.add_error("action", "Choose what to do with them.")
        if action == "assign" and not data.get("assignee"):
            self.add_error("assignee", "Choose who to assign them to.")
        if action == "reply" and not data.get("response"):
            self.add_error("response", "Choose a saved response.")
        if action == "handle" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why no reply is needed.")
        return data


class NoteForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.CharField(max_length=60, required=False)
    brand = forms.CharField(max_length=100, required=False)


class UpdateForm(forms.Form):
    body = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "placeholder": "We know … Here is what we are doing … Next update at …",
            }
        ),
        error_messages={"required": "Write the update first."},
    )
    next_update = forms.ChoiceField(choices=NEXT_UPDATE_CHOICES, required=False)

    def next_update_at(self, now: datetime) -> datetime | None:
        minutes = self.cleaned_data.get("next_update") or ""
        return now + timedelta(minutes=int(minutes)) if minutes else None


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=400)

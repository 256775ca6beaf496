"""Forms of the case lists and the case page's edit panel: they parse; services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from lastmile.cases.models import CaseStatus, Priority


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(required=False, label="Assign to")

    def __init__(self, *args: Any, agents: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", "Nobody"), *((a.user.username, str(a)) for a in agents)]


class MoveForm(forms.Form):
    team = forms.ChoiceField(label="Move to team")

    def __init__(self, *args: Any, teams: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["team"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(t.slug, t.name) for t in teams]


class PriorityForm(forms.Form):
    priority = forms.ChoiceField(choices=Priority.choices)


class SubjectForm(forms.Form):
    subject = forms.CharField(max_length=300)


class TagsForm(forms.Form):
    tags = forms.CharField(
        max_length=1000,
        required=False,
        help_text="Comma-separated, e.g. billing, vip",
        widget=forms.TextInput(attrs={"placeholder": "billing, vip", "list": "tag-names"}),
    )

    def names(self) -> list[str]:
        return [t for t in self.cleaned_data["tags"].split(",") if t.strip()]


BULK_ACTIONS = [
    ("assign", "Assign to"),
    ("move", "Move to team"),
    ("status", "Set status"),
    ("priority", "Set priority"),
    ("tag", "Add tag"),
    ("untag", "Remove tag"),
    ("close", "Close open loops"),
]


class BulkForm(forms.Form):
    """One action over the selected rows (``ids``: case ids on a case list, loop ids in the
    inbox); the value the action needs in its own field."""

    action = forms.ChoiceField(choices=BULK_ACTIONS)
    ids = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), error_messages={"required": "Select at least one row."}
    )
    assignee = forms.CharField(required=False, max_length=150)
    team = forms.CharField(required=False, max_length=50)
    status = forms.ChoiceField(required=False, choices=[("", "—"), *CaseStatus.choices])
    priority = forms.ChoiceField(required=False, choices=[("", "—"), *Priority.choices])
    tag = forms.CharField(required=False, max_length=50)
    reason = forms.CharField(required=False, max_length=400)
    next = forms.CharField(required=False, max_length=1000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["ids"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        # Any positive id parses; which ones the viewer may touch is the service's question.
        field.valid_value = lambda value: str(value).isdigit() and 0 < int(value) < 2**63  # type: ignore[method-assign]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        needs = {
            "move": "team",
            "status": "status",
            "priority": "priority",
            "tag": "tag",
            "untag": "tag",
            "close": "reason",
        }
        need = needs.get(data.get("action", ""))
        if need and not data.get(need):
            self.add_error(need, f"{self.fields[need].label or need.capitalize()} is needed.")
        return data


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=80)
    query = forms.CharField(max_length=500, required=False)
    team = forms.CharField(max_length=50, required=False, help_text="Share with this team")

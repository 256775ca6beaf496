"""Forms of the console: they parse and validate input at the edge; services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from lastmile.cases.models import CaseStatus
from lastmile.customers.models import Channel
from lastmile.loops.models import LoopKind
from lastmile.people.models import Team

# Channels an agent can answer on from the console (social answers carry their network).
REPLY_CHANNELS = [(c.value, c.label) for c in Channel if c not in (Channel.SOCIAL, Channel.API)]


def channel_label(channel: str) -> str:
    if channel.startswith("social:"):
        return channel.split(":", 1)[1].replace("_", " ").title()
    try:
        return Channel(channel).label
    except ValueError:
        return channel or "—"


class InboxFilterForm(forms.Form):
    team = forms.ChoiceField(required=False)
    kind = forms.ChoiceField(required=False, choices=[("", "All kinds"), *LoopKind.choices])
    breached = forms.BooleanField(required=False)
    mine = forms.BooleanField(required=False)

    def __init__(self, *args: Any, teams: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ChoiceField)
        team.choices = [("", "All teams"), *((t.slug, t.name) for t in teams)]


class ReplyForm(forms.Form):
    channel = forms.ChoiceField()
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Write your reply…"}),
        max_length=20000,
        error_messages={"required": "Write something before sending."},
    )

    def __init__(self, *args: Any, case: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = list(REPLY_CHANNELS)
        if case.channel and case.channel not in dict(choices):
            choices.insert(0, (case.channel, channel_label(case.channel)))
        channel = self.fields["channel"]
        assert isinstance(channel, forms.ChoiceField)
        channel.choices = choices
        channel.initial = case.channel or Channel.EMAIL


class NoteForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Only your colleagues see this…"}),
        max_length=20000,
        error_messages={"required": "A note needs some text."},
    )


class TaskForm(forms.Form):
    team: forms.ModelChoiceField[Team] = forms.ModelChoiceField(
        queryset=Team.objects.none(), empty_label=None
    )
    title = forms.CharField(
        max_length=300, widget=forms.TextInput(attrs={"placeholder": "Enable online access"})
    )
    due_in_hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 365,
        label="Due in (hours)",
        help_text="Empty: the team's SLA policy sets the deadline.",
        widget=forms.NumberInput(attrs={"placeholder": "SLA policy"}),
    )

    def __init__(self, *args: Any, teams: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        team.queryset = teams


class PauseForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Waiting on the customer"}),
        error_messages={"required": "Pausing needs a reason (what are we waiting for?)."},
    )


class CloseForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=CaseStatus.choices)

"""Forms of the console: they parse and validate input at the edge; services decide."""

from __future__ import annotations

from typing import Any

from django import forms

from lastmile.cases.models import CaseStatus
from lastmile.customers.models import Channel
from lastmile.loops.models import LoopKind
from lastmile.loops.services import REPLY_CLOSE_REASONS
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

    def __init__(self, *args: Any, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        # The choices from the list the page has already read: a queryset's choices would
        # run its query on each render, through a server-side cursor on PostgreSQL (three
        # round trips). The queryset only checks the posted team.
        team.queryset = Team.objects.all()
        team.choices = [(t.pk, t.name) for t in teams]


class PauseForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "Waiting on the customer"}),
        error_messages={"required": "Pausing needs a reason (what are we waiting for?)."},
    )


class CloseForm(forms.Form):
    """Closing a loop by hand: for a reply loop, why nobody replied (required by the service);
    an optional note in the agent's words goes after it in the loop's trail."""

    why = forms.ChoiceField(
        required=False,
        label="Why",
        choices=[("", "Choose a reason…"), *((r, r.capitalize()) for r in REPLY_CLOSE_REASONS)],
    )
    reason = forms.CharField(max_length=400, required=False, label="Note")

    def reason_text(self) -> str:
        """The reason as the trail shows it: "duplicate: of LM-1041", or either alone."""
        parts = [
            self.cleaned_data.get("why") or "",
            (self.cleaned_data.get("reason") or "").strip(),
        ]
        return ": ".join(p for p in parts if p)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=CaseStatus.choices)

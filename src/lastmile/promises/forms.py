"""Console forms for promises: parse what the agent typed; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from lastmile.console.forms import REPLY_CHANNELS
from lastmile.core.errors import InvalidInput
from lastmile.people.models import Team
from lastmile.promises.terms import terms_format, terms_parse

DUE_FORMAT = "%Y-%m-%dT%H:%M"


class PromiseForm(forms.Form):
    text = forms.CharField(
        label="What did you promise?",
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "In your words, as you said it to the customer"}
        ),
        error_messages={"required": "Say what you promised, in your words."},
    )
    terms = forms.CharField(
        label="Terms",
        required=False,
        max_length=4000,
        widget=forms.TextInput(
            attrs={
                "placeholder": "adults=4, extra_beds=2, room_type=deluxe",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
        help_text="key=value, separated by commas: numbers, true/false or text.",
    )
    due_at = forms.DateTimeField(
        label="Due",
        input_formats=[DUE_FORMAT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DUE_FORMAT),
        error_messages={"required": "Say when it is due.", "invalid": "Pick a date and time."},
    )
    # Choices from rows the view loaded once (a ModelChoiceField queries again per render).
    team = forms.ChoiceField(label="Kept by")
    channel = forms.ChoiceField(label="Promised on")
    made_by = forms.ChoiceField(label="Promised by")
    visible_to_customer = forms.BooleanField(
        label="The customer sees it in their portal", required=False, initial=True
    )
    confirm_warnings = forms.BooleanField(required=False)
    override = forms.BooleanField(required=False)

    def __init__(
        self,
        *args: Any,
        teams: list[Team],
        makers: list[Any],
        channel: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._teams = {str(t.pk): t for t in teams}
        self._makers = {str(u.pk): u for u in makers}
        team = self.fields["team"]
        assert isinstance(team, forms.ChoiceField)
        team.choices = [(k, t.name) for k, t in self._teams.items()]
        made_by = self.fields["made_by"]
        assert isinstance(made_by, forms.ChoiceField)
        made_by.choices = [(k, u.get_full_name() or u.username) for k, u in self._makers.items()]
        choices = list(REPLY_CHANNELS)
        if channel and channel not in dict(choices):
            choices.insert(0, (channel, channel))
        ch = self.fields["channel"]
        assert isinstance(ch, forms.ChoiceField)
        ch.choices = choices

    def clean_team(self) -> Team:
        return self._teams[self.cleaned_data["team"]]

    def clean_made_by(self) -> Any:
        return self._makers[self.cleaned_data["made_by"]]

    def clean_terms(self) -> dict[str, Any]:
        try:
            return terms_parse(self.cleaned_data.get("terms") or "")
        except InvalidInput as exc:
            raise forms.ValidationError(
                exc.errors[0].reason if exc.errors else exc.detail
            ) from None

    @staticmethod
    def initial_from(promise: Any) -> dict[str, Any]:
        """A form filled with an existing promise, to renegotiate it."""
        return {
            "text": promise.text,
            "terms": terms_format(promise.terms),
            "due_at": timezone.localtime(promise.due_at).strftime(DUE_FORMAT),
            "team": promise.team_id,
            "channel": promise.channel,
            "visible_to_customer": promise.visible_to_customer,
        }


class BreakForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        error_messages={"required": "Say why the promise cannot be kept."},
    )


class KeepForm(forms.Form):
    note = forms.CharField(max_length=500, required=False)


class ExceptionDecisionForm(forms.Form):
    """Approve or reject an exception: the reason (required to reject, by the service)."""

    reason = forms.CharField(max_length=500, required=False)

"""The console's macro form: parses the page's fields; the service checks and writes."""

from __future__ import annotations

from typing import Any

from django import forms

from lastmile.cases.models import CaseStatus
from lastmile.macros.models import Macro
from lastmile.macros.placeholders import PLACEHOLDERS
from lastmile.macros.services import BODY_MAX, NAME_MAX
from lastmile.people.models import Team

PERSONAL = "mine"


class MacroForm(forms.Form):
    """Name, text, who sees it (me, or a team I manage) and what sending it also does.

    Limits are the service's, shown on the fields; every rule (placeholders, tag, pause
    with a status) is checked once, by ``macro_save``, whose errors the view puts back on
    these fields."""

    name = forms.CharField(required=False, help_text=f"At most {NAME_MAX} characters.")
    body = forms.CharField(
        label="Text",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=f"At most {BODY_MAX:,} characters. Placeholders: "
        + "; ".join("{{" + k + "}}: " + v for k, v in PLACEHOLDERS.items())
        + ".",
    )
    scope = forms.ChoiceField(label="Who uses it")
    set_status = forms.ChoiceField(
        label="On send, set the status",
        required=False,
        choices=[("", "Leave as it is"), *CaseStatus.choices],
    )
    add_tag = forms.CharField(
        label="On send, add the tag",
        required=False,
        help_text="Letters, digits, - _ . : and at most 50 characters, as case tags are.",
    )
    pause_reply_loop = forms.BooleanField(
        label="On send, wait on the customer (pause the reply loop until they write)",
        required=False,
    )

    def __init__(self, *args: Any, teams: list[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teams = {str(t.pk): t for t in teams}
        self.fields["scope"].choices = [
            (PERSONAL, "Only me (personal)"),
            *((pk, f"Shared with {t.name}") for pk, t in self.teams.items()),
        ]

    @classmethod
    def initial_of(cls, macro: Macro) -> dict[str, Any]:
        return {
            "name": macro.name,
            "body": macro.body,
            "scope": str(macro.team_id) if macro.team_id else PERSONAL,
            "set_status": macro.set_status,
            "add_tag": macro.add_tag,
            "pause_reply_loop": macro.pause_reply_loop,
        }

    def team(self) -> Team | None:
        """The team chosen, or ``None`` for a personal macro."""
        return self.teams.get(self.cleaned_data["scope"])

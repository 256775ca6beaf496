from typing import Any

from django import forms
from django.contrib import admin

from lastmile.core.errors import InvalidInput
from lastmile.people.authority import authority_validate
from lastmile.people.models import Agent, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "lead", "email")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = ("user", "role", "teams", "authority")

    def clean_authority(self) -> Any:
        """The authority's shape is checked here, not discovered when a lead tries to use it."""
        try:
            return authority_validate(self.cleaned_data.get("authority"))
        except InvalidInput as exc:
            reasons = "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
            raise forms.ValidationError(f"{exc.detail} ({reasons})") from None


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = ("user", "role", "authority")
    list_filter = ("role", "teams")
    filter_horizontal = ("teams",)
    search_fields = ("user__username", "user__email")

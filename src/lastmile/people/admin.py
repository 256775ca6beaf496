from typing import Any

from django import forms
from django.contrib import admin

from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.people.authority import authority_validate
from lastmile.people.models import Agent, Team
from lastmile.people.services import agent_authority_set, agent_profile_create, agent_role_set


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

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # A profile stays with its login; role and authority change through the services.
        return ("user",) if obj is not None else ()

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        """Role and authority through their services (one audit row each); teams are saved
        by ``save_related`` afterwards, as the stock admin does."""
        now = utcnow()
        if not change:
            created = agent_profile_create(
                user=obj.user, role=obj.role, authority=obj.authority, actor=request.user, now=now
            )
            obj.pk = created.pk
            return
        if "role" in form.changed_data:
            agent_role_set(agent=obj, role=obj.role, actor=request.user, now=now)
        if "authority" in form.changed_data:
            agent_authority_set(agent=obj, authority=obj.authority, actor=request.user, now=now)

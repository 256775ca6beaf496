from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms import ModelForm

from lastmile.core.errors import DomainError
from lastmile.loops.business_time import Calendar
from lastmile.loops.models import BusinessHours, Loop, LoopEvent, SlaPolicy
from lastmile.loops.services import ladder_validate


class BusinessHoursForm(ModelForm):
    class Meta:
        model = BusinessHours
        fields = [
            "name",
            "timezone",
            "weekly",
            "holiday_country",
            "holiday_subdiv",
            "extra_holidays",
        ]

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        try:
            cal = Calendar.from_config(
                tz=data.get("timezone") or "UTC",
                weekly=data.get("weekly") or {},
                holiday_country=data.get("holiday_country") or None,
                holiday_subdiv=data.get("holiday_subdiv") or None,
                extra_holidays=data.get("extra_holidays") or [],
            )
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if not cal.has_open_hours:
            raise ValidationError(
                "give at least one day with opening hours (leave the policy's business hours empty for 24/7)"
            )
        return data


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    form = BusinessHoursForm
    list_display = ("name", "timezone", "holiday_country")


class SlaPolicyForm(ModelForm):
    class Meta:
        model = SlaPolicy
        fields = [
            "name",
            "position",
            "active",
            "kind",
            "channel",
            "priority",
            "team",
            "first_reply_minutes",
            "next_reply_minutes",
            "resolution_minutes",
            "business_hours",
            "escalation",
        ]

    def clean_escalation(self):  # type: ignore[no-untyped-def]
        try:
            return ladder_validate(self.cleaned_data.get("escalation") or [])
        except DomainError as exc:
            raise ValidationError(
                "; ".join(f"{e.field}: {e.reason}" for e in exc.errors) or exc.detail
            ) from None


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    form = SlaPolicyForm
    list_display = (
        "name",
        "position",
        "active",
        "kind",
        "channel",
        "priority",
        "team",
        "first_reply_minutes",
        "next_reply_minutes",
        "resolution_minutes",
        "business_hours",
    )
    list_editable = ("position", "active")
    list_filter = ("active", "kind")


class LoopEventInline(admin.TabularInline):
    model = LoopEvent
    extra = 0
    readonly_fields = ("kind", "at", "actor", "reason", "data")
    can_delete = False


@admin.register(Loop)
class LoopAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "title",
        "state",
        "team",
        "assignee",
        "due_at",
        "escalation_level",
        "breached_at",
    )
    list_filter = ("state", "kind", "team")
    raw_id_fields = ("customer", "case", "assignee", "opened_by")
    readonly_fields = (
        "opened_at",
        "closed_at",
        "clock_started_at",
        "consumed_seconds",
        "paused_at",
        "paused_seconds",
        "due_at",
        "next_check_at",
        "breached_at",
        "escalation_level",
    )
    inlines = [LoopEventInline]

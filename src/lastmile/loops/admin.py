from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms import ModelForm

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.loops.business_time import Calendar
from lastmile.loops.models import BusinessHours, Loop, LoopEvent, SlaPolicy
from lastmile.loops.services import ladder_validate, loop_cancel, loop_close


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
            "min_influence",
            "sentiment",
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
        "min_influence",
        "sentiment",
        "first_reply_minutes",
        "next_reply_minutes",
        "resolution_minutes",
        "business_hours",
    )
    list_editable = ("position", "active")
    list_filter = ("active", "kind", "sentiment")


class LoopEventInline(admin.TabularInline):
    model = LoopEvent
    extra = 0
    readonly_fields = ("kind", "at", "actor", "reason", "data")
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the trail is append-only, written by the services


@admin.register(Loop)
class LoopAdmin(admin.ModelAdmin):
    """Loops are read-only here: they open, close and escalate through the services, which
    keep the deadline, the event trail and the case rule consistent. Closing and cancelling
    are admin actions that call those services."""

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
    search_fields = ("title",)
    inlines = [LoopEventInline]
    actions = ["close_loops", "cancel_loops"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in Loop._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def _finish(self, request, queryset, verb: str) -> None:  # type: ignore[no-untyped-def]
        done, refused = 0, []
        for loop in queryset:
            try:
                if verb == "close":
                    loop_close(
                        loop=loop, actor=request.user, reason="closed in the admin", now=utcnow()
                    )
                else:
                    loop_cancel(
                        loop=loop, actor=request.user, reason="cancelled in the admin", now=utcnow()
                    )
                done += 1
            except DomainError as exc:
                refused.append(f"#{loop.pk}: {exc.detail}")
        if done:
            messages.success(request, f"{done} loop(s) {verb}d.")
        for line in refused:
            messages.error(request, line)

    @admin.action(description="Close selected loops")
    def close_loops(self, request, queryset):  # type: ignore[no-untyped-def]
        self._finish(request, queryset, "close")

    @admin.action(description="Cancel selected loops")
    def cancel_loops(self, request, queryset):  # type: ignore[no-untyped-def]
        self._finish(request, queryset, "cancel")

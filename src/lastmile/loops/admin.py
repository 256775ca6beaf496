from urllib.parse import urlencode

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms import ModelForm
from django.template.response import TemplateResponse
from django.urls import path, reverse

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.loops.business_time import Calendar
from lastmile.loops.models import BusinessHours, Loop, LoopEvent, LoopKind, SlaPolicy
from lastmile.loops.selectors import loops_without_policy, sla_gaps
from lastmile.loops.services import (
    business_hours_delete,
    business_hours_save,
    ladder_validate,
    loop_cancel,
    loop_close,
    sla_policy_delete,
    sla_policy_save,
)

# The admin index says how many open loops no SLA policy matches, with a link to the summary
# (templates/admin/loops/index.html extends the stock index).
admin.site.index_template = "admin/loops/index.html"


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
    """Saved and deleted through the services, which write the audit row."""

    form = BusinessHoursForm
    list_display = ("name", "timezone", "holiday_country")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        business_hours_save(hours=obj, actor=request.user, now=utcnow())

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        business_hours_delete(hours=obj, actor=request.user, now=utcnow())

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for obj in queryset:
            self.delete_model(request, obj)


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

    # The change form and the list's editable columns both save through here.
    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        sla_policy_save(policy=obj, actor=request.user, now=utcnow())

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        sla_policy_delete(policy=obj, actor=request.user, now=utcnow())

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for obj in queryset:
            self.delete_model(request, obj)


class LoopEventInline(admin.TabularInline):
    model = LoopEvent
    extra = 0
    readonly_fields = ("kind", "at", "actor", "reason", "data")
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the trail is append-only, written by the services


class SlaGapFilter(admin.SimpleListFilter):
    """Open loops with no deadline because no SLA policy matches them."""

    title = "SLA policy"
    parameter_name = "sla"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [("none", "No SLA policy matches")]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if self.value() == "none":
            return loops_without_policy(queryset)
        return queryset


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
    list_filter = ("state", "kind", "team", SlaGapFilter)
    search_fields = ("title",)
    inlines = [LoopEventInline]
    actions = ["close_loops", "cancel_loops"]

    def get_urls(self):  # type: ignore[no-untyped-def]
        gaps = path(
            "sla-gaps/",
            self.admin_site.admin_view(self.sla_gaps_view),
            name="loops_loop_sla_gaps",
        )
        return [gaps, *super().get_urls()]

    def sla_gaps_view(self, request):  # type: ignore[no-untyped-def]
        """Open loops no policy matches, grouped by kind, channel and team: each group links
        to its loops and to adding the policy that would give them a deadline."""
        changelist = reverse("admin:loops_loop_changelist")
        add_policy = reverse("admin:loops_slapolicy_add")
        kinds = dict(LoopKind.choices)
        gaps = sla_gaps(viewer=request.user)
        for gap in gaps:
            team = (
                {"team__id__exact": gap["team_id"]} if gap["team_id"] else {"team__isnull": "True"}
            )
            gap["kind_label"] = kinds.get(gap["kind"], gap["kind"])
            gap["loops_url"] = f"{changelist}?" + urlencode(
                {"sla": "none", "kind__exact": gap["kind"], "channel__exact": gap["channel"]} | team
            )
            prefill = {"kind": gap["kind"], "channel": gap["channel"]}
            if gap["team_id"]:
                prefill["team"] = gap["team_id"]
            gap["add_url"] = f"{add_policy}?" + urlencode(prefill)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Loops no SLA policy matches",
            "gaps": gaps,
            "total": sum(g["n"] for g in gaps),
            "all_url": f"{changelist}?sla=none",
        }
        return TemplateResponse(request, "admin/loops/sla_gaps.html", context)

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in Loop._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def _finish(self, request, queryset, verb: str, reason: str = "") -> None:  # type: ignore[no-untyped-def]
        done, refused = 0, []
        for loop in queryset:
            try:
                if verb == "close":
                    loop_close(loop=loop, actor=request.user, reason=reason, now=utcnow())
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
        """Close with the reason the admin gives on an intermediate page (it goes into each
        loop's trail; an open reply loop is not closed without one)."""
        reason = request.POST.get("reason", "").strip()[:500]
        if "apply" in request.POST and reason:
            self._finish(request, queryset, "close", reason)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Why are these loops closed?",
            "loops": queryset,
            "asked": "apply" in request.POST,
            "action": "close_loops",
        }
        return TemplateResponse(request, "admin/loops/close_reason.html", context)

    @admin.action(description="Cancel selected loops")
    def cancel_loops(self, request, queryset):  # type: ignore[no-untyped-def]
        self._finish(request, queryset, "cancel")

"""QA scorecards with their categories inline; reviews are shown, never edited here (a
review's score is worked out when it is written; a reviewer overrides through the API).
Pay plans with their metrics inline; pay adjustments are added here or through the API and
never changed or deleted (a correction is a new adjustment). Pay disputes are read here
(agents open them and leads answer them on the pay statement page or through the API).
Digest subscriptions are switched on and off here too; the digests sent are listed."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.scorecards.models import (
    DigestSent,
    DigestSubscription,
    PayAdjustment,
    PayDispute,
    PayPlan,
    PayPlanMetric,
    QaCategory,
    QaReview,
    QaScore,
    QaScorecard,
)


class QaCategoryInline(admin.TabularInline):
    model = QaCategory
    extra = 1
    fields = ("position", "name", "weight", "min_score", "max_score", "critical", "rule")
    readonly_fields = ("rule",)


@admin.register(QaScorecard)
class QaScorecardAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "active", "automatic")
    list_filter = ("active", "automatic", "team")
    search_fields = ("name",)
    inlines = [QaCategoryInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The Automatic scorecard is the first pass's; reviews keep the others (PROTECT).
        if obj is not None and obj.automatic:
            return False
        return super().has_delete_permission(request, obj)


class QaScoreInline(admin.TabularInline):
    model = QaScore
    extra = 0
    fields = ("category", "score", "reason")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(QaReview)
class QaReviewAdmin(admin.ModelAdmin):
    """Read-only: the automatic pass's reviews are never changed, and a person's review is
    replaced by an override, not edited, so its score and the scorecard agree."""

    list_display = (
        "id",
        "case",
        "agent",
        "team",
        "reviewer",
        "automatic",
        "score",
        "overrides",
        "conversation_at",
    )
    list_filter = ("automatic", "team", "scorecard")
    search_fields = ("agent__username", "reviewer__username", "case__number")
    list_select_related = ("case", "agent", "team", "reviewer", "overrides")
    inlines = [QaScoreInline]
    fields = (
        "scorecard",
        "case",
        "interaction",
        "loop",
        "agent",
        "team",
        "reviewer",
        "automatic",
        "overrides",
        "score",
        "comment",
        "conversation_at",
        "created_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PayPlanMetricInline(admin.TabularInline):
    model = PayPlanMetric
    extra = 1
    fields = ("position", "metric", "target", "weight", "cap", "higher_is_better")


@admin.register(PayPlan)
class PayPlanAdmin(admin.ModelAdmin):
    list_display = ("name", "team", "active", "min_quality_gate", "practice_gate", "overall_cap")
    list_filter = ("active", "team")
    search_fields = ("name", "team__name")
    list_select_related = ("team",)
    inlines = [PayPlanMetricInline]


class PayAdjustmentForm(forms.ModelForm):
    class Meta:
        model = PayAdjustment
        fields = ("agent", "month", "points", "reason")

    def clean_month(self) -> str:
        from lastmile.scorecards.pay import pay_month_parse

        try:
            return pay_month_parse(self.cleaned_data["month"], now=utcnow()).key
        except InvalidInput as exc:
            raise forms.ValidationError(exc.errors[0].reason) from None


@admin.register(PayAdjustment)
class PayAdjustmentAdmin(admin.ModelAdmin):
    """Added with its reason, by whoever is signed in, then read-only: the rows are the audit
    trail of what changed an agent's pay."""

    list_display = ("agent", "month", "points", "reason", "created_by", "created_at")
    list_filter = ("month",)
    search_fields = ("agent__username", "reason")
    list_select_related = ("agent", "created_by")
    form = PayAdjustmentForm
    fields = ("agent", "month", "points", "reason", "created_by", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("created_by", "created_at")
        return self.fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:  # never: has_change_permission refuses it; kept as a guard
            return
        obj.created_by = request.user
        obj.created_at = utcnow()
        super().save_model(request, obj, form, change)


@admin.register(PayDispute)
class PayDisputeAdmin(admin.ModelAdmin):
    """Read-only: an agent opens a dispute and the lead answers it on the pay statement
    page (/scorecards/pay/) or through the API, so the loop and the adjustment go with it."""

    list_display = ("id", "agent", "month", "line", "state", "answered_by", "created_at")
    list_filter = ("state", "month")
    search_fields = ("agent__username", "reason", "answer")
    list_select_related = ("agent", "answered_by")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DigestSubscription)
class DigestSubscriptionAdmin(admin.ModelAdmin):
    """Who gets the weekly digest; switch ``active`` off to stop it (people do it
    themselves at /scorecards/digest/)."""

    list_display = ("user", "active", "created_at", "updated_at")
    list_filter = ("active",)
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    fields = ("user", "active", "created_at", "updated_at")
    readonly_fields = ("created_at", "updated_at")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        now = utcnow()
        if not change:
            obj.created_at = now
        obj.updated_at = now
        super().save_model(request, obj, form, change)


@admin.register(DigestSent)
class DigestSentAdmin(admin.ModelAdmin):
    """The digests queued, one per person and week (the outbox shows their delivery)."""

    list_display = ("user", "week", "outbox_key", "created_at")
    list_filter = ("week",)
    search_fields = ("user__username",)
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

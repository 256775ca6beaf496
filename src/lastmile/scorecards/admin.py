"""QA scorecards with their categories inline; reviews are shown, never edited here (a
review's score is worked out when it is written; a reviewer overrides through the API)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lastmile.scorecards.models import QaCategory, QaReview, QaScore, QaScorecard


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

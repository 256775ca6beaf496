"""Each team's coaching settings (the QA target); lessons are shown, never edited here (the
agent and the lead change them through the pages and the API)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lastmile.coaching.models import CoachingSettings, Lesson, LessonEvent


@admin.register(CoachingSettings)
class CoachingSettingsAdmin(admin.ModelAdmin):
    list_display = ("team", "qa_target", "automatic_reviews")
    list_editable = ("qa_target", "automatic_reviews")


class LessonEventInline(admin.TabularInline):
    model = LessonEvent
    extra = 0
    fields = ("at", "kind", "actor", "note", "data")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "agent", "team", "lead", "reason", "state", "created_at")
    list_filter = ("state", "reason", "team")
    search_fields = ("title", "agent__username")
    inlines = [LessonEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [f.name for f in Lesson._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

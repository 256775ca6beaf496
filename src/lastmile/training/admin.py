"""Practice cases, paths and attempts, read-only in the admin: they are made and changed on
the practice pages and through the API (the services), where the masking, the path's rules
and the attempt's states are kept."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lastmile.training.models import OnboardingPath, OnboardingStep, PracticeAttempt, PracticeCase


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(PracticeCase)
class PracticeCaseAdmin(ReadOnly):
    list_display = ("title", "team", "scorecard", "source_ref", "active", "created_at")
    list_filter = ("team", "active")
    search_fields = ("title", "source_ref")


class StepInline(admin.TabularInline):
    model = OnboardingStep
    extra = 0
    fields = ("position", "practice_case")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OnboardingPath)
class OnboardingPathAdmin(ReadOnly):
    list_display = ("team", "updated_at", "updated_by")
    inlines = [StepInline]


@admin.register(PracticeAttempt)
class PracticeAttemptAdmin(ReadOnly):
    list_display = ("practice_case", "agent", "team", "state", "score", "updated_at")
    list_filter = ("state", "team")
    search_fields = ("agent__username", "practice_case__title")

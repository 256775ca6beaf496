"""Surveys and reason tags in the admin, written through the services (with their audit
rows); invites and responses are shown, never edited (the services write them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lastmile.core.clock import utcnow
from lastmile.feedback.models import Invite, ReasonTag, Response, Survey
from lastmile.feedback.services import SURVEY_FIELDS, reason_save, survey_save


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "team", "trigger", "channel", "active")
    list_filter = ("kind", "trigger", "active", "team")
    search_fields = ("name",)
    fields = SURVEY_FIELDS

    def save_model(self, request: HttpRequest, obj: Survey, form: Any, change: bool) -> None:
        survey_save(survey=obj, actor=request.user, now=utcnow())  # type: ignore[arg-type]


@admin.register(ReasonTag)
class ReasonTagAdmin(admin.ModelAdmin):
    list_display = ("name", "keywords", "position", "active")
    list_editable = ("position", "active")
    search_fields = ("name", "keywords")

    def save_model(self, request: HttpRequest, obj: ReasonTag, form: Any, change: bool) -> None:
        reason_save(reason=obj, actor=request.user, now=utcnow())  # type: ignore[arg-type]


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invite)
class InviteAdmin(ReadOnly):
    list_display = (
        "id",
        "survey",
        "customer",
        "channel",
        "state",
        "reason",
        "reminder_state",
        "created_at",
    )
    list_filter = ("state", "channel", "reminder_state", "survey")
    list_select_related = ("survey", "customer")


@admin.register(Response)
class ResponseAdmin(ReadOnly):
    list_display = (
        "id",
        "survey",
        "score",
        "band",
        "reason",
        "recovery_loop",
        "recovery_outcome",
        "at",
    )
    list_filter = ("band", "survey", "reason", "recovery_outcome")
    list_select_related = ("survey", "reason", "recovery_loop")

"""Notifications in the admin: read-only; they are written by the events that cause them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lastmile.live.models import Mention, Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "recipient", "kind", "case", "text", "read_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("recipient__username", "text")
    list_select_related = ("recipient", "case")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Mention)
class MentionAdmin(admin.ModelAdmin):
    list_display = ("interaction", "token", "user", "matched")
    list_filter = ("matched",)
    search_fields = ("token", "user__username")
    list_select_related = ("user",)
    raw_id_fields = ("interaction",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

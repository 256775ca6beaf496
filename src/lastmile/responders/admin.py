"""Enrolments in the admin, checked and written by the same service as the API; replies and
their events are the audit trail, read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput
from lastmile.responders.models import Enrolment, ResponderEvent, ResponderReply
from lastmile.responders.services import enrolment_check, enrolment_save

FIELDS = [
    "user",
    "team",
    "approver",
    "networks",
    "case_replies",
    "macros",
    "free_text",
    "simple_tag",
    "simple_max_messages",
    "approvals_needed",
    "active",
    "valid_until",
]


class EnrolmentForm(forms.ModelForm):
    class Meta:
        model = Enrolment
        fields = FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or data.get("user") is None or data.get("team") is None:
            return data
        try:
            enrolment_check(
                user=data["user"],
                team=data["team"],
                approver=data.get("approver"),
                networks=data.get("networks") or [],
                case_replies=bool(data.get("case_replies")),
                macros=list(data.get("macros") or []),
                simple_tag=data.get("simple_tag") or "",
                simple_max_messages=data.get("simple_max_messages") or 0,
                approvals_needed=data.get("approvals_needed") or 0,
                valid_until=data.get("valid_until"),
                now=utcnow(),
                was_valid_until=self.instance.valid_until if self.instance.pk else None,
            )
        except InvalidInput as exc:
            for err in exc.errors:
                self.add_error(err.field if err.field in self.fields else None, err.reason)
        return data


@admin.register(Enrolment)
class EnrolmentAdmin(admin.ModelAdmin):
    form = EnrolmentForm
    list_display = ["user", "team", "approver", "networks", "case_replies", "active", "valid_until"]
    list_filter = ["team", "active", "case_replies"]
    search_fields = ["user__username", "user__first_name", "user__last_name"]
    filter_horizontal = ["macros"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        data = form.cleaned_data
        try:
            row = enrolment_save(
                enrolment=Enrolment.objects.get(pk=obj.pk) if change else None,
                user=data["user"],
                team=data["team"],
                approver=data.get("approver"),
                networks=data.get("networks") or [],
                case_replies=bool(data.get("case_replies")),
                macros=list(data.get("macros") or []),
                free_text=bool(data.get("free_text")),
                simple_tag=data.get("simple_tag") or "",
                simple_max_messages=data.get("simple_max_messages") or 0,
                approvals_needed=data.get("approvals_needed") or 0,
                active=bool(data.get("active")),
                valid_until=data.get("valid_until"),
                actor=request.user,
                now=utcnow(),
            )
        except DomainError as exc:
            raise ValidationError(exc.detail) from exc
        obj.pk = row.pk
        obj.created_at, obj.updated_at = row.created_at, row.updated_at

    def save_related(self, request, form, formsets, change):  # type: ignore[no-untyped-def]
        # The service set the saved responses (and audited them); nothing more to write.
        return None


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ResponderReply)
class ResponderReplyAdmin(ReadOnly):
    list_display = ["id", "responder", "team", "target", "state", "macro_name", "created_at"]
    list_filter = ["state", "team", "target"]
    search_fields = ["responder__username", "body"]


@admin.register(ResponderEvent)
class ResponderEventAdmin(ReadOnly):
    list_display = ["id", "enrolment", "reply", "kind", "actor", "at"]
    list_filter = ["kind"]

"""Recovery rules in the admin, checked by the same rule as the services
(``services.rule_check``: each bad field named) and written by the API's service
(``services.rule_save``, with its audit row); recoveries are shown, never edited (the
services open and close them with their loops)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.recovery.models import Recovery, RecoveryRule
from lastmile.recovery.services import RULE_FIELDS, rule_check, rule_save


class RecoveryRuleForm(forms.ModelForm):
    class Meta:
        model = RecoveryRule
        fields = RULE_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk and not data.get("active") and set(self.changed_data) <= {"active"}:
            return data  # switching a rule off is never refused (services.rule_save)
        try:
            rule_check(
                funnel=data.get("funnel"),
                abandon_step=data.get("abandon_step"),
                abandon_after_seconds=data.get("abandon_after_seconds"),
                window_seconds=data.get("window_seconds"),
                team=data.get("team"),
                sla_policy=data.get("sla_policy"),
                sla_seconds=data.get("sla_seconds"),
                outreach=data.get("outreach") or "",
                channel=data.get("channel") or "",
                subject=data.get("subject") or "",
                body=data.get("body") or "",
            )
        except InvalidInput as exc:
            for e in exc.errors:
                if e.field in self.fields and e.field not in self.errors:
                    self.add_error(e.field, e.reason)
                elif e.field not in self.fields:
                    self.add_error(None, f"{e.field}: {e.reason}")
        return data


@admin.register(RecoveryRule)
class RecoveryRuleAdmin(admin.ModelAdmin):
    form = RecoveryRuleForm
    list_display = ("name", "funnel", "abandon_step", "team", "outreach", "active")
    list_filter = ("active", "outreach", "team")
    search_fields = ("name",)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # The API's service: the same checks, the audit row, the lease left alone.
        fields = {k: v for k, v in form.cleaned_data.items() if k in RULE_FIELDS}
        rule_save(rule=obj, actor=request.user, now=utcnow(), **fields)


@admin.register(Recovery)
class RecoveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "rule",
        "customer",
        "outcome",
        "value",
        "revenue",
        "opened_at",
        "closed_at",
    )
    list_filter = ("outcome", "rule")
    raw_id_fields = ("customer", "loop")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

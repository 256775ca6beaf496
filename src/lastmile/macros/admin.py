"""Macros in the admin, checked and written by the same service as everywhere else."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput
from lastmile.macros.models import Macro
from lastmile.macros.placeholders import PLACEHOLDERS
from lastmile.macros.services import macro_check, macro_delete, macro_save


class MacroForm(forms.ModelForm):
    class Meta:
        model = Macro
        fields = ["name", "body", "owner", "team", "set_status", "add_tag", "pause_reply_loop"]
        help_texts = {
            "body": "Placeholders: "
            + ", ".join("{{" + k + "}} " + v for k, v in PLACEHOLDERS.items())
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            macro_check(
                name=data.get("name") or "",
                body=data.get("body") or "",
                set_status=data.get("set_status") or "",
                add_tag=data.get("add_tag") or "",
                pause_reply_loop=bool(data.get("pause_reply_loop")),
            )
        except InvalidInput as exc:
            for err in exc.errors:
                self.add_error(err.field if err.field in self.fields else None, err.reason)
            # Django's banner already says "Please correct the errors below"; a second
            # non-field line would only repeat it.
            return data
        if (data.get("owner") is None) == (data.get("team") is None):
            raise ValidationError("A macro is either personal (an owner) or shared with a team.")
        return data


@admin.register(Macro)
class MacroAdmin(admin.ModelAdmin):
    form = MacroForm
    list_display = ["name", "team", "owner", "set_status", "add_tag", "pause_reply_loop"]
    list_filter = ["team", "set_status"]
    search_fields = ["name", "body"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        data = form.cleaned_data
        try:
            macro_save(
                macro=obj,
                name=data["name"],
                body=data["body"],
                owner=data.get("owner"),
                team=data.get("team"),
                set_status=data.get("set_status") or "",
                add_tag=data.get("add_tag") or "",
                pause_reply_loop=bool(data.get("pause_reply_loop")),
                actor=request.user,
                now=utcnow(),
            )
        except DomainError as exc:
            raise ValidationError(exc.detail) from exc

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        macro_delete(macro=obj, actor=request.user)

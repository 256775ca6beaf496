"""Saved funnels in the admin: the definition edited as JSON, checked by the same rules as
the API (``funnel_services.definition_check``) and saved through the same services, so
the audit rows and the admins-only rule hold here too. Funnels are archived, not deleted.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.funnels import funnel_services
from lastmile.funnels.models import Funnel

EXAMPLE = {
    "mode": "ordered",
    "window_seconds": 86400,
    "steps": [
        {"event": "Product Added"},
        {"event": "Checkout Started", "within_seconds": 3600},
        {"page": "Shipping", "optional": True},
        {"event": "Order Completed", "where": [{"property": "value", "op": "gt", "value": 0}]},
    ],
    "exclusions": [{"event": "Cart Emptied", "from_step": 1, "to_step": 4}],
}
DEFINITION_HELP = (
    "The funnel as JSON, without a date range (it is chosen each time the funnel is asked). "
    "mode: ordered, strict or unordered. window_seconds: from the first step to the last, "
    "1 to 31536000. steps: 2 to 30, each one of event, page or screen, with optional "
    "where (filters: property, op equals / not_equals / contains / gt / lt / is_set, value), "
    "optional, within_seconds and min_gap_seconds. exclusions: events that must not come "
    "between from_step and to_step. Example: " + json.dumps(EXAMPLE)
)


class DefinitionField(forms.JSONField):
    """JSON shown indented, one step a line or so, to be edited by hand."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2)


class FunnelForm(forms.ModelForm):
    definition = DefinitionField(
        help_text=DEFINITION_HELP,
        widget=forms.Textarea(attrs={"rows": 24, "cols": 90, "spellcheck": "false"}),
    )

    class Meta:
        model = Funnel
        fields = ("name", "description", "team", "definition")
        widgets = {"description": forms.Textarea(attrs={"rows": 3, "cols": 90})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk and not self.initial.get("definition"):
            self.initial["definition"] = EXAMPLE

    def clean_definition(self) -> dict[str, Any]:
        try:
            return funnel_services.definition_check(definition=self.cleaned_data["definition"])
        except InvalidInput as exc:
            raise ValidationError(
                [f"{e.field}: {e.reason}" for e in exc.errors] or [exc.detail]
            ) from None


@admin.register(Funnel)
class FunnelAdmin(admin.ModelAdmin):
    form = FunnelForm
    list_display = ("name", "team", "steps", "mode", "archived", "updated_at")
    list_filter = ("archived", "team")
    list_select_related = ("team",)
    search_fields = ("name", "description")
    readonly_fields = ("archived", "created_by", "created_at", "updated_at")
    actions = ("archive", "bring_back")

    @admin.display(description="steps")
    def steps(self, obj: Funnel) -> str:
        steps = obj.definition.get("steps") or []
        names = [s.get("event") or s.get("page") or s.get("screen") or "?" for s in steps]
        return " → ".join(names)

    @admin.display(description="mode")
    def mode(self, obj: Funnel) -> str:
        return str(obj.definition.get("mode", ""))

    def _may_write(self, request: HttpRequest) -> bool:
        return funnel_services.may_write_funnels(request.user)  # type: ignore[arg-type]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._may_write(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_write(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # archived instead: recovery rules and links name the funnel

    def save_model(self, request: HttpRequest, obj: Funnel, form: Any, change: bool) -> None:
        data = form.cleaned_data
        fields = {
            "name": data["name"],
            "description": data.get("description") or "",
            "definition": data["definition"],
            "team": data.get("team"),
            "actor": request.user,
            "now": utcnow(),
        }
        if change:
            funnel_services.funnel_update(funnel=obj, **fields)
        else:
            obj.pk = funnel_services.funnel_create(**fields).pk

    @admin.action(description="Archive the selected funnels")
    def archive(self, request: HttpRequest, queryset: QuerySet[Funnel]) -> None:
        self._archive(request, queryset, archived=True)

    @admin.action(description="Bring the selected funnels back")
    def bring_back(self, request: HttpRequest, queryset: QuerySet[Funnel]) -> None:
        self._archive(request, queryset, archived=False)

    def _archive(self, request: HttpRequest, queryset: QuerySet[Funnel], *, archived: bool) -> None:
        now = utcnow()
        for funnel in queryset:
            funnel_services.funnel_archive(
                funnel=funnel,
                archived=archived,
                actor=request.user,  # type: ignore[arg-type]
                now=now,
            )
        verb = "archived" if archived else "brought back"
        self.message_user(request, f"{queryset.count()} funnel(s) {verb}.", messages.SUCCESS)

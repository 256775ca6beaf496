"""Journey templates in the admin, checked by the same rules as the API (the DAG included).

Journeys themselves are read-only here: they change through their services (the console,
the API), so a step's loop and the step never disagree.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.journeys.definitions import KEY_RE
from lastmile.journeys.models import Journey, JourneyStep, JourneyTemplate, StepTemplate
from lastmile.journeys.services import template_check


class StepTemplateForm(forms.ModelForm):
    depends_on = forms.CharField(
        required=False,
        help_text="Keys of the steps that must be done first, separated by commas.",
    )

    class Meta:
        model = StepTemplate
        fields = [
            "position",
            "key",
            "title",
            "team",
            "sla_minutes",
            "depends_on",
            "customer_visible",
            "customer_performs",
            "customer_action",
            "instructions",
            "due_by_slot",
        ]
        widgets = {"instructions": forms.Textarea(attrs={"rows": 2, "cols": 40})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and isinstance(self.instance.depends_on, list):
            self.initial["depends_on"] = ", ".join(self.instance.depends_on)

    def clean_depends_on(self) -> list[str]:
        raw = self.cleaned_data.get("depends_on") or ""
        keys = [k.strip() for k in raw.replace(";", ",").split(",") if k.strip()]
        bad = [k for k in keys if not KEY_RE.fullmatch(k)]
        if bad:
            raise ValidationError(f"not step keys: {', '.join(bad)}")
        return keys


class StepFormSet(BaseInlineFormSet):
    """The steps together: keys unique, dependencies known, no cycle — as the API checks."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        forms_in_order = [
            f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE", False)
        ]
        forms_in_order.sort(key=lambda f: f.cleaned_data.get("position") or 0)
        steps = []
        for f in forms_in_order:
            d = f.cleaned_data
            steps.append(
                {
                    "key": d.get("key"),
                    "title": d.get("title"),
                    "team": d["team"].slug if d.get("team") else None,
                    "sla_minutes": d.get("sla_minutes"),
                    "depends_on": d.get("depends_on") or [],
                    "customer_visible": bool(d.get("customer_visible")),
                    "customer_performs": bool(d.get("customer_performs")),
                    "customer_action": d.get("customer_action") or "none",
                    "instructions": d.get("instructions") or "",
                    "due_by_slot": d.get("due_by_slot") or None,
                }
            )
        if not steps:
            raise ValidationError("a template needs at least one step")
        try:
            template_check(definition={"name": "check", "slug": "check", "steps": steps})
        except InvalidInput as exc:
            for err in exc.errors:
                # "steps[2].depends_on" → the third form's depends_on field
                head, _, name = err.field.partition(".")
                index = int(head[6:-1]) if head.startswith("steps[") else None
                if index is not None and index < len(forms_in_order):
                    form = forms_in_order[index]
                    field = name if name in form.fields else None
                    form.add_error(field, err.reason)
                else:
                    raise ValidationError(f"{err.field}: {err.reason}") from None
            raise ValidationError("fix the steps marked below") from None


class StepTemplateInline(admin.TabularInline):
    model = StepTemplate
    form = StepTemplateForm
    formset = StepFormSet
    extra = 1
    ordering = ["position", "id"]


@admin.register(JourneyTemplate)
class JourneyTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "version", "active", "updated_at")
    list_filter = ("active",)
    prepopulated_fields = {"slug": ("name",)}
    fields = ("name", "slug", "description", "active", "version", "updated_at")
    readonly_fields = ("version", "updated_at")
    inlines = [StepTemplateInline]

    def save_model(self, request: Any, obj: JourneyTemplate, form: Any, change: bool) -> None:
        # Journeys already started keep their copy of the steps; the version says which.
        obj.updated_at = utcnow()
        if change:
            obj.version += 1
        super().save_model(request, obj, form, change)


class JourneyStepInline(admin.TabularInline):
    model = JourneyStep
    fields = ("key", "title", "team", "state", "loop", "handoff_note", "note", "completed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ("name", "case", "state", "started_at", "completed_at", "cancelled_at")
    list_filter = ("state", "template")
    list_select_related = ("case",)
    readonly_fields = [
        "template",
        "template_version",
        "name",
        "case",
        "state",
        "started_by",
        "started_at",
        "completed_at",
        "cancelled_at",
        "cancelled_by",
        "cancelled_reason",
    ]
    inlines = [JourneyStepInline]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

"""Admin: policies (editing the rule makes a new version) and the promise ledger (read-only)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from lastmile.core.clock import utcnow
from lastmile.people.authority import POLICY_KEY
from lastmile.promises.cel import cel_compile_error
from lastmile.promises.models import Policy, PolicyVersion, Promise, Severity
from lastmile.promises.services import policy_create, policy_revise, policy_set_details

RULE_FIELDS = ("applies_when", "rule", "severity", "text", "authority_term")


class PolicyForm(forms.ModelForm):
    """The policy and its rule in one form; the rule fields belong to a new version.

    CEL that does not compile is a form error here, not a surprise at the first promise.
    """

    applies_when = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text=PolicyVersion._meta.get_field("applies_when").help_text,
    )
    rule = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text=PolicyVersion._meta.get_field("rule").help_text
        + " Variables: terms (the promise's terms), customer (the customer's attributes).",
    )
    severity = forms.ChoiceField(choices=Severity.choices)
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
        help_text=PolicyVersion._meta.get_field("text").help_text,
    )
    authority_term = forms.CharField(
        required=False, help_text=PolicyVersion._meta.get_field("authority_term").help_text
    )
    effective_from = forms.DateTimeField(
        required=False, help_text="When this version starts; empty is now. Not in the past."
    )
    effective_to = forms.DateTimeField(required=False, help_text="Empty: until replaced.")

    class Meta:
        model = Policy
        fields = ("key", "title", "team", "active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.current if self.instance.pk else None
        if current is not None:
            for name in RULE_FIELDS:
                self.fields[name].initial = getattr(current, name)
            self.fields["effective_to"].initial = current.effective_to
            self.fields["key"].disabled = True  # promises name policies by key

    def clean_rule(self) -> str:
        rule = self.cleaned_data["rule"]
        if (why := cel_compile_error(rule)) is not None:
            raise ValidationError(f"The rule {why}.")
        return rule

    def clean_key(self) -> str:
        key = self.cleaned_data["key"]
        if not POLICY_KEY.match(key or ""):
            raise ValidationError("Lower-case letters, digits, - and _, 64 at most.")
        return key

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("effective_from"), data.get("effective_to")
        now = utcnow()
        if start is not None and start < now:
            self.add_error("effective_from", "A version cannot start in the past.")
        current = self.instance.current if self.instance.pk else None
        if start is not None and current is not None and start < current.effective_from:
            self.add_error("effective_from", "Not before the current version starts.")
        if end is not None and end <= (start or now):
            self.add_error("effective_to", "The window must end after it starts.")
        return data

    def clean_applies_when(self) -> str:
        expr = self.cleaned_data.get("applies_when") or ""
        if expr.strip() and (why := cel_compile_error(expr)) is not None:
            raise ValidationError(f"The condition {why}.")
        return expr


class PolicyVersionInline(admin.TabularInline):
    model = PolicyVersion
    extra = 0
    can_delete = False
    fields = (
        "version",
        "severity",
        "applies_when",
        "rule",
        "text",
        "authority_term",
        "effective_from",
        "effective_to",
        "created_at",
        "created_by",
    )
    readonly_fields = fields
    ordering = ("-version",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = ("key", "title", "team", "active", "version", "severity")
    list_filter = ("active", "team")
    search_fields = ("key", "title")
    inlines = [PolicyVersionInline]
    fieldsets = (
        (None, {"fields": ("key", "title", "team", "active")}),
        (
            "Rule (saving a change makes a new version)",
            {"fields": (*RULE_FIELDS, "effective_from", "effective_to")},
        ),
    )

    @admin.display(description="version")
    def version(self, obj: Policy) -> int | None:
        return obj.current.version if obj.current is not None else None

    @admin.display(description="severity")
    def severity(self, obj: Policy) -> str:
        return obj.current.severity if obj.current is not None else ""

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("current", "team")

    def save_model(self, request: HttpRequest, obj: Policy, form: Any, change: bool) -> None:
        """Through the services: a new policy gets version 1, an edited rule a new version."""
        data = form.cleaned_data
        rule = {name: data.get(name) or "" for name in RULE_FIELDS}
        now = utcnow()
        if not change:
            created = policy_create(
                key=data["key"],
                title=data["title"],
                team=data.get("team"),
                effective_from=data.get("effective_from"),
                effective_to=data.get("effective_to"),
                actor=request.user,
                now=now,
                **rule,
            )
            obj.pk = created.pk
            obj.refresh_from_db()
            if not data["active"]:
                policy_set_details(policy=obj, title=obj.title, team=obj.team, active=False)
            return
        # The form checked the window and the CEL; a race with another edit can still fail.
        policy_set_details(
            policy=obj, title=data["title"], team=data.get("team"), active=data["active"]
        )
        policy_revise(
            policy=obj,
            effective_from=data.get("effective_from"),
            effective_to=data.get("effective_to"),
            actor=request.user,
            now=now,
            **rule,
        )


@admin.register(Promise)
class PromiseAdmin(admin.ModelAdmin):
    """The ledger, read-only: promises change only through their outcomes."""

    list_display = (
        "id",
        "text",
        "customer",
        "team",
        "made_by_name",
        "channel",
        "made_at",
        "due_at",
        "state",
    )
    list_filter = ("state", "team", "channel")
    search_fields = ("text", "made_by_name", "customer__display_name")
    date_hierarchy = "made_at"
    list_select_related = ("customer", "team")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Promise._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.method in ("GET", "HEAD")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

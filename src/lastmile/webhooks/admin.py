"""Admin: integrations and subscriptions (secrets shown once), and the delivery log with a
"redeliver" action."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.webhooks.models import Delivery, DeliveryAttempt, Integration, Subscription
from lastmile.webhooks.sender import url_check
from lastmile.webhooks.services import integrations, subscriptions
from lastmile.webhooks.services.secrets import secret_rotate

URL_FIELD = {"assume_scheme": "https"}  # Django 6's default, without the warning


def _shown_once(request: Any, what: str, secret: str) -> None:
    messages.warning(
        request, f"Signing secret for {what}: {secret} — copy it now, it is not shown again."
    )


def _url_clean(value: str, *, required: bool) -> str:
    """The service's URL check (no internal address) as a form field error."""
    try:
        return url_check(value or "", required=required)
    except DomainError as exc:
        raise ValidationError("; ".join(e.reason for e in exc.errors)) from None


class IntegrationForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        help_text=Integration._meta.get_field("url").help_text,
    )

    class Meta:
        model = Integration
        fields = ("name", "slug", "channel", "url", "team", "active")

    def clean_url(self) -> str:
        return _url_clean(self.cleaned_data.get("url") or "", required=False)


@admin.register(Integration)
class IntegrationAdmin(admin.ModelAdmin):
    """Create one here to get its secret, shown once in the confirmation message."""

    form = IntegrationForm
    list_display = ("name", "slug", "channel", "team", "url", "active", "secret_prefix")
    formfield_overrides = {models.URLField: URL_FIELD}
    list_filter = ("channel", "active", "team")
    search_fields = ("name", "slug", "url")
    actions = ["rotate_secret"]

    def get_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ("name", "slug", "channel", "url", "team", "active")
        return ("name", "slug", "channel", "url", "team", "active", "secret_prefix", "created_at")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        # The slug is part of every stored message id: changing it would break idempotency.
        return () if obj is None else ("slug", "channel", "secret_prefix", "created_at")

    def get_form(self, request, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, **kwargs)
        if obj is None and "slug" in form.base_fields:
            form.base_fields["slug"].required = False
            form.base_fields["slug"].help_text = "Empty: made from the name. Fixed once created."
        return form

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            return super().save_model(request, obj, form, change)
        row, secret = integrations.integration_create(
            name=obj.name,
            slug=obj.slug,
            channel=obj.channel,
            url=obj.url,
            team=obj.team,
            active=obj.active,
            now=utcnow(),
        )
        obj.pk, obj.slug, obj.secret_prefix, obj.created_at = (
            row.pk,
            row.slug,
            row.secret_prefix,
            row.created_at,
        )
        _shown_once(request, row.name, secret)

    @admin.action(description="Rotate the signing secret (shown once)")
    def rotate_secret(self, request, queryset):  # type: ignore[no-untyped-def]
        now = utcnow()
        for integration in queryset:
            secret = secret_rotate(owner=integration, actor=request.user, now=now)
            _shown_once(request, integration.name, secret)


class SubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.CharField(
        help_text="Event names separated by commas: loop.opened, loop.breached, loop.closed, "
        "loop.broken, loop.cancelled, case.solved, promise.broken …; loop.* for every loop "
        "event; * for everything."
    )

    class Meta:
        model = Subscription
        fields = ("name", "url", "events", "team", "active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and isinstance(self.instance.events, list):
            self.initial["events"] = ", ".join(self.instance.events)

    def clean_url(self) -> str:
        return _url_clean(self.cleaned_data.get("url") or "", required=True)

    def clean_events(self) -> list[str]:
        try:
            return subscriptions.events_check(self.cleaned_data.get("events") or "")
        except DomainError as exc:
            raise ValidationError("; ".join(e.reason for e in exc.errors)) from None


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ("name", "url", "events_list", "team", "active", "secret_prefix", "created_at")
    list_filter = ("active", "team")
    search_fields = ("name", "url")
    actions = ["rotate_secret"]

    @admin.display(description="events")
    def events_list(self, obj: Subscription) -> str:
        return ", ".join(obj.events)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            return super().save_model(request, obj, form, change)
        row, secret = subscriptions.subscription_create(
            name=obj.name,
            url=obj.url,
            events=obj.events,
            team=obj.team,
            active=obj.active,
            now=utcnow(),
        )
        obj.pk, obj.secret_prefix, obj.created_at = row.pk, row.secret_prefix, row.created_at
        _shown_once(request, row.name, secret)

    @admin.action(description="Rotate the signing secret (shown once)")
    def rotate_secret(self, request, queryset):  # type: ignore[no-untyped-def]
        now = utcnow()
        for sub in queryset:
            _shown_once(request, sub.name, secret_rotate(owner=sub, actor=request.user, now=now))


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "at", "response_code", "duration_ms", "response_excerpt", "error")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: every event owed to a subscriber, its attempts, and redelivery."""

    list_display = (
        "id",
        "event",
        "subscription",
        "status",
        "attempts",
        "response_code",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "event", "subscription")
    search_fields = ("uuid", "event_id", "event", "last_error")
    date_hierarchy = "created_at"
    list_select_related = ("subscription",)
    readonly_fields = [f.name for f in Delivery._meta.fields]
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Redeliver selected deliveries now", permissions=["view"])
    def redeliver(self, request, queryset):  # type: ignore[no-untyped-def]
        count = subscriptions.deliveries_redeliver(
            ids=list(queryset.values_list("pk", flat=True)),
            now=utcnow(),
            actor=request.user.get_username(),
        )
        messages.success(request, f"{count} deliver{'y' if count == 1 else 'ies'} queued again.")

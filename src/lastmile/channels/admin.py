from django.contrib import admin, messages

from lastmile.channels.models import ContactRule, OutboxMessage, Source
from lastmile.channels.segment import source_revoke
from lastmile.channels.services import contact_rule_delete, contact_rule_save
from lastmile.core.clock import utcnow


@admin.register(ContactRule)
class ContactRuleAdmin(admin.ModelAdmin):
    """Contact policy per purpose (and customer attribute); the outbox reads it at each
    delivery, so edits apply at once."""

    list_display = (
        "purpose",
        "attribute_key",
        "attribute_value",
        "active",
        "quiet_start",
        "quiet_end",
        "caps_apply",
        "max_per_period",
        "period",
        "scope",
        "min_gap",
        "max_unanswered",
        "customer_required",
    )
    list_editable = ("active",)
    list_filter = ("purpose", "active")

    # The change form and the list's editable column both save through here.
    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        contact_rule_save(rule=obj, actor=request.user, now=utcnow())

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        contact_rule_delete(rule=obj, actor=request.user, now=utcnow())

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        for obj in queryset:
            self.delete_model(request, obj)

    fieldsets = (
        (None, {"fields": ("purpose", "description", "active")}),
        (
            "Only for some customers (leave empty for every customer)",
            {
                "fields": ("attribute_key", "attribute_value"),
                "description": (
                    "A rule with a condition replaces the purpose's general rule, whole, for "
                    "the customers whose attributes match (vip = true: a 60-day gap for VIPs)."
                ),
            },
        ),
        ("Quiet hours (the customer's local time)", {"fields": ("quiet_start", "quiet_end")}),
        (
            "Caps (never applied to replies)",
            {
                "fields": (
                    "caps_apply",
                    "max_per_period",
                    "period",
                    "scope",
                    "min_gap",
                    "max_unanswered",
                    "customer_required",
                )
            },
        ),
    )


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    """Read-only: messages change only through the outbox worker and the retry action."""

    list_display = (
        "id",
        "purpose",
        "channel",
        "recipient",
        "customer",
        "subject",
        "status",
        "rule_check",
        "rule_reason",
        "attempts",
        "created_at",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("status", "purpose", "channel", "rule_check")
    list_select_related = ("customer",)
    search_fields = ("recipient", "subject", "key", "rule_reason", "last_error")
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    @admin.action(description="Retry now (failed messages only)")
    def retry_now(self, request, queryset):  # type: ignore[no-untyped-def]
        from lastmile.channels.services import outbox_retry
        from lastmile.core.clock import utcnow

        ids = list(queryset.values_list("pk", flat=True))
        n = outbox_retry(message_ids=ids, now=utcnow())
        skipped = len(ids) - n
        self.message_user(request, f"{n} message(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                f"{skipped} message(s) left as they are: only failed messages are retried.",
                messages.WARNING,
            )


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    """Create a source here to get its write key, shown once in the confirmation message."""

    list_display = ("name", "kind", "prefix", "created_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("name", "prefix")
    fields = ("name", "kind", "prefix", "created_at", "revoked_at")
    readonly_fields = ("prefix", "created_at")

    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ("prefix", "created_at", "revoked_at")
        # Revocation is the action below (source_revoke, audited), not a date typed in the form.
        return ("name", "kind", "prefix", "created_at", "revoked_at")

    @admin.action(description="Revoke the selected write keys")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        now = utcnow()
        for row in queryset.filter(revoked_at__isnull=True):
            source_revoke(source=row, actor=request.user, now=now)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            super().save_model(request, obj, form, change)
            return
        from lastmile.channels.segment import source_create
        from lastmile.core.clock import utcnow

        created, key = source_create(name=obj.name, kind=obj.kind, now=utcnow())
        obj.pk = created.pk
        obj.key_hash, obj.prefix, obj.created_at = (
            created.key_hash,
            created.prefix,
            created.created_at,
        )
        messages.warning(
            request, f"Write key for {created.name} (copy it now, it is not shown again): {key}"
        )

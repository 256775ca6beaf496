from django.contrib import admin, messages

from lastmile.channels.models import OutboxMessage, Source


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "purpose",
        "channel",
        "recipient",
        "subject",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    )
    list_filter = ("status", "purpose", "channel")
    search_fields = ("recipient", "subject", "key")
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    """Create a source here to get its write key, shown once in the confirmation message."""

    list_display = ("name", "kind", "prefix", "created_at", "revoked_at")
    list_filter = ("kind",)
    search_fields = ("name", "prefix")
    fields = ("name", "kind", "prefix", "created_at", "revoked_at")
    readonly_fields = ("prefix", "created_at")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is None:
            return ("prefix", "created_at", "revoked_at")
        return ("name", "kind", "prefix", "created_at")

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

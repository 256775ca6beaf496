from django.contrib import admin

from lastmile.channels.models import OutboxMessage


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

from django.contrib import admin

from lastmile.core.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit of configuration changes, read-only: rows are written by the services, in
    the transaction of the change they record, and never edited afterwards."""

    list_display = ("at", "who", "action", "object_type", "object_repr", "before", "after")
    list_filter = ("object_type", "action", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("object_repr", "object_id", "actor__username", "actor_label")
    list_select_related = ("actor",)
    date_hierarchy = "at"

    @admin.display(description="Who", ordering="actor__username")
    def who(self, obj: AuditEntry) -> str:
        return obj.actor.username if obj.actor is not None else (obj.actor_label or "—")

    def get_readonly_fields(self, request, obj=None):  # type: ignore[no-untyped-def]
        return [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

from django.contrib import admin

from lastmile.portal.models import PortalLink


@admin.register(PortalLink)
class PortalLinkAdmin(admin.ModelAdmin):
    """Read-only: links are issued from the console or `lastmile portal link`."""

    list_display = ("customer", "sent_to", "created_at", "expires_at", "used_at", "created_by")
    list_filter = ("used_at",)
    search_fields = ("sent_to",)
    readonly_fields = [f.name for f in PortalLink._meta.fields]

    def has_add_permission(self, request):  # noqa: ARG002
        return False

    def has_change_permission(self, request, obj=None):  # noqa: ARG002
        return False

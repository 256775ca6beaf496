from django.contrib import admin, messages

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.customers.models import Customer, CustomerMerge, Identity, Interaction
from lastmile.customers.services.customers import customer_unmerge


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "network", "value", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "display_name", "created_at", "merged_into")
    search_fields = ("display_name", "identities__value")
    inlines = [IdentityInline]
    readonly_fields = ("created_at", "merged_into")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "channel", "direction", "occurred_at", "case")
    list_filter = ("channel", "direction")
    raw_id_fields = ("customer", "case", "actor")
    date_hierarchy = "occurred_at"


@admin.register(CustomerMerge)
class CustomerMergeAdmin(admin.ModelAdmin):
    list_display = ("id", "merged", "survivor", "merged_at", "undone_at", "reason")
    readonly_fields = ("survivor", "merged", "moved", "actor", "merged_at", "undone_at", "reason")
    actions = ["undo"]

    @admin.action(description="Undo selected merges (the rows they moved go back)")
    def undo(self, request, queryset):  # type: ignore[no-untyped-def]
        now = utcnow()
        done, refused = 0, []
        # The latest first: a merge whose survivor was merged later waits for that one.
        for merge in queryset.order_by("-merged_at", "-pk"):
            try:
                customer_unmerge(merge=merge, actor=request.user, now=now)
                done += 1
            except DomainError as exc:
                refused.append(f"{merge}: {exc.detail}")
        if done:
            messages.success(request, f"{done} merge(s) undone.")
        for line in refused:
            messages.error(request, line)

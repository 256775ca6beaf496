from django.contrib import admin

from lastmile.customers.models import Customer, CustomerMerge, Identity, Interaction


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

from django.contrib import admin

from lastmile.cases.models import Case, CaseEvent


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    readonly_fields = ("kind", "actor", "at", "data")
    can_delete = False


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ("ref", "subject", "status", "priority", "team", "assignee", "updated_at")
    list_filter = ("status", "priority", "team")
    search_fields = ("subject", "number")
    raw_id_fields = ("customer", "assignee")
    readonly_fields = ("number", "created_at", "updated_at", "solved_at")
    inlines = [CaseEventInline]

from django.contrib import admin

from lastmile.core.clock import utcnow
from lastmile.crisis.models import (
    Alert,
    DetectorState,
    IncidentAudit,
    IncidentNote,
    IncidentUpdate,
    SavedResponse,
)
from lastmile.crisis.services.triggers import detector_sensitivity_set


@admin.register(DetectorState)
class DetectorStateAdmin(admin.ModelAdmin):
    """Sensitivity is the one setting to change here; the state is the detector's own."""

    list_display = ("term", "signal", "sensitivity", "last_bucket_end", "last_score")
    list_filter = ("signal",)
    list_editable = ("sensitivity",)
    readonly_fields = ("term", "signal", "state", "last_bucket_end", "last_score", "updated_at")

    # The change form and the list's editable column both save through the service, which
    # writes the audit row. States are made by the triggers, never here.
    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        detector_sensitivity_set(
            term=obj.term,
            signal=obj.signal,
            sensitivity=obj.sensitivity,
            actor=request.user,
            now=utcnow(),
        )

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("id", "term", "signal", "bucket_start", "score", "state", "raised_at")
    list_filter = ("state", "signal", "team")
    # An alert is a record of what the detectors saw: acknowledged and resolved in the console.
    readonly_fields = [f.name for f in Alert._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(SavedResponse)
class SavedResponseAdmin(admin.ModelAdmin):
    list_display = ("title", "team", "active")
    list_filter = ("team", "active")


class IncidentUpdateInline(admin.TabularInline):
    model = IncidentUpdate
    extra = 0
    fields = ("body", "next_update_at", "author", "created_at", "published_at", "published_by")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(IncidentNote)
class IncidentNoteAdmin(admin.ModelAdmin):
    """Read-only: notes are written and published in the crisis room, where it is audited."""

    list_display = ("slug", "title", "team", "published", "created_at")
    inlines = [IncidentUpdateInline]
    readonly_fields = [f.name for f in IncidentNote._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False


@admin.register(IncidentAudit)
class IncidentAuditAdmin(admin.ModelAdmin):
    list_display = ("at", "note", "action", "actor")
    list_filter = ("action",)
    readonly_fields = [f.name for f in IncidentAudit._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

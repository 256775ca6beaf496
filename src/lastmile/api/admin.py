from django.contrib import admin, messages

from lastmile.api.models import ApiToken
from lastmile.api.services import token_create, token_revoke
from lastmile.core.clock import utcnow


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "prefix",
        "agent",
        "status",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_select_related = ("agent__user",)
    fields = ("name", "agent", "prefix", "status", "created_at", "last_used_at", "revoked_at")
    # Revocation is the action below (token_revoke, audited), not a date typed in the form.
    readonly_fields = ("prefix", "status", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    @admin.display(description="Status")
    def status(self, obj: ApiToken) -> str:
        # The same two checks as TokenAuth.authenticate, so the admin says what the API does.
        if obj.revoked_at is not None:
            return "revoked"
        if obj.agent_id and not obj.agent.user.is_active:
            return "refused: agent deactivated"
        return "active"

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if change:
            return super().save_model(request, obj, form, change)
        row, secret = token_create(name=obj.name, agent=obj.agent, now=utcnow())
        obj.pk = row.pk
        messages.warning(
            request, f"Token for {row.name}: {secret} — copy it now, it is not shown again."
        )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):  # type: ignore[no-untyped-def]
        now = utcnow()
        for row in queryset.filter(revoked_at__isnull=True):
            token_revoke(token=row, actor=request.user, now=now)

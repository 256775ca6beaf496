from django.contrib import admin

from lastmile.people.models import Agent, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "lead", "email")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ("user", "role")
    list_filter = ("role", "teams")
    filter_horizontal = ("teams",)
    search_fields = ("user__username", "user__email")

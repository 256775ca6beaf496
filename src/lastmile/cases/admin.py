from django import forms
from django.contrib import admin, messages

from lastmile.cases.models import Case, CaseEvent, CaseStatus, SavedView, Tag
from lastmile.cases.selectors import case_tag_names
from lastmile.cases.services import (
    case_set_status,
    case_tags_set,
    case_team_set,
    case_update,
    tag_names_checked,
)
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.people.selectors import assignee_check


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    readonly_fields = ("kind", "actor", "at", "data")
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # the trail is append-only, written by the services


class CaseAdminForm(forms.ModelForm):
    tag_list = forms.CharField(
        label="Tags",
        required=False,
        help_text="Comma-separated; saved through case_tags_set (the trail records the change).",
    )

    class Meta:
        model = Case
        fields = (
            "customer",
            "subject",
            "customer_title",
            "priority",
            "channel",
            "team",
            "assignee",
        )

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            names = case_tag_names(case_ids=[self.instance.pk]).get(self.instance.pk, [])
            self.initial["tag_list"] = ", ".join(names)

    def clean_tag_list(self) -> list[str]:
        try:
            return tag_names_checked(self.cleaned_data["tag_list"].split(","))
        except DomainError as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean(self):  # type: ignore[no-untyped-def]
        """The assignee is a member of the team, checked here so a refusal is a form error."""
        data = super().clean()
        try:
            assignee_check(assignee=data.get("assignee"), team=data.get("team"))
        except DomainError as exc:
            raise forms.ValidationError({"assignee": exc.detail}) from None
        return data


# The fields the admin saves through case_update; team and assignee go through case_team_set.
_DETAILS = ("subject", "priority", "customer_title")


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    """Cases are edited here for their details; status changes go through the service
    (the actions below), so a case with open loops cannot be solved from the admin either.
    Team and assignee go through ``case_team_set``, which writes the trail and the audit."""

    form = CaseAdminForm

    list_display = ("ref", "subject", "status", "priority", "team", "assignee", "updated_at")
    list_filter = ("status", "priority", "team", "tags")
    search_fields = ("subject", "number")
    raw_id_fields = ("customer", "assignee")
    readonly_fields = ("number", "status", "created_at", "updated_at", "solved_at")
    inlines = [CaseEventInline]
    actions = ["mark_open", "mark_pending", "mark_solved", "mark_closed"]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False  # cases get a reference and an event trail from case_create (API, console)

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        now = utcnow()
        changed = set(form.changed_data)
        stored = Case.objects.get(pk=obj.pk)  # the services compare against what is stored
        if changed & {"team", "assignee"}:
            case_team_set(
                case=stored, team=obj.team, assignee=obj.assignee, actor=request.user, now=now
            )
        details = {name: getattr(obj, name) for name in _DETAILS if name in changed}
        if details:
            case_update(case=stored, actor=request.user, now=now, **details)
        if "tag_list" in changed:
            case_tags_set(
                case=stored, tags=form.cleaned_data["tag_list"], actor=request.user, now=now
            )
        rest = [name for name in changed if name not in {"team", "assignee", "tag_list", *_DETAILS}]
        if rest:  # where the case came from and whose it is: details, not configuration
            for name in rest:
                setattr(stored, name, getattr(obj, name))
            stored.save(update_fields=rest)

    def _set(self, request, queryset, status: str) -> None:  # type: ignore[no-untyped-def]
        done, refused = 0, []
        for case in queryset:
            try:
                case_set_status(case=case, status=status, actor=request.user, now=utcnow())
                done += 1
            except DomainError as exc:
                refused.append(f"{case.ref}: {exc.detail}")
        if done:
            messages.success(request, f"{done} case(s) now {status}.")
        for line in refused:
            messages.error(request, line)

    @admin.action(description="Set status: open")
    def mark_open(self, request, queryset):  # type: ignore[no-untyped-def]
        self._set(request, queryset, CaseStatus.OPEN)

    @admin.action(description="Set status: pending")
    def mark_pending(self, request, queryset):  # type: ignore[no-untyped-def]
        self._set(request, queryset, CaseStatus.PENDING)

    @admin.action(description="Set status: solved (refused while loops are open)")
    def mark_solved(self, request, queryset):  # type: ignore[no-untyped-def]
        self._set(request, queryset, CaseStatus.SOLVED)

    @admin.action(description="Set status: closed (refused while loops are open)")
    def mark_closed(self, request, queryset):  # type: ignore[no-untyped-def]
        self._set(request, queryset, CaseStatus.CLOSED)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """Tags are made by tagging a case (console, API, the case form here)."""

    list_display = ("name",)
    search_fields = ("name",)


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "team", "query", "created_at")
    list_filter = ("team",)

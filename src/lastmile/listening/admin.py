from django import forms
from django.contrib import admin

from lastmile.core.clock import utcnow
from lastmile.listening.models import Author, ImportRun, Mention, WatchTerm
from lastmile.listening.query import QueryError, parse
from lastmile.listening.records import RowError, handle_normalize


class WatchTermForm(forms.ModelForm):
    class Meta:
        model = WatchTerm
        fields = ["name", "query", "kind", "brand_handle", "team", "active"]

    def clean_query(self) -> str:
        query = self.cleaned_data.get("query") or ""
        try:
            parse(query)
        except QueryError as exc:
            raise forms.ValidationError(str(exc)) from None
        return query.strip()

    def clean_brand_handle(self) -> str:
        value = (self.cleaned_data.get("brand_handle") or "").strip()
        if not value:
            return ""
        try:
            handle_normalize(value, "brand_handle")
        except RowError as exc:
            raise forms.ValidationError(exc.reason) from None
        return "@" + value.lstrip("@")


@admin.register(WatchTerm)
class WatchTermAdmin(admin.ModelAdmin):
    """Watch terms apply to mentions imported after a change (stored ones keep their terms)."""

    form = WatchTermForm
    list_display = ("name", "kind", "query", "brand_handle", "team", "active")
    list_filter = ("kind", "active")

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        if obj.created_at is None:
            obj.created_at = utcnow()
        super().save_model(request, obj, form, change)


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    list_display = ("handle", "network", "name", "followers", "verified", "influence", "customer")
    search_fields = ("handle", "name")
    readonly_fields = ("influence", "mention_count", "engagement", "reach", "updated_at")
    raw_id_fields = ("customer",)


@admin.register(Mention)
class MentionAdmin(admin.ModelAdmin):
    """Read-only: mentions arrive through the import and the API."""

    list_display = ("external_id", "network", "author", "posted_at", "sentiment_label", "is_brand")
    list_filter = ("network", "sentiment_label", "is_brand", "is_competitor", "is_from_brand")
    search_fields = ("external_id", "text")
    raw_id_fields = ("author", "customer", "case", "interaction", "reply_loop")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("path", "format", "brand", "last_line", "imported", "skipped", "finished_at")
    readonly_fields = [f.name for f in ImportRun._meta.fields]

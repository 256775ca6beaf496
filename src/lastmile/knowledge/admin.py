"""Articles in the admin, checked by the same rules as the API and the console."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.knowledge.models import Article
from lastmile.knowledge.services import article_check


class ArticleForm(forms.ModelForm):
    class Meta:
        model = Article
        fields = ["title", "slug", "body_md", "tags", "policy_keys", "team", "public"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            fields = article_check(
                title=data.get("title") or "",
                body_md=data.get("body_md") or "",
                tags=data.get("tags") or [],
                team=data.get("team"),
                policy_keys=data.get("policy_keys") or [],
                public=bool(data.get("public")),
            )
        except InvalidInput as exc:
            for err in exc.errors:
                name = err.field.split("[")[0]
                self.add_error(name if name in self.fields else None, err.reason)
            raise ValidationError("fix the fields marked below") from None
        data["tags"], data["policy_keys"] = fields.tags, fields.policy_keys
        return data


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleForm
    list_display = ("title", "slug", "team", "public", "updated_at")
    list_filter = ("public", "team")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}

    def save_model(self, request: Any, obj: Article, form: Any, change: bool) -> None:
        now = utcnow()
        if not change:
            obj.created_at = now
        obj.updated_at = now
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)

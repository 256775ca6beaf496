from __future__ import annotations

from django.conf import settings
from django.db import models


class Article(models.Model):
    """A knowledge-base article: Markdown, tags, an owning team, the policies it explains.

    ``public`` articles are shown to customers in the portal; the others are for agents.
    Full-text search runs on the database's own engine: an FTS5 table kept in step by
    triggers on SQLite, a generated ``tsvector`` column with a GIN index on PostgreSQL
    (both made by migration 0002, outside the model). ``policy_keys`` name policies of
    the promises app by key (a list, not a foreign key: the two apps stay independent).
    """

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=120, unique=True)
    body_md = models.TextField("body (Markdown)", blank=True)
    tags = models.JSONField(default=list, blank=True)
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="articles",
        help_text="The team that keeps this article right.",
    )
    policy_keys = models.JSONField(default=list, blank=True)
    public = models.BooleanField(default=False, help_text="Shown to customers in the portal.")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["public", "updated_at"], name="article_public_updated")]

    def __str__(self) -> str:
        return self.title

"""Social listening: watch terms, the authors who post, and the mentions that matched.

A mention is stored once per (network, external id) whatever the number of imports; a
mention addressed to a brand is also an inbound interaction on the author's timeline and
opens a reply loop, closed by the brand's reply (an outbound interaction on the same case).
"""

from __future__ import annotations

from django.db import models


class WatchTermKind(models.TextChoices):
    BRAND = "brand", "Brand"
    PRODUCT = "product", "Product"
    COMPETITOR = "competitor", "Competitor"


class WatchTerm(models.Model):
    """A boolean query over mention texts (AND, OR, NOT, "phrases", parentheses)."""

    name = models.CharField(max_length=100, unique=True)
    query = models.TextField(help_text='e.g. @AcmeBank OR ("acme bank" AND NOT job)')
    kind = models.CharField(max_length=12, choices=WatchTermKind.choices)
    brand_handle = models.CharField(
        max_length=100,
        blank=True,
        help_text="The brand's own handle for kind=brand, e.g. @AcmeBank.",
    )
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="watch_terms",
        help_text="The team that owns the brand's social care.",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Author(models.Model):
    """Someone who posts on a network; ``influence`` is recomputed from their numbers."""

    network = models.CharField(max_length=30)
    handle = models.CharField(max_length=100, help_text="Normalised: lower case, no @.")
    external_id = models.CharField(
        max_length=100, blank=True, help_text="The network's id of the account, if known."
    )
    name = models.CharField(max_length=200, blank=True)
    followers = models.PositiveIntegerField(default=0)
    verified = models.BooleanField(default=False)
    influence = models.FloatField(default=0.0)
    # The inputs of the influence score besides followers, kept up to date on import.
    mention_count = models.PositiveIntegerField(default=0)
    engagement = models.PositiveBigIntegerField(
        default=0, help_text="Replies, reposts and likes on their mentions, summed."
    )
    reach = models.PositiveBigIntegerField(
        default=0, help_text="Estimated audience of their past mentions, summed."
    )
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="social_authors",
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "handle"], name="author_unique"),
        ]
        indexes = [models.Index(fields=["-influence"], name="author_influence")]

    def __str__(self) -> str:
        return f"@{self.handle} ({self.network})"


class Sentiment(models.TextChoices):
    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class Mention(models.Model):
    """One post that matched a watch term or was addressed to / written by a brand."""

    network = models.CharField(max_length=30)
    external_id = models.CharField(max_length=100)
    # The foreign keys below are indexed by the Meta's indexes: the author's with its
    # posting time, the others only where set (a file import stores them empty).
    author = models.ForeignKey(
        Author, on_delete=models.PROTECT, related_name="mentions", db_index=False
    )
    customer = models.ForeignKey(
        "customers.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mentions",
        db_index=False,
    )
    text = models.TextField()
    posted_at = models.DateTimeField(db_index=True)
    url = models.URLField(max_length=500, blank=True)
    conversation_id = models.CharField(max_length=100, blank=True)
    in_reply_to_id = models.CharField(max_length=100, blank=True)
    in_reply_to_handle = models.CharField(
        max_length=100, blank=True, help_text="The account replied to, if the source says."
    )
    lang = models.CharField(max_length=16, blank=True)
    terms = models.ManyToManyField(WatchTerm, blank=True, related_name="mentions")
    is_brand = models.BooleanField(default=False, help_text="Addressed to a brand.")
    is_competitor = models.BooleanField(default=False)
    is_from_brand = models.BooleanField(default=False, help_text="The brand's own post or reply.")
    sentiment_label = models.CharField(max_length=10, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(default=0.0)
    likes = models.PositiveIntegerField(default=0)
    reposts = models.PositiveIntegerField(default=0)
    replies = models.PositiveIntegerField(default=0)
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The case of the author's conversation with the brand.",
        db_index=False,
    )
    interaction = models.ForeignKey(
        "customers.Interaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    reply_loop = models.ForeignKey(
        "loops.Loop",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    replied_at = models.DateTimeField(null=True, blank=True)
    handled_at = models.DateTimeField(null=True, blank=True)
    imported_at = models.DateTimeField()
    pending = models.BooleanField(
        default=False,
        help_text="Stored by a file import and not processed yet: its sentiment is not "
        "scored and, if addressed to a brand, it is not on the timeline yet "
        "(``services.process``, the worker's job).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "external_id"], name="mention_unique"),
        ]
        indexes = [
            # The worker's queue: pending mentions in the order they were stored.
            models.Index(fields=["id"], name="mention_pending", condition=models.Q(pending=True)),
            *(
                models.Index(
                    fields=[fk],
                    name=f"mention_{fk}_set",
                    condition=models.Q(**{f"{fk}__isnull": False}),
                )
                for fk in ("customer", "case", "interaction", "reply_loop")
            ),
            models.Index(fields=["is_brand", "replied_at"], name="mention_unanswered"),
            models.Index(fields=["sentiment_label", "posted_at"], name="mention_sentiment"),
            models.Index(fields=["network", "conversation_id"], name="mention_conversation"),
            # Threading on import: the stored replies to a newly arrived post.
            models.Index(fields=["network", "in_reply_to_id"], name="mention_reply_to"),
            models.Index(fields=["author", "-posted_at"], name="mention_author"),
        ]

    def __str__(self) -> str:
        return f"{self.network}:{self.external_id}"


class ImportRun(models.Model):
    """Progress of importing one file, so a rerun skips the rows already done."""

    path = models.CharField(max_length=1000)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    format = models.CharField(max_length=20)
    brand = models.CharField(
        max_length=100, blank=True, help_text="The --brand filter of the run, if any."
    )
    last_line = models.PositiveIntegerField(
        default=0, help_text="Every row up to this line (1-based, header included) is done."
    )
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sha256", "size", "format", "brand"], name="importrun_file_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path} ({self.last_line} lines)"

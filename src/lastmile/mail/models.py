from __future__ import annotations

from django.db import models


class Mailbox(models.Model):
    """An address lastmile accepts mail for, and the team a new thread to it goes to.

    Edited in the admin. ``LASTMILE_MAIL_ADDRESSES`` adds addresses without a row (a first
    setup); a row for the same address wins.
    """

    address = models.EmailField(unique=True, help_text="Stored lower-case.")
    name = models.CharField(
        max_length=100, blank=True, help_text="Shown to customers, e.g. 'Lastmile Bank support'."
    )
    team = models.ForeignKey(
        "people.Team",
        on_delete=models.PROTECT,
        related_name="mailboxes",
        help_text="New conversations to this address become cases of this team.",
    )
    active = models.BooleanField(default=True, help_text="Inactive: mail to it is refused.")

    class Meta:
        verbose_name_plural = "mailboxes"
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class MailDirection(models.TextChoices):
    INBOUND = "inbound", "Received"
    OUTBOUND = "outbound", "Sent"


class ThreadedBy(models.TextChoices):
    NEW = "new", "New conversation"
    IN_REPLY_TO = "in-reply-to", "In-Reply-To header"
    REFERENCES = "references", "References header"
    CASE_TOKEN = "case-token", "Case reference in the subject"
    BOUNCED = "bounce", "The bounced message's Message-ID"
    NONE = "none", "Not on a case"


class EmailMessage(models.Model):
    """One email received or sent, kept whole: the raw message in storage, the parts we read.

    ``message_id`` is unique, so the same message delivered twice (SMTP retry, webhook
    retry, IMAP poll) is stored once. The timeline row is ``interaction``; it shows the text
    with the quoted history trimmed, ``text`` here keeps it all.
    """

    message_id = models.CharField(max_length=500, unique=True)
    direction = models.CharField(max_length=10, choices=MailDirection.choices)
    mailbox_address = models.CharField(
        max_length=320, blank=True, help_text="Our address it came to (or is sent from)."
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    interaction = models.OneToOneField(
        "customers.Interaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="email",
    )
    threaded_by = models.CharField(max_length=12, choices=ThreadedBy.choices)
    from_address = models.CharField(max_length=320, blank=True)
    from_name = models.CharField(max_length=200, blank=True)
    to = models.JSONField(default=list, blank=True)
    cc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    in_reply_to = models.CharField(max_length=500, blank=True)
    references = models.JSONField(default=list, blank=True)
    date_header = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    text = models.TextField(blank=True, help_text="The whole text, quoted history included.")
    html = models.TextField(blank=True, help_text="The HTML part, sanitised (nh3).")
    headers = models.JSONField(default=dict, blank=True, help_text="Headers of interest.")
    is_automated = models.BooleanField(default=False)
    automated_reason = models.CharField(max_length=200, blank=True)
    raw_path = models.CharField(max_length=300, blank=True)
    raw_sha256 = models.CharField(max_length=64, blank=True)
    raw_size = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["case", "received_at"], name="email_case")]
        verbose_name = "email"

    def __str__(self) -> str:
        return f"{self.direction} {self.message_id}"


class AttachmentStatus(models.TextChoices):
    STORED = "stored", "Stored"
    REJECTED = "rejected", "Rejected"


class Attachment(models.Model):
    """A file that came with an email: stored, or refused with the reason (never dropped)."""

    email = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=AttachmentStatus.choices)
    reason = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=400, blank=True, help_text="In the mail storage.")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"

"""Recovery rules and the recoveries they open: an abandoned funnel made an owned loop.

A rule names a saved funnel and the step at which a person counts as abandoned; each person
who crosses it gets one ``Recovery``, whose ``recovery`` loop (``lastmile.loops``) is the
team's work: open until the person completes the funnel (recovered, with its revenue) or the
rule's window ends (lost). Every write goes through ``recovery.services``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Outreach(models.TextChoices):
    MESSAGE = "message", "Message"  # a templated message through the outbox
    CALL = "call", "Call"  # a person calls: the loop is their task


def outreach_words(outreach: str, label: str) -> str:
    """The outreach as the pages say it: "Email", "Text message" or "Call task" (``label``
    is a recovery's ``outreach_label``: an SMS message's starts ``sms:``)."""
    if outreach == Outreach.CALL:
        return "Call task"
    return "Text message" if label.startswith("sms:") else "Email"


class RecoveryRule(models.Model):
    """Who is abandoned, who wins them back, how fast, and how they are reached.

    ``abandon_step`` is a step number of the funnel (1-based, as the funnels API numbers
    them): a person who reached it and reached no later step within
    ``abandon_after_seconds`` is abandoned. The recovery is lost ``window_seconds`` after it
    opened. The loop's deadline: ``sla_seconds`` of the team's business hours (the calendar
    of the SLA policy that matches the team's recovery loops, 24/7 when none does), or the
    pinned ``sla_policy``'s resolution time on its calendar, or, with neither, whatever
    policy matches the loop, as for every loop.
    """

    name = models.CharField(max_length=200, unique=True)
    funnel = models.ForeignKey("funnels.Funnel", on_delete=models.PROTECT, related_name="+")
    abandon_step = models.PositiveSmallIntegerField(
        help_text="The step number (1 = first) a person reached before stopping; not the last."
    )
    abandon_after_seconds = models.PositiveIntegerField(
        default=3600, help_text="How long without a later step before the person is abandoned."
    )
    window_seconds = models.PositiveIntegerField(
        default=7 * 24 * 3600, help_text="How long recovery may take before it is lost."
    )
    team = models.ForeignKey("people.Team", on_delete=models.PROTECT, related_name="+")
    sla_policy = models.ForeignKey(
        "loops.SlaPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Pin this policy's resolution time and calendar (else sla_seconds, else "
        "the policy that matches the loop).",
    )
    sla_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Seconds of the team's business hours to act."
    )
    outreach = models.CharField(max_length=10, choices=Outreach.choices, default=Outreach.CALL)
    channel = models.CharField(
        max_length=40,
        blank=True,
        help_text="The message's channel: email, or sms:<integration> (an SMS integration "
        "that is on and has an outbound URL) for a text message to the customer's phone.",
    )
    subject = models.CharField(max_length=300, blank=True, help_text="An email's subject.")
    body = models.TextField(
        blank=True,
        help_text="The message, with {{customer.first_name}}, {{customer.name}}, {{items}}, "
        "{{value}}, {{currency}}, {{funnel}}.",
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The detection's lease: one worker checks a rule at a time, and a worker that dies
    # leaves it to the next run once the lease is over (``services.rule_claim``).
    checking_until = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                name="recoveryrule_one_sla",
                condition=models.Q(sla_policy__isnull=True) | models.Q(sla_seconds__isnull=True),
                violation_error_message="give an SLA policy or SLA seconds, not both",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def abandon_after_said(self) -> str:
        """``abandon_after_seconds`` in words ("1 h", "3 d")."""
        from lastmile.loops.selectors import duration_words

        return duration_words(self.abandon_after_seconds)

    @property
    def outreach_label(self) -> str:
        """What the close rate groups recoveries by: the kind and, for a message, its
        channel and subject."""
        if self.outreach == Outreach.MESSAGE:
            if self.channel.startswith("sms:"):  # a text message has no subject
                return f"{self.channel}: {' '.join(self.body.split())[:80]}"[:200]
            return f"{self.channel or 'email'}: {self.subject}"[:200]
        return "call"

    @property
    def outreach_said(self) -> str:
        """The outreach in words: "Email", "Text message" or "Call task"."""
        return outreach_words(self.outreach, self.outreach_label)


class Outcome(models.TextChoices):
    OPEN = "open", "Open"
    RECOVERED = "recovered", "Recovered"
    LOST = "lost", "Lost"


class Recovery(models.Model):
    """One abandoned person under one rule, and what became of them.

    ``items``, ``value`` and ``currency`` are the abandon event's properties (the cart or
    the application). ``revenue`` and ``revenue_currency`` are the completing event's
    ``revenue`` (else ``value``) and ``currency``. ``outreach``/``outreach_label`` are the
    rule's at opening, kept so the close rate can compare outreach after the rule changes.
    """

    rule = models.ForeignKey(RecoveryRule, on_delete=models.PROTECT, related_name="recoveries")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    loop = models.OneToOneField("loops.Loop", on_delete=models.PROTECT, related_name="+")
    abandon_event_id = models.BigIntegerField(help_text="The event-store id of the abandon event.")
    abandoned_at = models.DateTimeField()
    items = models.JSONField(default=list, blank=True)
    value = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    outreach = models.CharField(max_length=10, choices=Outreach.choices)
    outreach_label = models.CharField(max_length=200)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.OPEN)
    opened_at = models.DateTimeField()
    ends_at = models.DateTimeField(help_text="Lost from this instant unless recovered.")
    closed_at = models.DateTimeField(null=True, blank=True)
    revenue = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    revenue_currency = models.CharField(max_length=3, blank=True)
    completed_event_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name_plural = "recoveries"
        constraints = [
            # One person, one open recovery per rule: a repeated drop-off does not spam.
            models.UniqueConstraint(
                fields=["rule", "customer"],
                condition=models.Q(outcome="open"),
                name="recovery_one_open",
            ),
            # One abandon event is recovered (or lost) once, whatever runs the detection.
            models.UniqueConstraint(
                fields=["rule", "abandon_event_id"], name="recovery_once_per_abandon"
            ),
        ]
        indexes = [
            # The expiry's scan: open recoveries by the end of their window.
            models.Index(
                fields=["ends_at"], name="recovery_open_ends", condition=models.Q(outcome="open")
            ),
            # The ingest's probe: a customer's open recoveries.
            models.Index(
                fields=["customer"],
                name="recovery_open_customer",
                condition=models.Q(outcome="open"),
            ),
            models.Index(fields=["rule", "opened_at"], name="recovery_rule_opened"),
        ]

    def __str__(self) -> str:
        return f"Recovery #{self.pk} ({self.outcome}) of {self.rule}"

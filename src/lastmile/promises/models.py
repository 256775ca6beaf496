from __future__ import annotations

from django.conf import settings
from django.db import models

from lastmile.core.choices import Badge, ChoiceSet


class Severity(models.TextChoices):
    BLOCK = "block", "Block"
    WARN = "warn", "Warn"


class Policy(models.Model):
    """A machine-checkable rule promises are checked against, kept as numbered versions.

    The policy holds what does not change between versions (key, title, owning team); each
    edit of the rule makes a new :class:`PolicyVersion`, so a promise keeps the version it
    was checked against. ``current`` is the newest version.
    """

    key = models.SlugField(
        max_length=64, unique=True, help_text="Stable name, e.g. occupancy-deluxe."
    )
    title = models.CharField(max_length=200)
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="policies",
        help_text="The team that owns this policy (answers questions about it).",
    )
    active = models.BooleanField(default=True, help_text="Inactive policies are not checked.")
    current = models.ForeignKey(
        "PolicyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return f"{self.key}: {self.title}"


class PolicyVersion(models.Model):
    """One version of a policy's rule: immutable once written, except the end of its window.

    The rule is a CEL expression over ``terms`` (the promise's terms) and ``customer`` (the
    customer's attributes). ``applies_when``, when set, is a CEL expression too: the policy
    is checked only for promises where it is true. A promise is checked against, for each
    active policy, the highest version whose effective window contains the moment.
    """

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    applies_when = models.TextField(
        blank=True,
        help_text="CEL; empty applies to every promise. Use has() for optional terms: "
        'has(terms.room_type) && terms.room_type == "deluxe".',
    )
    rule = models.TextField(help_text="CEL that must be true, e.g. terms.adults <= 3.")
    severity = models.CharField(max_length=5, choices=Severity.choices)
    text = models.TextField(help_text="What the agent reads when the rule fails.")
    authority_term = models.CharField(
        max_length=64,
        blank=True,
        help_text="For a block: the term an agent's authority limit must cover to override "
        "it (e.g. refund_amount). Empty: only agents whose authority lists this policy.",
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["policy", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "version"], name="policy_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.policy.key} v{self.version}"


class PromiseState(models.TextChoices):
    # An exception beyond the recording agent's authority, waiting for a second person
    # with that authority: not a live promise (no promise loop) until approved.
    AWAITING = "awaiting", "Awaiting approval"
    REJECTED = "rejected", "Exception rejected"
    OPEN = "open", "Open"
    KEPT = "kept", "Kept"
    BROKEN = "broken", "Broken"
    RENEGOTIATED = "renegotiated", "Renegotiated"
    WITHDRAWN = "withdrawn", "Withdrawn"


# How a promise's state is shown in the console.
PROMISE_STATE = ChoiceSet(
    PromiseState,
    colours={
        PromiseState.AWAITING: "grey",
        PromiseState.REJECTED: "grey",
        PromiseState.OPEN: "primary",
        PromiseState.KEPT: "ok",
        PromiseState.BROKEN: "breached",
        PromiseState.RENEGOTIATED: "grey",
        PromiseState.WITHDRAWN: "grey",
    },
)


class Promise(models.Model):
    """A commitment an agent made to a customer, and the ledger of what became of it.

    Who promised what, to whom, on which channel and when; the team that must keep it (its
    ``promise`` loop); the policy verdicts it was checked against (with version numbers),
    who confirmed the warnings and who overrode a block. A block beyond the recording
    agent's authority makes it ``awaiting`` a second person's approval (``approval_*``),
    then ``open`` or ``rejected``. Rows are never edited except for that decision and to
    record the outcome once: kept, broken, renegotiated (``replaced_by`` the new promise) or
    withdrawn (its loop cancelled outside the ledger).
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="promises"
    )
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="promises",
        help_text="The case the promise was made on.",
    )
    text = models.TextField(help_text="What was promised, in the agent's words.")
    terms = models.JSONField(default=dict, blank=True)
    channel = models.CharField(max_length=40, help_text="Where the promise was made.")
    team = models.ForeignKey(
        "people.Team",
        on_delete=models.PROTECT,
        related_name="promises",
        help_text="The team that must keep it.",
    )
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="promises_made"
    )
    # A copy of the maker's name: "who did you speak to?" has an answer even if the login goes.
    made_by_name = models.CharField(max_length=200)
    made_by_team = models.ForeignKey(
        "people.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    made_at = models.DateTimeField()
    due_at = models.DateTimeField()
    visible_to_customer = models.BooleanField(default=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_via = models.CharField(max_length=100, help_text="console, api:<token>, demo …")
    loop = models.OneToOneField(
        "loops.Loop", on_delete=models.PROTECT, related_name="promise", null=True, blank=True
    )
    state = models.CharField(max_length=12, choices=PromiseState.choices, default=PromiseState.OPEN)
    # [{"policy", "title", "version", "severity", "result", "text", "detail"}], as checked.
    verdicts = models.JSONField(default=list, blank=True)
    warnings_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    warnings_confirmed_at = models.DateTimeField(null=True, blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overridden_at = models.DateTimeField(null=True, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    # The exception's approval: the loop that asks for it (a task for the recording agent's
    # lead), and who decided it, when and why. Who asked is ``recorded_by`` at ``made_at``.
    approval_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approval_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approval_at = models.DateTimeField(null=True, blank=True)
    approval_reason = models.CharField(max_length=500, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    outcome_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome_reason = models.CharField(max_length=500, blank=True)
    followup_loop = models.ForeignKey(
        "loops.Loop", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The client's id for the promise: the same key twice records one promise.
    external_id = models.CharField(max_length=200, null=True, blank=True, unique=True)  # noqa: DJ001

    class Meta:
        ordering = ["-made_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "state"], name="promise_customer_state"),
            models.Index(fields=["team", "state"], name="promise_team_state"),
            models.Index(fields=["made_by", "made_at"], name="promise_maker"),
            models.Index(fields=["made_at"], name="promise_made_at"),
        ]

    def __str__(self) -> str:
        return f"Promise #{self.pk}: {self.text[:60]}"

    @property
    def state_badge(self) -> Badge:
        return PROMISE_STATE.badge(self.state)

    @property
    def is_open(self) -> bool:
        return self.state == PromiseState.OPEN

    @property
    def is_awaiting(self) -> bool:
        return self.state == PromiseState.AWAITING

    def failing(self, severity: str) -> list[dict]:
        """The stored verdicts of ``severity`` that did not pass (failed or errored)."""
        return [v for v in self.verdicts if v["severity"] == severity and v["result"] != "pass"]

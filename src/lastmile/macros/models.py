from django.conf import settings
from django.db import models

from lastmile.cases.models import CaseStatus


class Macro(models.Model):
    """A canned reply: text with placeholders, personal (an owner) or shared with a team,
    that may also act on the case when the reply made with it is sent."""

    name = models.CharField(max_length=100)
    body = models.TextField(help_text="Placeholders such as {{customer.first_name}}.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Personal macro: only this agent sees it.",
    )
    team = models.ForeignKey(
        "people.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Shared macro: every member of this team sees it.",
    )
    set_status = models.CharField(
        max_length=10,
        choices=CaseStatus.choices,
        blank=True,
        help_text="On send, set the case to this status.",
    )
    add_tag = models.CharField(
        max_length=50, blank=True, help_text="On send, put this tag on the case."
    )
    pause_reply_loop = models.BooleanField(
        default=False,
        help_text=(
            "On send, wait on the customer: the reply closes the reply loop it answers, and"
            " one reply loop stays open on the case with its clock stopped until the"
            " customer writes again (then it restarts). Not with solved or closed."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(owner__isnull=True) & models.Q(team__isnull=False))
                | (models.Q(owner__isnull=False) & models.Q(team__isnull=True)),
                name="macro_personal_or_team",
            )
        ]

    def __str__(self) -> str:
        return self.name

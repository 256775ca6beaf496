from __future__ import annotations

from django.conf import settings
from django.db import models


class Team(models.Model):
    """A group of agents that owns work: cases, loops, journey steps."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="teams_led",
        help_text="Receives breach notifications and reassigned loops.",
    )
    email = models.EmailField(blank=True, help_text="Where team notifications go.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    AGENT = "agent", "Agent"
    LEAD = "lead", "Team lead"
    ADMIN = "admin", "Admin"


class Agent(models.Model):
    """A person who works cases: their role, teams and authority."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    teams = models.ManyToManyField(Team, related_name="agents", blank=True)
    authority = models.JSONField(
        default=dict,
        blank=True,
        help_text=(
            "Which blocking policies this agent may override, and up to what, e.g. "
            '{"limits": {"refund_amount": 5000}, "overrides": ["late-checkout"]} '
            "(see lastmile.people.authority)."
        ),
    )

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.username

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

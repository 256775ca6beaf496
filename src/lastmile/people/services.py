from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from lastmile.core.errors import FieldError, InvalidInput
from lastmile.people.authority import authority_validate
from lastmile.people.models import Agent, Role, Team


def team_ensure(*, name: str, slug: str | None = None, email: str = "") -> Team:
    """The team called ``name``, created if missing (idempotent)."""
    team, _ = Team.objects.get_or_create(
        slug=slug or slugify(name)[:50], defaults={"name": name, "email": email}
    )
    return team


def team_set_lead(*, team: Team, lead: Any) -> Team:
    """Make ``lead`` the team's lead: breach notifications and reassignments go to them."""
    team.lead = lead
    team.save(update_fields=["lead"])
    return team


@transaction.atomic
def agent_create(
    *,
    username: str,
    password: str,
    teams: Iterable[Team] = (),
    role: str = Role.AGENT,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    update: bool = False,
) -> Agent:
    """Create a login with an agent profile; with ``update`` an existing one is updated."""
    if role not in Role.values:
        raise InvalidInput(
            f"unknown role {role!r}", [FieldError("role", f"one of {', '.join(Role.values)}")]
        )
    if not username:
        raise InvalidInput("username is required", [FieldError("username", "required")])
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None and not update:
        raise InvalidInput(f"user {username!r} exists", [FieldError("username", "already taken")])
    if user is None:
        user = User(username=username)
    user.email = email or user.email
    user.first_name = first_name or user.first_name
    user.last_name = last_name or user.last_name
    user.is_staff = role == Role.ADMIN
    user.is_superuser = role == Role.ADMIN
    user.set_password(password)
    user.save()
    agent, _ = Agent.objects.update_or_create(user=user, defaults={"role": role})
    agent.teams.set(list(teams))
    return agent


def agent_set_authority(*, agent: Agent, authority: Any) -> Agent:
    """Give ``agent`` this override authority (validated; ``{}`` takes it all away)."""
    agent.authority = authority_validate(authority)
    agent.save(update_fields=["authority"])
    return agent

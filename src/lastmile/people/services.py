from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.text import slugify

from lastmile.core.audit import audited_save
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.people.authority import authority_validate
from lastmile.people.models import Agent, Role, Team
from lastmile.people.viewers import Actor


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
    _role_check(role)
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


def _role_check(role: str) -> None:
    if role not in Role.values:
        raise InvalidInput(
            f"unknown role {role!r}", [FieldError("role", f"one of {', '.join(Role.values)}")]
        )


def agent_role_set(
    *, agent: Agent, role: str, actor: Actor, now: datetime, actor_label: str = ""
) -> Agent:
    """Give ``agent`` this role (agent, lead, admin) and write the audit row with it."""
    _role_check(role)
    agent.role = role
    audited_save(agent, actor=actor, now=now, actor_label=actor_label, fields=["role"])
    return agent


def agent_authority_set(
    *, agent: Agent, authority: Any, actor: Actor, now: datetime, actor_label: str = ""
) -> Agent:
    """Give ``agent`` this override authority (validated; ``{}`` takes it all away) and write
    the audit row with it; an invalid authority raises InvalidInput and writes nothing."""
    agent.authority = authority_validate(authority)
    audited_save(agent, actor=actor, now=now, actor_label=actor_label, fields=["authority"])
    return agent


def agent_profile_create(
    *, user: User, role: str, authority: Any, actor: Actor, now: datetime, actor_label: str = ""
) -> Agent:
    """Give an existing login an agent profile (the admin's "add agent"); audited."""
    _role_check(role)
    agent = Agent(user=user, role=role, authority=authority_validate(authority))
    audited_save(agent, actor=actor, now=now, actor_label=actor_label)
    return agent

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from lastmile.people.models import Agent, Role, Team


def agent_for(user: AbstractBaseUser | AnonymousUser | None) -> Agent | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.agent  # type: ignore[union-attr,attr-defined]
    except Agent.DoesNotExist:
        return None


def visible_team_ids(user: AbstractBaseUser | AnonymousUser | None) -> set[int] | None:
    """Team ids whose work ``user`` may see; ``None`` means every team (admins).

    Agents and leads see their own teams; a user with no agent profile sees nothing,
    unless they are a Django superuser.
    """
    if user is None or not user.is_authenticated:
        return set()
    agent = agent_for(user)
    if getattr(user, "is_superuser", False) or (agent is not None and agent.role == Role.ADMIN):
        return None
    if agent is None:
        return set()
    return set(agent.teams.values_list("id", flat=True))


def team_list(*, viewer: AbstractBaseUser | AnonymousUser | None) -> list[Team]:
    """Teams ``viewer`` works in; every team for admins and for system callers (None)."""
    ids = visible_team_ids(viewer) if viewer is not None else None
    qs = Team.objects.all()
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return list(qs)

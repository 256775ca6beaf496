"""Reads of teams and agents. Who sees which team's work is decided here, once
(``visible_team_ids``); every other app's selector scopes its rows by that answer.
A viewer is a signed-in ``User`` or ``SYSTEM`` (``lastmile.people.viewers``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User

from lastmile.core.errors import FieldError, InvalidInput
from lastmile.people.models import Agent, Role, Team
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check


def agent_for(user: AbstractBaseUser | AnonymousUser | None) -> Agent | None:
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.agent  # type: ignore[union-attr,attr-defined]
    except Agent.DoesNotExist:
        return None


def visible_team_ids(viewer: Viewer) -> set[int] | None:
    """Team ids whose work ``viewer`` may see; ``None`` means every team.

    ``SYSTEM``, admins and Django superusers see every team; agents and leads their own
    teams; a user with no agent profile none. Anything but a viewer (``None``, an anonymous
    user) is a ``TypeError``: the one check every scoped selector goes through.
    """
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        return None
    memo = getattr(viewer, _TEAMS_MEMO, None)
    if memo is None:
        return _team_ids_read(viewer)
    if "ids" not in memo:
        memo["ids"] = _team_ids_read(viewer)
    ids = memo["ids"]
    return None if ids is None else set(ids)  # a copy: callers may change theirs


def _team_ids_read(viewer: User) -> set[int] | None:
    agent = agent_for(viewer)
    if viewer.is_superuser or (agent is not None and agent.role == Role.ADMIN):
        return None
    if agent is None:
        return set()
    return set(agent.teams.values_list("id", flat=True))


_TEAMS_MEMO = "_lastmile_visible_team_ids"

# Within ``teams_remembered``: the team list and the agents of a set of teams, which a case
# page asks for 3-4 times each (its forms, the promise panel, the top bar). Each read is a
# round trip, which costs more on PostgreSQL than on SQLite (bench/RESULTS.md).
_PAGE_MEMO: ContextVar[dict[Any, Any] | None] = ContextVar(
    "lastmile_people_page_memo", default=None
)


@contextmanager
def teams_remembered(viewer: Any) -> Iterator[None]:
    """Within the block, ``visible_team_ids(viewer)`` reads the database once, not once per
    selector (a console page asks 4–12 times). For one request's ``request.user``: the memo
    lives on that object and is dropped when the block ends, so a ``User`` object kept
    longer (a test's fixture) never answers from a stale membership.
    """
    user = viewer if isinstance(viewer, User) and viewer.is_authenticated else None
    if user is None or getattr(user, _TEAMS_MEMO, None) is not None:  # nested: the outer owns it
        yield
        return
    setattr(user, _TEAMS_MEMO, {})
    token = _PAGE_MEMO.set({})
    try:
        yield
    finally:
        _PAGE_MEMO.reset(token)
        delattr(user, _TEAMS_MEMO)


def every_team() -> list[Team]:
    """Every team by name (a form's choices: work can be handed to any team); read once
    within ``teams_remembered``."""
    memo = _PAGE_MEMO.get()
    if memo is None:
        return list(Team.objects.order_by("name"))
    if "teams" not in memo:
        memo["teams"] = list(Team.objects.order_by("name"))
    return list(memo["teams"])


def team_list(*, viewer: Viewer) -> list[Team]:
    """Teams ``viewer`` works in; every team for admins and for ``SYSTEM``."""
    ids = visible_team_ids(viewer)
    qs = Team.objects.all()
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return list(qs)


def team_by_slug(slug: str | None, *, field: str = "team") -> Team | None:
    """The team with ``slug``; None for no slug; InvalidInput (422) naming ``field`` if none."""
    if slug is None:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise InvalidInput(f"no team {slug!r}", [FieldError(field, f"no team with slug {slug!r}")])
    return team


def user_by_username(username: str | None, *, field: str = "assignee") -> User | None:
    """The user named ``username``; None for no name; InvalidInput (422) naming ``field``."""
    if username is None:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"no agent {username!r}", [FieldError(field, f"no agent {username!r}")])
    return user


def agent_authority(user: AbstractBaseUser | AnonymousUser | None) -> dict[str, Any]:
    """The override authority of ``user``'s agent profile; ``{}`` for none (or no profile).

    Read from the database each time, not from a profile cached on the user: an override
    is decided on the authority as it stands now.
    """
    if user is None or not user.is_authenticated:
        return {}
    found = Agent.objects.filter(user_id=user.pk).values_list("authority", flat=True).first()
    return dict(found or {})


def agents_sharing_a_team(viewer: Viewer, *, team_ids: Any = ...) -> list[Agent]:
    """Agents in any of ``viewer``'s teams (``viewer`` included); every agent for admins.

    ``team_ids``: the viewer's ``visible_team_ids`` if the caller has them already.
    """
    viewer_check(viewer)  # also when the caller knows the teams: None is no viewer
    ids = visible_team_ids(viewer) if team_ids is ... else team_ids
    memo = _PAGE_MEMO.get()
    key = ("agents", None if ids is None else frozenset(ids))
    if memo is not None and key in memo:
        return list(memo[key])
    qs = Agent.objects.select_related("user")
    if ids is not None:
        qs = qs.filter(teams__id__in=ids).distinct()
    found = list(qs.order_by("user__first_name", "user__last_name", "user__username"))
    if memo is not None:
        memo[key] = found
    return list(found)


def agent_team_for(user: User | None, *, prefer: Team | None = None) -> Team | None:
    """The team ``user`` works in: ``prefer`` if they are in it, else their first team."""
    agent = agent_for(user)
    if agent is None:
        return None
    teams = list(agent.teams.all())
    if prefer is not None and any(t.pk == prefer.pk for t in teams):
        return prefer
    return teams[0] if teams else None


def shares_a_team(user: User, other: User) -> bool:
    """Whether ``other`` is in one of ``user``'s teams (always, for admins)."""
    ids = visible_team_ids(user)
    if ids is None:
        return True
    return Agent.objects.filter(user=other, teams__id__in=ids).exists()


def assignee_check(*, assignee: User | None, team: Team | None, field: str = "assignee") -> None:
    """The one rule for giving work to an agent, for a case and a loop alike: the agent is a
    member of the team that owns the work. InvalidInput (422) naming ``field`` otherwise."""
    if assignee is None or team is None:
        return
    if not Agent.objects.filter(user=assignee, teams=team).exists():
        raise InvalidInput(
            f"{assignee.username} is not in {team.name}",
            [FieldError(field, f"not a member of team {team.slug}")],
        )


def person_name(user: Any) -> str:
    """How a person is named to others: their full name, else their username; "" for nobody."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()

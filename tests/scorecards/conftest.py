from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.people.selectors import agent_for
from tests.api.client import Api
from tests.people.factories import team_lead


@pytest.fixture
def api(client, now):  # type: ignore[no-untyped-def]
    """The API as an integration (sees everyone)."""
    return Api(client, token_create(name="integration", now=now)[1])


@pytest.fixture
def api_as(client, now):  # type: ignore[no-untyped-def]
    """The API as the agent ``user``'s token."""

    tokens: dict[int, str] = {}

    def make(user):  # type: ignore[no-untyped-def]
        if user.pk not in tokens:
            tokens[user.pk] = token_create(name=user.username, now=now, agent=agent_for(user))[1]
        return Api(client, tokens[user.pk])

    return make


@pytest.fixture
def lena(team):  # type: ignore[no-untyped-def]
    """The front office's lead."""
    return team_lead(team, "lena")

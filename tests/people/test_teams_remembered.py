"""A page reads its viewer's teams once (``teams_remembered``), and never keeps them longer
than the block: a ``User`` object that outlives the request sees its teams as they are."""

from __future__ import annotations

import pytest

from lastmile.people.selectors import teams_remembered, visible_team_ids
from lastmile.people.viewers import SYSTEM

pytestmark = pytest.mark.django_db


def test_within_the_block_the_teams_are_read_once(alice, team, django_assert_num_queries):
    with teams_remembered(alice), django_assert_num_queries(1):
        assert visible_team_ids(alice) == {team.pk}
        assert visible_team_ids(alice) == {team.pk}
        visible_team_ids(alice).add(999)  # a caller's copy, not the memo
        assert visible_team_ids(alice) == {team.pk}


def test_after_the_block_a_new_membership_is_seen(alice, team, other_team):
    with teams_remembered(alice):
        assert visible_team_ids(alice) == {team.pk}
    alice.agent.teams.add(other_team)
    assert visible_team_ids(alice) == {team.pk, other_team.pk}
    with teams_remembered(alice):
        assert visible_team_ids(alice) == {team.pk, other_team.pk}


def test_a_nested_block_leaves_the_outer_memo_in_place(alice, team, django_assert_num_queries):
    with teams_remembered(alice):
        visible_team_ids(alice)
        with teams_remembered(alice):
            pass
        with django_assert_num_queries(0):
            assert visible_team_ids(alice) == {team.pk}


def test_system_and_admins_still_see_every_team(alice):
    with teams_remembered(SYSTEM):
        assert visible_team_ids(SYSTEM) is None
    alice.is_superuser = True
    with teams_remembered(alice):
        assert visible_team_ids(alice) is None
        assert visible_team_ids(alice) is None

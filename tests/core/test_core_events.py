"""Guards: a lower app asks the apps above it before a change they may refuse."""

from __future__ import annotations

import pytest

from lastmile.core.errors import Conflict
from lastmile.core.events import grant_register, grants, guard_check, guard_register


def test_a_change_no_guard_is_registered_for_may_be_written():
    guard_check("nothing.guards.this", {"x": 1})


def test_a_guards_refusal_reaches_the_caller_with_the_changes_data():
    # given a guard that refuses one value
    asked = []

    def refuse_two(data):
        asked.append(data)
        if data["x"] == 2:
            raise Conflict(detail="two is refused")

    guard_register("test.refusal", refuse_two)
    guard_register("test.refusal", refuse_two)  # idempotent: still asked once

    # when the change is put to it
    guard_check("test.refusal", {"x": 1})
    with pytest.raises(Conflict):
        guard_check("test.refusal", {"x": 2})

    # then it was asked once each time, with the change's data
    assert asked == [{"x": 1}, {"x": 2}]


def test_grants_are_read_back_in_the_order_they_registered_once_each():
    # given two grants of one name, one registered twice
    def first(teams):
        return {1}

    def second(teams):
        return {2}

    grant_register("test.view", first)
    grant_register("test.view", second)
    grant_register("test.view", first)

    # then the lower app reads each once, in order; another name has none
    assert grants("test.view") == [first, second]
    assert grants("test.nothing") == []

"""GET /api/v1/loops?assignee=&closed_after=&closed_before=: one agent's loops finished in a
period, the drill-down of a scorecard's counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.loops.services import loop_close, loop_open
from lastmile.people.selectors import agent_for
from tests.api.client import Api

pytestmark = pytest.mark.django_db


def _closed(customer, team, assignee, *, opened, closed, title="Task"):  # type: ignore[no-untyped-def]
    loop = loop_open(
        customer=customer, kind="task", title=title, team=team, assignee=assignee, now=opened
    )
    return loop_close(loop=loop, now=closed)


@pytest.fixture
def api(client, now):  # type: ignore[no-untyped-def]
    return Api(client, token_create(name="integration", now=now)[1])


def ids(response):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.content
    return sorted(x["id"] for x in response.json()["items"])


def test_the_assignee_filter_lists_only_that_agents_loops(api, customer, team, alice, bob, now):
    # given a loop of alice's, one of bob's and an unassigned one
    a = loop_open(customer=customer, kind="task", title="A", team=team, assignee=alice, now=now)
    loop_open(customer=customer, kind="task", title="B", team=team, assignee=bob, now=now)
    loop_open(customer=customer, kind="task", title="C", team=team, now=now)
    # when alice's are asked for, then only hers come back
    assert ids(api.get("/loops", assignee="alice")) == [a.pk]


def test_an_unknown_assignee_is_a_422_naming_the_field(api):
    r = api.get("/loops", assignee="nobody")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["assignee"]


def test_closed_after_includes_its_instant_and_closed_before_excludes_its_own(
    api, customer, team, alice, now
):
    # given loops closed the minute before, the minute of and the minute after 12:00
    noon = now.replace(hour=12)
    before = _closed(customer, team, alice, opened=now, closed=noon - timedelta(minutes=1))
    at = _closed(customer, team, alice, opened=now, closed=noon)
    after = _closed(customer, team, alice, opened=now, closed=noon + timedelta(minutes=1))
    iso = noon.isoformat().replace("+00:00", "Z")
    # then closed_after=12:00 takes the one at 12:00 and the one after
    assert ids(api.get("/loops", closed_after=iso)) == sorted([at.pk, after.pk])
    # and closed_before=12:00 only the one before: adjacent periods never share a loop
    assert ids(api.get("/loops", closed_before=iso)) == [before.pk]


def test_open_loops_are_never_in_a_closed_window(api, customer, team, alice, now):
    loop_open(customer=customer, kind="task", title="Open", team=team, assignee=alice, now=now)
    r = api.get("/loops", closed_after="2000-01-01T00:00:00Z", closed_before="2100-01-01T00:00:00Z")
    assert ids(r) == []


def test_the_three_filters_combine_with_state(api, customer, team, alice, bob, now):
    # given alice's loop closed in the window, her loop cancelled in it, bob's closed in it,
    # and alice's closed the day after
    day = now + timedelta(hours=1)
    hers = _closed(customer, team, alice, opened=now, closed=day)
    cancelled = loop_open(
        customer=customer, kind="task", title="X", team=team, assignee=alice, now=now
    )
    from lastmile.loops.services import loop_cancel

    loop_cancel(loop=cancelled, reason="not needed", now=day)
    _closed(customer, team, bob, opened=now, closed=day)
    _closed(customer, team, alice, opened=now, closed=now + timedelta(days=1, hours=1))
    window = {
        "assignee": "alice",
        "closed_after": now.isoformat(),
        "closed_before": (now + timedelta(days=1)).isoformat(),
    }
    # then the window holds both of alice's finished loops, and state=closed only the closed one
    assert ids(api.get("/loops", **window)) == sorted([hers.pk, cancelled.pk])
    assert ids(api.get("/loops", state="closed", **window)) == [hers.pk]
    assert api.get("/loops", state="closed", **window).json()["count"] == 1


@pytest.mark.parametrize("field", ["closed_after", "closed_before"])
@pytest.mark.parametrize("bad", ["yesterday", "2026-11-01T00:00:00", "2026-13-01T00:00:00Z"])
def test_a_bad_instant_is_a_422_naming_the_field(api, field, bad):
    r = api.get("/loops", **{field: bad})
    assert r.status_code == 422
    assert any(field in str(e.get("field", "")) for e in r.json()["errors"])


def test_an_agent_filtering_by_an_outsider_sees_none_of_their_loops(
    client, customer, other_team, alice, charlie, now
):
    # given charlie's closed loop in the back office, and alice of the front office
    _closed(customer, other_team, charlie, opened=now, closed=now + timedelta(hours=1))
    api = Api(client, token_create(name="alice", now=now, agent=agent_for(alice))[1])
    # when alice asks for charlie's loops, then she sees none
    assert ids(api.get("/loops", assignee="charlie", closed_after=now.isoformat())) == []

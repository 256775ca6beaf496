"""GET /api/v1/promises?made_by=&made_after=&made_before=: the promises one agent made in a
window (a scorecard's promise counts link here), the window's start included, its end not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.promises.models import Promise
from tests.api.client import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(client, now):  # type: ignore[no-untyped-def]
    return Api(client, token_create(name="integration", now=now)[1])


def promise(customer, team, who, at, state="open"):  # type: ignore[no-untyped-def]
    return Promise.objects.create(
        customer=customer,
        text="a call back",
        channel="phone",
        team=team,
        made_by=who,
        made_by_name=who.username if who else "Ana",
        made_at=at,
        due_at=at + timedelta(days=1),
        recorded_via="test",
        state=state,
    )


def ids(r):  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.content
    return {p["id"] for p in r.json()["items"]}


def test_made_by_and_the_window_pick_the_agents_promises(api, customer, team, alice, bob, now):
    start, end = now - timedelta(days=7), now
    first = promise(customer, team, alice, start)
    inside = promise(customer, team, alice, now - timedelta(hours=1), state="kept")
    promise(customer, team, alice, start - timedelta(seconds=1))  # before
    promise(customer, team, alice, end)  # the end is not in the window
    promise(customer, team, bob, now - timedelta(hours=1))  # someone else's
    window = {"made_after": start.isoformat(), "made_before": end.isoformat()}
    assert ids(api.get("/promises", made_by="alice", **window)) == {first.pk, inside.pk}
    assert ids(api.get("/promises", made_by="alice", state="kept", **window)) == {inside.pk}
    assert len(ids(api.get("/promises", team="front", **window))) == 3


def test_an_unknown_maker_is_a_422_naming_made_by(api):
    r = api.get("/promises", made_by="nobody")
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["made_by"]


def test_a_window_without_a_time_zone_is_a_422(api):
    r = api.get("/promises", made_after="2026-11-01T00:00:00")
    assert r.status_code == 422
    assert "made_after" in r.content.decode()

"""The alerts API (/api/v1/alerts): read what fired and why, acknowledge, resolve."""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.crisis.models import AlertState
from lastmile.loops.models import Loop

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def auth(user, now):  # type: ignore[no-untyped-def]
    secret = token_create(name=f"t-{user.username}", agent=user.agent, now=now)[1]
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_an_agent_lists_and_reads_their_teams_alerts(client, alert, bob, now):
    h = auth(bob, now)
    r = client.get("/api/v1/alerts", **h)
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["id"] == alert.pk and item["signal"] == "negative_share"
    assert item["observed"] == 0.8 and item["baseline"] == 0.2 and item["threshold"] == 0.5
    assert item["ack_due_at"].startswith("2026-11-23T10:15")
    assert item["team"] == "front" and item["state"] == "open"
    one = client.get(f"/api/v1/alerts/{alert.pk}", **h).json()
    assert one["top_mentions"] == item["top_mentions"] and one["top_authors"]


def test_an_outsider_gets_404_and_an_empty_list(client, alert, charlie, now):
    h = auth(charlie, now)
    assert client.get("/api/v1/alerts", **h).json()["items"] == []
    r = client.get(f"/api/v1/alerts/{alert.pk}", **h)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert client.post(f"/api/v1/alerts/{alert.pk}/acknowledge", **h).status_code == 404
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN


def test_acknowledging_through_the_api_closes_the_loop_and_twice_is_409(client, alert, bob, now):
    h = auth(bob, now)
    r = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge", **h)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert Loop.objects.get(pk=alert.ack_loop_id).state == "closed"
    again = client.post(f"/api/v1/alerts/{alert.pk}/acknowledge", **h)
    assert again.status_code == 409 and again.json()["code"] == "alert_not_open"


def test_resolve_and_filter_by_state(client, alert, bob, now):
    h = auth(bob, now)
    assert client.post(f"/api/v1/alerts/{alert.pk}/resolve", **h).json()["state"] == "resolved"
    assert client.get("/api/v1/alerts?state=active", **h).json()["items"] == []
    assert len(client.get("/api/v1/alerts?state=resolved", **h).json()["items"]) == 1
    assert client.get("/api/v1/alerts?state=bogus", **h).status_code == 422


def test_the_series_around_the_alert(client, alert, bob, now):
    data = client.get(f"/api/v1/alerts/{alert.pk}/series", **auth(bob, now)).json()
    i = data["alert_index"]
    assert data["starts"][i] == alert.bucket_start.isoformat() and data["volume"][i] == 5
    assert len(data["starts"]) == 6 * 12 + 6  # 6 hours before, up to now

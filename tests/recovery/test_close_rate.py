"""The close rate: the funnel's counts from the engine and what recovery won, through the
API (/api/v1/recovery/close-rate) and the page (/recovery/)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest

from lastmile.api.services import token_create
from lastmile.funnels.services import analytics_copy, analytics_engine
from lastmile.people.models import Agent
from lastmile.recovery.models import Recovery
from lastmile.recovery.services import recoveries_detect, recoveries_expire
from tests.api.client import Api
from tests.recovery.conftest import track

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

_tokens = itertools.count(1)


@pytest.fixture(autouse=True)
def _analytics_dir(settings, tmp_path):
    """Each test its own copy: the engine lives under the var dir."""
    settings.VAR_DIR = tmp_path


@pytest.fixture
def api(client, now, alice):
    agent = Agent.objects.get(user=alice)
    return Api(client, token_create(name=f"alice-{next(_tokens)}", agent=agent, now=now)[1])


@pytest.fixture
def won_and_lost(rule, abandoned, send, now):
    """Three shoppers a week ago: Maya abandoned and was won back (134.90 EUR), Noor
    abandoned and was lost, Ola bought straight away."""
    week_ago = now - timedelta(days=7)
    abandoned(user="maya", email="maya@example.com", name="Maya", hours=7 * 24)
    abandoned(user="noor", email="noor@example.com", name="Noor", hours=7 * 24)
    send(
        track("Product Added", user="ola", at=week_ago),
        track("Checkout Started", user="ola", at=week_ago + timedelta(minutes=1)),
        track("Order Completed", user="ola", at=week_ago + timedelta(minutes=2), revenue=50),
        at=week_ago,
    )
    engine = analytics_engine()
    detected = week_ago + timedelta(hours=2)
    analytics_copy(engine=engine, now=detected)
    assert recoveries_detect(now=detected, engine=engine).opened == 2
    paid = week_ago + timedelta(hours=20)  # within the funnel's 24-hour window
    send(track("Order Completed", user="maya", at=paid, revenue=134.9, currency="EUR"), at=paid)
    recoveries_expire(now=week_ago + timedelta(days=4))
    analytics_copy(engine=engine, now=now)


def test_the_close_rate_counts_the_funnel_and_what_recovery_won(api, won_and_lost, funnel, now):
    r = api.get("/recovery/close-rate", funnel=funnel.pk)

    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["entered"], body["last_mile"], body["closed"]) == (3, 3, 2)
    assert body["close_rate"] == pytest.approx(2 / 3)
    rec = body["recoveries"]
    assert (rec["opened"], rec["recovered"], rec["lost"], rec["open"]) == (2, 1, 1, 0)
    assert rec["recovery_rate"] == 0.5
    assert rec["revenue"] == [{"currency": "EUR", "amount": "134.9000"}]
    assert [t["team"] for t in body["teams"]] == ["front"]
    assert body["outreach"][0]["label"].startswith("email: Your cart is waiting")
    assert body["outreach"][0]["recoveries"]["recovered"] == 1
    week = body["weeks"][0]
    assert (week["entered"], week["closed"], week["recoveries"]["opened"]) == (3, 2, 2)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "funnel"),
        ({"funnel": "x"}, "funnel"),
        ({"funnel": 0}, "funnel"),
        ({"funnel": 1, "from": "yesterday"}, "from"),
        ({"funnel": 1, "from": "2026-11-20T00:00:00Z", "to": "2026-11-10T00:00:00Z"}, "from"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api, funnel, params, field):
    if params.get("funnel") == 1:
        params = {**params, "funnel": funnel.pk}

    r = api.get("/recovery/close-rate", **params)

    assert r.status_code == 422, r.content
    assert field in [e["field"] for e in r.json()["errors"]]


def test_an_unknown_funnel_is_a_404(api, funnel):
    r = api.get("/recovery/close-rate", funnel=funnel.pk + 1000)

    assert r.status_code == 404


def test_the_rules_are_listed(api, rule):
    r = api.get("/recovery/rules")

    assert r.status_code == 200
    assert [(x["name"], x["abandon_step"], x["team"]) for x in r.json()] == [
        ("Abandoned carts", 2, "front")
    ]


def test_the_page_shows_the_close_rate_and_the_outreach(client, alice, won_and_lost, funnel):
    client.force_login(alice)

    r = client.get("/recovery/", {"funnel": funnel.pk, "start": "2026-11-01", "end": "2026-11-23"})

    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="fig-entered">3<' in html
    assert 'id="fig-recovered">1<' in html
    assert "134.90 EUR" in html
    # the outreach is the rule's name and the outreach in words, not the raw template
    outreach = html[html.index('id="close-rate-outreach"') : html.index('id="close-rate-recent"')]
    assert "<strong>Abandoned carts</strong> · Email" in outreach
    assert "{{" not in html and "email: Your cart" not in html
    assert "wins them back by email." in html
    assert "<script" not in html.split('id="page-body"')[1]
    assert "style=" not in html.split('id="page-body"')[1]


def test_the_latest_recoveries_are_newest_abandoned_first_and_link_to_their_page(
    client, alice, won_and_lost, funnel
):
    # given Noor abandoned an hour before Maya (her recovery opened after Maya's), and
    # Maya's basket was worth thousands
    maya = Recovery.objects.get(customer__display_name="Maya")
    noor = Recovery.objects.get(customer__display_name="Noor")
    Recovery.objects.filter(pk=noor.pk).update(abandoned_at=maya.abandoned_at - timedelta(hours=1))
    Recovery.objects.filter(pk=maya.pk).update(value=Decimal("4669.5"))
    client.force_login(alice)

    r = client.get("/recovery/", {"funnel": funnel.pk, "start": "2026-11-01", "end": "2026-11-23"})

    html = r.content.decode()
    recent = html[html.index('id="close-rate-recent"') :]
    assert recent.index(f'id="recovery-{maya.pk}"') < recent.index(f'id="recovery-{noor.pk}"')
    assert f'href="/recovery/{maya.pk}/"' in recent and f'href="/recovery/{noor.pk}/"' in recent
    assert "4,669.50 EUR" in recent


def test_the_page_and_the_api_default_to_the_same_30_days(client, api, alice, funnel, now):
    client.force_login(alice)

    page = client.get("/recovery/", {"funnel": funnel.pk}).content.decode()
    body = api.get("/recovery/close-rate", funnel=funnel.pk).json()

    first = (now - timedelta(days=29)).date().isoformat()
    assert f'name="start" value="{first}"' in page
    assert body["from"][:10] == (now - timedelta(days=30)).date().isoformat()


def test_the_page_needs_a_sign_in(client):
    r = client.get("/recovery/")

    assert r.status_code == 302


def test_the_page_names_a_bad_day(client, alice, funnel):
    client.force_login(alice)

    r = client.get("/recovery/", {"funnel": funnel.pk, "start": "2026-11-20", "end": "2026-11-01"})

    assert r.status_code == 200
    assert "The last day comes before the first." in r.content.decode()


def test_the_csv_has_a_row_a_week(client, alice, won_and_lost, funnel):
    client.force_login(alice)

    r = client.get(
        "/recovery/close-rate.csv",
        {"funnel": funnel.pk, "start": "2026-11-01", "end": "2026-11-23"},
    )

    assert r.status_code == 200
    lines = b"".join(r.streaming_content).decode().splitlines()
    assert lines[0] == (
        "week,entered,closed,close_rate,recoveries_opened,recovered,lost,still_open,"
        "recovered_revenue,currency"
    )
    assert lines[1] == "2026-11-16,3,2,0.6667,2,1,1,0,134.90,EUR"


def test_a_week_recovered_in_two_currencies_has_a_revenue_row_for_each(
    client, alice, won_and_lost, funnel
):
    # given Noor's recovery won 4669 GBP too
    Recovery.objects.filter(customer__display_name="Noor").update(
        outcome="recovered", revenue=Decimal("4669"), revenue_currency="GBP"
    )
    client.force_login(alice)

    r = client.get(
        "/recovery/close-rate.csv",
        {"funnel": funnel.pk, "start": "2026-11-01", "end": "2026-11-23"},
    )

    lines = b"".join(r.streaming_content).decode().splitlines()
    assert lines[1:] == [
        "2026-11-16,3,2,0.6667,2,2,0,0,134.90,EUR",
        "2026-11-16,,,,,,,,4669.00,GBP",
    ]


def test_the_admin_names_a_bad_abandon_step(staff, funnel, team):
    r = staff.post(
        "/admin/recovery/recoveryrule/add/",
        {
            "name": "Bad",
            "funnel": funnel.pk,
            "abandon_step": 3,
            "abandon_after_seconds": 3600,
            "window_seconds": 86400,
            "team": team.pk,
            "outreach": "call",
            "active": "on",
        },
    )

    assert r.status_code == 200
    assert "1 to 2: a step with a step after it" in r.content.decode()
    from lastmile.recovery.models import RecoveryRule

    assert not RecoveryRule.objects.exists()


def test_the_page_lists_the_recoveries_of_the_viewers_teams_only(
    client, alice, charlie, won_and_lost, funnel
):
    query = {"funnel": funnel.pk, "start": "2026-11-01", "end": "2026-11-23"}
    client.force_login(alice)
    mine = client.get("/recovery/", query).content.decode()
    client.force_login(charlie)
    theirs = client.get("/recovery/", query).content.decode()

    assert mine.count('id="recovery-') == 2 and "134.90 EUR" in mine
    assert theirs.count('id="recovery-') == 0


def test_the_recoveries_are_listed_for_the_owning_team(
    api, client, now, charlie, won_and_lost, funnel
):
    r = api.get("/recovery/recoveries", funnel=funnel.pk, outcome="recovered")

    assert r.status_code == 200, r.content
    body = r.json()
    assert body["count"] == 1
    got = body["items"][0]
    assert (got["outcome"], got["revenue"], got["revenue_currency"], got["team"]) == (
        "recovered",
        "134.9000",
        "EUR",
        "front",
    )
    assert [i["name"] for i in got["items"]] == ["Trail shoes", "Socks"]
    agent = Agent.objects.get(user=charlie)
    outsider = Api(client, token_create(name="charlie", agent=agent, now=now)[1])
    assert outsider.get("/recovery/recoveries").json()["count"] == 0
    assert api.get("/recovery/recoveries", outcome="won").status_code == 422

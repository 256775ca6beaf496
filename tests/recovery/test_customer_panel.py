"""The customer page's recoveries panel (/customers/<id>/) and one recovery's page
(/recovery/<id>/): open and finished recoveries with their rule, funnel, contents and
outcome, for the owning team (and admins), and a link to the loop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.customers.models import Customer
from lastmile.funnels.services import analytics_copy, analytics_engine
from lastmile.loops.models import Loop
from lastmile.recovery.models import Outcome, Recovery
from lastmile.recovery.services import recoveries_detect, recoveries_expire
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.recovery.conftest import track

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture(autouse=True)
def _analytics_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def maya(rule, abandoned, send, now):
    """Maya abandoned her cart twice: a week ago (won back, 134.90 EUR) and two hours ago
    (open); Noor's, a week ago, was lost."""
    week_ago = now - timedelta(days=7)
    abandoned(user="maya", email="maya@example.com", name="Maya Lind", hours=7 * 24)
    abandoned(user="noor", email="noor@example.com", name="Noor", hours=7 * 24)
    engine = analytics_engine()
    detected = week_ago + timedelta(hours=2)
    analytics_copy(engine=engine, now=detected)
    assert recoveries_detect(now=detected, engine=engine).opened == 2
    paid = week_ago + timedelta(hours=20)
    send(track("Order Completed", user="maya", at=paid, revenue=1134.9, currency="EUR"), at=paid)
    recoveries_expire(now=week_ago + timedelta(days=4))
    abandoned(user="maya", email="maya@example.com", name="Maya Lind", hours=2)
    analytics_copy(engine=engine, now=now)
    assert recoveries_detect(now=now, engine=engine).opened == 1
    return Customer.objects.get(display_name="Maya Lind")


def panel(client, customer):  # type: ignore[no-untyped-def]
    r = client.get(f"/customers/{customer.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    start = html.index('id="recovery-panel"')
    return html[start : html.index("</section>", start)]


def test_the_customer_page_shows_open_and_finished_recoveries(client, alice, maya, now):
    client.force_login(alice)

    html = panel(client, maya)

    open_, won = Recovery.objects.filter(customer=maya).order_by("-opened_at")
    assert (open_.outcome, won.outcome) == (Outcome.OPEN, Outcome.RECOVERED)
    # the open one first, then the one won back: each with the rule, the funnel, the cart
    assert html.index(f"customer-recovery-{open_.pk}") < html.index(f"customer-recovery-{won.pk}")
    assert html.count('class="recovery-item"') == 2
    assert html.count("Abandoned carts") == 2 and "Checkout</a>" in html
    assert html.count("Trail shoes") == 2 and html.count("2 × Socks") == 2
    assert "129.50 EUR" in html
    # the outcome: recovered with its revenue, open with its deadline
    assert "1,134.90 EUR" in html
    loop = Loop.objects.get(pk=open_.loop_id)
    assert loop.due_at == now + timedelta(hours=4)
    assert "Due Mon 23 Nov, 14:00" in html
    # and a link to each loop
    assert f'href="/recovery/{open_.pk}/">Loop #{open_.loop_id}: open' in html
    assert f'href="/recovery/{won.pk}/">Loop #{won.loop_id}: closed' in html


def test_a_lost_recovery_says_so(client, alice, maya):
    client.force_login(alice)
    noor = Customer.objects.get(display_name="Noor")

    html = panel(client, noor)

    assert html.count('class="recovery-item"') == 1
    assert 'data-outcome="lost"' in html and "Lost " in html


def test_the_panel_shows_only_the_viewers_teams_recoveries(
    client, charlie, other_team, admin_user, maya
):
    # given Maya wrote to the back office too, so Charlie (back office) sees her page
    CaseFactory(customer=maya, team=other_team)

    client.force_login(charlie)
    theirs = panel(client, maya)
    client.force_login(admin_user)
    everything = panel(client, maya)

    assert 'class="recovery-item"' not in theirs
    assert "No recovery for Maya Lind owned by your teams." in theirs
    assert everything.count('class="recovery-item"') == 2


def test_a_customer_with_no_recovery_gets_the_empty_state(client, alice, team):
    client.force_login(alice)
    nobody = CustomerFactory(display_name="Ola")
    CaseFactory(customer=nobody, team=team)

    html = panel(client, nobody)

    assert 'id="recovery-none"' in html and "No recovery for Ola" in html


def test_the_recovery_page_shows_the_loop_and_its_trail(client, alice, charlie, maya):
    won = Recovery.objects.get(customer=maya, outcome=Outcome.RECOVERED)
    client.force_login(alice)

    r = client.get(f"/recovery/{won.pk}/")

    assert r.status_code == 200
    html = r.content.decode()
    assert f"Loop #{won.loop_id}: closed" in html
    assert "recovered: 1134.90 EUR" in html  # the loop's trail, closing it
    assert "1,134.90 EUR" in html and "Trail shoes" in html
    # an outsider gets the console's 404, as for a loop that is not there
    client.force_login(charlie)
    assert client.get(f"/recovery/{won.pk}/").status_code == 404
    assert client.get("/recovery/999999/").status_code == 404


def test_the_panel_costs_two_queries_however_many_recoveries(
    client, alice, maya, django_assert_num_queries
):
    from django.template import Context, Template
    from django.test import RequestFactory

    from lastmile.people.selectors import teams_remembered

    request = RequestFactory().get("/")
    request.user = alice
    tpl = Template('{% include "recovery/_customer_include.html" %}')

    # (the console's pages read the viewer's teams once: teams_remembered)
    with teams_remembered(alice), django_assert_num_queries(2):  # teams, recoveries
        tpl.render(Context({"customer": maya, "request": request}))

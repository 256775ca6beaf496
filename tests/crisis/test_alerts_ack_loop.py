"""An alert's acknowledgement loop is the team's own: no customer, owned by the team that
watches the term, in that team's inbox, escalated and breached by the sweeper like any loop,
and told to webhook subscribers with ``customer: null``. Raising an alert creates no
customer row (it used to make a pseudo-customer for the brand or the watch term)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.core.errors import InvalidInput
from lastmile.crisis.models import Alert
from lastmile.crisis.services.triggers import triggers_run
from lastmile.customers.models import Customer, Identity
from lastmile.loops.models import Loop, LoopEvent
from lastmile.loops.services import loop_open, loops_sweep
from lastmile.webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooks(db, now):
    """A subscriber to every loop event (its address is never called: nothing is sent)."""
    return Subscription.objects.create(
        name="crm",
        url="https://hooks.example.com/lastmile",
        events=["loop.*"],
        secret="s" * 32,
        secret_prefix="ssss",
        created_at=now,
    )


def test_raising_an_alert_creates_no_customer_and_the_ack_loop_has_none(term, outage, now, lead):
    # Given the chatter and the outage, and the customers that exist before the triggers run
    customers = Customer.objects.count()
    identities = Identity.objects.count()
    # When the triggers raise the alert
    triggers_run(now=now)
    # Then no customer (nor identity) was made for the brand or the watch term
    assert Customer.objects.count() == customers
    assert Identity.objects.count() == identities
    # and the acknowledgement loop belongs to the term's team, not to a customer
    loop = Alert.objects.get().ack_loop
    assert loop.customer_id is None and loop.case_id is None
    assert loop.team == term.team and loop.assignee == lead
    assert loop.kind == "ack" and not loop.visible_to_customer


def test_the_ack_loop_is_in_the_team_inbox_and_not_in_an_outsiders(
    client, term, outage, now, bob, charlie
):
    triggers_run(now=now)
    alert = Alert.objects.get()
    with time_machine.travel(now, tick=False):
        client.force_login(bob)
        page = client.get("/").content.decode()
        assert f'id="loop-{alert.ack_loop_id}"' in page
        # the title leads to the crisis room, where the alert is acknowledged
        row = page[page.index(f'id="loop-{alert.ack_loop_id}"') :]
        row = row[: row.index("</tr>")]
        assert f'href="/alerts/{alert.pk}/"' in row
        assert "/customers/" not in row
        client.force_login(charlie)
        assert f'id="loop-{alert.ack_loop_id}"' not in client.get("/").content.decode()


def test_the_sweeper_escalates_and_breaches_the_ack_loop_at_the_minute_of(term, outage, now, lead):
    triggers_run(now=now)
    loop = Alert.objects.get().ack_loop
    # The minute before the 15-minute deadline: reminded, not breached
    loops_sweep(now=now + timedelta(minutes=14))
    loop.refresh_from_db()
    assert loop.escalation_level == 1 and loop.breached_at is None
    # The minute of: breached
    result = loops_sweep(now=now + timedelta(minutes=15))
    loop.refresh_from_db()
    assert result.breached == 1
    assert loop.breached_at == now + timedelta(minutes=15) and loop.customer_id is None
    assert LoopEvent.objects.filter(loop=loop, kind="breached").count() == 1


def test_the_ack_loops_webhook_events_say_customer_null(term, outage, now, lead, hooks):
    triggers_run(now=now)
    loop = Alert.objects.get().ack_loop
    loops_sweep(now=now + timedelta(minutes=15))
    payloads = {
        d.event: d.payload for d in Delivery.objects.filter(subscription=hooks).order_by("pk")
    }
    # (loop.escalated: the reminder rung before the breach, as loops tells it)
    assert set(payloads) == {"loop.opened", "loop.escalated", "loop.breached"}
    for payload in payloads.values():
        assert payload["data"]["loop"] == loop.pk
        assert payload["data"]["customer"] is None
        assert payload["data"]["team"] == term.team_id


def test_the_api_lists_the_ack_loop_with_customer_null(client, term, outage, now, bob):
    from lastmile.api.services import token_create

    triggers_run(now=now)
    loop = Alert.objects.get().ack_loop
    token = token_create(name="t-bob", agent=bob.agent, now=now)[1]
    r = client.get(f"/api/v1/loops/{loop.pk}", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.content
    assert r.json()["customer"] is None and r.json()["kind"] == "ack"


# --- the rule, in the service and in the table ----------------------------------------------------


def test_only_a_teams_acknowledgement_loop_may_have_no_customer(team, now):
    before = Loop.objects.count()
    for kind in ("reply", "task", "promise"):
        with pytest.raises(InvalidInput):
            loop_open(customer=None, kind=kind, title="Owed to nobody", team=team, now=now)
    with pytest.raises(InvalidInput):
        loop_open(customer=None, kind="ack", title="No team", now=now)
    with pytest.raises(InvalidInput):
        loop_open(
            customer=None, kind="ack", title="Shown", team=team, visible_to_customer=True, now=now
        )
    assert Loop.objects.count() == before


def test_the_table_refuses_a_loop_without_customer_that_is_not_an_ack_loop(team, now):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Loop.objects.create(kind="task", title="x", team=team, opened_at=now, clock_started_at=now)
    Loop.objects.create(kind="ack", title="ok", team=team, opened_at=now, clock_started_at=now)


# --- every loop service and page takes a loop without a customer --------------------------------


@pytest.fixture
def team_loop(team, alice, now):
    return loop_open(
        customer=None,
        kind="ack",
        title="Acknowledge alert #1",
        team=team,
        assignee=alice,
        due_at=now + timedelta(minutes=15),
        now=now,
    )


def test_pause_resume_reassign_and_close_work_on_a_team_loop(team_loop, bob, now):
    from lastmile.loops.services import loop_close, loop_pause, loop_reassign, loop_resume

    loop_pause(loop=team_loop, actor=bob, reason="on a call", now=now + timedelta(minutes=1))
    loop_resume(loop=team_loop, actor=bob, now=now + timedelta(minutes=3))
    loop_reassign(loop=team_loop, assignee=bob, actor=bob, now=now + timedelta(minutes=4))
    closed = loop_close(loop=team_loop, actor=bob, reason="seen", now=now + timedelta(minutes=5))
    assert closed.state == "closed" and closed.customer_id is None and closed.assignee == bob
    kinds = list(LoopEvent.objects.filter(loop=team_loop).values_list("kind", flat=True))
    assert kinds == ["opened", "paused", "resumed", "reassigned", "closed"]


def test_cancel_and_break_work_on_a_team_loop(team, now):
    from lastmile.loops.services import loop_break, loop_cancel

    loops = [
        loop_open(customer=None, kind="ack", title=f"t{i}", team=team, now=now) for i in range(2)
    ]
    assert loop_cancel(loop=loops[0], reason="false alarm", now=now).state == "cancelled"
    assert loop_break(loop=loops[1], reason="nobody came", now=now).state == "broken"


def test_the_selectors_count_a_team_loop_and_no_customer_lists_it(team_loop, alice, customer, now):
    from lastmile.loops.selectors import loop_explain, loop_list, loop_state_counts

    assert list(loop_list(viewer=alice, now=now, state="open")) == [team_loop]
    assert not loop_list(viewer=alice, now=now, customer=customer).exists()
    assert loop_state_counts(loop_list(viewer=alice, now=now), now=now)["ok"] == 1
    assert loop_explain(team_loop, now=now).startswith("due ")


def test_the_admin_lists_and_shows_a_team_loop(client, team_loop, staff):
    assert "Acknowledge alert #1" in client.get("/admin/loops/loop/").content.decode()
    assert client.get(f"/admin/loops/loop/{team_loop.pk}/change/").status_code == 200


def test_a_team_loop_is_on_no_customer_page(client, team_loop, case, bob, now):
    # The customer page lists what is owed to that customer: the team's own loop is not.
    client.force_login(bob)
    with time_machine.travel(now, tick=False):
        r = client.get(f"/customers/{case.customer_id}/")
    assert r.status_code == 200 and "Nothing owed to this customer" in r.content.decode()
    assert "Acknowledge alert #1" not in r.content.decode()

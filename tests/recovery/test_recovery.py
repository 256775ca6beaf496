"""Recovery end to end: Segment events through the real ingest path, the analytics copy,
detection opening a recovery loop, completion recovering it, time losing it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.loops.models import Loop, LoopEvent, LoopKind, LoopState
from lastmile.recovery.models import Outcome, Recovery
from lastmile.recovery.services import recoveries_detect, recoveries_expire, recoveries_recheck
from tests.recovery.conftest import identify, track

pytestmark = pytest.mark.django_db


def test_a_person_who_stopped_at_checkout_gets_a_recovery_loop_with_the_cart(
    rule, abandoned, copy, engine, now, team
):
    # given Maya started the checkout two hours ago and stopped, and the copy has her events
    ids = abandoned()
    copy(now)

    # when the detection runs
    report = recoveries_detect(now=now, engine=engine)

    # then one recovery is open, with the cart, and its loop is the team's, due in 4 hours
    assert report.opened == 1
    r = Recovery.objects.get()
    assert r.outcome == Outcome.OPEN
    assert r.abandon_event_id == ids[-1]
    assert r.abandoned_at == now - timedelta(hours=2)
    assert [i["name"] for i in r.items] == ["Trail shoes", "Socks"]
    assert (r.value, r.currency) == (Decimal("129.5"), "EUR")
    assert r.ends_at == now + timedelta(days=3)
    loop = Loop.objects.get(pk=r.loop_id)
    assert (loop.kind, loop.state, loop.team, loop.customer_id) == (
        LoopKind.RECOVERY,
        LoopState.OPEN,
        team,
        r.customer_id,
    )
    assert loop.due_at == now + timedelta(hours=4)
    assert loop.opened_by_id == ids[-1]
    assert "2 items, 129.50 EUR" in loop.title
    opened = LoopEvent.objects.get(loop=loop, kind="opened")
    assert "Trail shoes" in opened.reason and "Socks" in opened.reason

    # and the outreach is queued in the outbox under the recovery contact rule
    msg = OutboxMessage.objects.get()
    assert (msg.purpose, msg.channel, msg.recipient, msg.customer_id) == (
        "recovery",
        "email",
        "maya@example.com",
        r.customer_id,
    )
    assert msg.subject == "Your cart is waiting, Maya"
    assert "Trail shoes, 2 × Socks (129.50 EUR)" in msg.body


def test_a_customer_with_no_name_is_greeted_sensibly(rule, abandoned, copy, engine, now):
    # given the rule says the name bare in the subject, with a default in the body, and a
    # customer whose events never named them
    rule.subject = "Your cart is waiting, {{ customer.first_name }}"
    rule.body = 'Hello {{customer.first_name|default:"friend"}}, your {{items}} wait.'
    rule.save()
    abandoned(name="")
    copy(now)

    # when the detection runs
    recoveries_detect(now=now, engine=engine)

    # then the empty name says the default, else "there", never a dangling comma
    msg = OutboxMessage.objects.get()
    assert msg.subject == "Your cart is waiting, there"
    assert msg.body == "Hello friend, your Trail shoes, 2 × Socks wait."


def test_running_the_detection_twice_opens_nothing_twice(rule, abandoned, copy, engine, now):
    # given a drop-off already recovered once
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)

    # when the detection runs again, a minute later
    again = recoveries_detect(now=now + timedelta(minutes=1), engine=engine)

    # then nothing more is opened or sent
    assert again.opened == 0
    assert Recovery.objects.count() == 1
    assert Loop.objects.filter(kind=LoopKind.RECOVERY).count() == 1
    assert OutboxMessage.objects.count() == 1


def test_a_repeated_drop_off_while_a_recovery_is_open_does_not_open_another(
    rule, abandoned, send, copy, engine, now
):
    # given Maya's open recovery
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)

    # when she starts the checkout again and stops again, and the detection runs later
    later = now + timedelta(hours=3)
    send(track("Checkout Started", at=now + timedelta(minutes=30), value=99), at=later)
    copy(later)
    report = recoveries_detect(now=later, engine=engine)

    # then her one recovery stays the only one
    assert report.opened == 0
    assert Recovery.objects.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_someone_still_within_the_hour_is_not_yet_abandoned(rule, abandoned, copy, engine, now):
    # given a checkout started 59 minutes ago
    abandoned(hours=59 / 60)
    copy(now)

    # when the detection runs, then nothing opens; at the hour, it does
    assert recoveries_detect(now=now, engine=engine).opened == 0
    assert recoveries_detect(now=now + timedelta(minutes=1), engine=engine).opened == 1


def test_a_person_who_completed_is_not_chased_even_before_the_copy_sees_it(
    rule, abandoned, send, copy, engine, now
):
    # given the copy saw the checkout but not the order that followed it
    abandoned()
    copy(now - timedelta(minutes=30))
    send(track("Order Completed", at=now - timedelta(minutes=20), revenue=129.5))

    # when the detection runs on the stale copy
    report = recoveries_detect(now=now, engine=engine)

    # then the event store says she completed: nothing opens
    assert report.opened == 0
    assert not Recovery.objects.exists()


def test_completing_the_funnel_recovers_the_loop_with_the_revenue_at_ingest(
    rule, abandoned, send, copy, engine, now
):
    # given Maya's open recovery
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)

    # when her order arrives through the Segment API
    at = now + timedelta(hours=5)
    order = send(
        track("Order Completed", at=at, revenue="134.90", currency="EUR", order_id="o-1"), at=at
    )

    # then the recovery is recovered, with the order's revenue, and its loop closed saying so
    r = Recovery.objects.get()
    assert r.outcome == Outcome.RECOVERED
    assert (r.revenue, r.revenue_currency) == (Decimal("134.90"), "EUR")
    assert r.completed_event_id == order[0]
    assert r.closed_at == at
    loop = Loop.objects.get(pk=r.loop_id)
    assert loop.state == LoopState.CLOSED
    closed = LoopEvent.objects.get(loop=loop, kind="closed")
    assert closed.reason.startswith("recovered: 134.90 EUR")


def test_an_order_without_revenue_takes_its_value(rule, abandoned, send, copy, engine, now):
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)

    send(track("Order Completed", at=now, value=120, currency="usd"))

    r = Recovery.objects.get()
    assert (r.outcome, r.revenue, r.revenue_currency) == (Outcome.RECOVERED, Decimal(120), "USD")


def test_another_event_does_not_recover(rule, abandoned, send, copy, engine, now):
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)

    send(track("Product Viewed", at=now, value=120), track("Order Completed", user="u2", at=now))

    assert Recovery.objects.get().outcome == Outcome.OPEN


def test_a_recovery_whose_window_ends_is_lost(rule, abandoned, copy, engine, now):
    # given Maya's open recovery, with three days to win her back
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)
    ends = now + timedelta(days=3)

    # when time passes: the minute before the end, nothing; at the end, lost
    assert recoveries_expire(now=ends - timedelta(minutes=1)) == 0
    assert recoveries_expire(now=ends) == 1
    assert recoveries_expire(now=ends) == 0

    # then the recovery is lost and its loop closed saying so
    r = Recovery.objects.get()
    assert (r.outcome, r.closed_at, r.revenue) == (Outcome.LOST, ends, None)
    loop = Loop.objects.get(pk=r.loop_id)
    assert loop.state == LoopState.CLOSED
    assert LoopEvent.objects.get(loop=loop, kind="closed").reason.startswith("lost:")


def test_a_lost_drop_off_is_not_opened_again_but_a_new_one_is(
    rule, abandoned, send, copy, engine, now
):
    # given Maya's recovery was lost
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)
    ends = now + timedelta(days=3)
    recoveries_expire(now=ends)

    # when the detection runs on the same drop-off, then nothing opens
    assert recoveries_detect(now=ends, engine=engine).opened == 0

    # when she abandons a new checkout, then a new recovery opens
    send(track("Checkout Started", at=ends + timedelta(hours=1), value=50, currency="EUR"))
    copy(ends + timedelta(hours=3))
    assert recoveries_detect(now=ends + timedelta(hours=3), engine=engine).opened == 1
    assert Recovery.objects.filter(outcome=Outcome.OPEN).get().value == Decimal(50)


def test_the_recheck_recovers_a_completion_recorded_while_the_recovery_opened(
    rule, abandoned, send, copy, engine, now
):
    # given an open recovery and an order recorded with nobody told (as if it committed
    # between the detection's read and its write)
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)
    from lastmile.core.events import _subscribers
    from lastmile.recovery.services import on_interaction_recorded

    _subscribers.remove(on_interaction_recorded)
    try:
        send(track("Order Completed", at=now, revenue=10, currency="EUR"))
    finally:
        _subscribers.append(on_interaction_recorded)
    assert Recovery.objects.get().outcome == Outcome.OPEN

    # when the periodic recheck runs
    assert recoveries_recheck(now=now + timedelta(minutes=1)) == 1

    # then it is recovered
    assert Recovery.objects.get().revenue == Decimal(10)


def test_a_call_rule_opens_a_call_loop_and_sends_nothing(rule, abandoned, copy, engine, now):
    rule.outreach = "call"
    rule.save()
    abandoned()
    copy(now)

    recoveries_detect(now=now, engine=engine)

    r = Recovery.objects.get()
    assert (r.outreach, r.outreach_label) == ("call", "call")
    assert Loop.objects.get(pk=r.loop_id).title.startswith("Call Maya Lind")
    assert not OutboxMessage.objects.exists()


def test_the_outreach_obeys_the_recovery_contact_rule(
    rule, funnel, team, abandoned, copy, engine, now, smtp_sink
):
    # given the contact rule a new installation has (one recovery message a week), and a
    # second rule on the same funnel (say, for another team's offer)
    from importlib import import_module

    from django.apps import apps as django_apps

    from lastmile.channels.models import ContactRule, OutboxStatus
    from lastmile.channels.services import outbox_deliver
    from lastmile.recovery.services import rule_save

    # (seeded again: a transactional test before this one may have emptied the table)
    seed = import_module("lastmile.recovery.migrations.0002_contact_rule_seed").seed
    seed(django_apps, None)
    seeded = ContactRule.objects.get(purpose="recovery")
    assert (seeded.max_per_period, seeded.period) == (1, timedelta(days=7))
    rule_save(
        name="Second offer",
        funnel=funnel,
        abandon_step=2,
        abandon_after_seconds=3600,
        window_seconds=86400,
        team=team,
        outreach="message",
        channel="email",
        subject="10% off",
        body="Still thinking?",
        now=now,
    )
    abandoned()
    copy(now)
    recoveries_detect(now=now, engine=engine)
    assert OutboxMessage.objects.count() == 2

    # when the outbox delivers
    outbox_deliver(now=now)

    # then one goes out and the contact policy suppresses the other
    statuses = sorted(OutboxMessage.objects.values_list("status", flat=True))
    assert statuses == sorted([OutboxStatus.SENT, OutboxStatus.SUPPRESSED])
    assert len(smtp_sink.envelopes) == 1


def test_an_agent_cancelling_the_loop_loses_the_recovery_and_closing_it_does_not(
    rule, abandoned, send, copy, engine, now, alice
):
    from lastmile.loops.services import loop_cancel, loop_close

    # given two open recoveries
    abandoned(user="maya", email="maya@example.com")
    abandoned(user="noor", email="noor@example.com")
    copy(now)
    recoveries_detect(now=now, engine=engine)
    maya, noor = Recovery.objects.order_by("id")

    # when Alice cancels Maya's loop (she will not buy) and closes Noor's (called her)
    loop_cancel(
        loop=Loop.objects.get(pk=maya.loop_id), actor=alice, reason="not interested", now=now
    )
    loop_close(loop=Loop.objects.get(pk=noor.loop_id), actor=alice, reason="called", now=now)

    # then Maya's recovery is lost; Noor's stays open, and her order still credits it
    maya.refresh_from_db()
    noor.refresh_from_db()
    assert (maya.outcome, noor.outcome) == (Outcome.LOST, Outcome.OPEN)
    send(track("Order Completed", user="noor", at=now, revenue=80, currency="EUR"))
    noor.refresh_from_db()
    assert (noor.outcome, noor.revenue) == (Outcome.RECOVERED, Decimal(80))


def test_an_application_without_items_is_named_by_its_product(
    funnel, team, send, copy, engine, now
):
    # given a mortgage form's steps sent as track events, and a rule on its second step
    from lastmile.funnels import funnel_services
    from lastmile.recovery.services import rule_save

    form = funnel_services.funnel_create(
        name="Mortgage",
        definition={
            "window_seconds": 14 * 86400,
            "steps": [
                {"event": "Application Started"},
                {"event": "Income Entered"},
                {"event": "Application Submitted"},
            ],
        },
        actor=None,
        now=now - timedelta(days=30),
    )
    rule_save(
        name="Incomplete applications",
        funnel=form,
        abandon_step=2,
        abandon_after_seconds=86400,
        window_seconds=14 * 86400,
        team=team,
        outreach="call",
        now=now - timedelta(days=30),
    )
    at = now - timedelta(days=2)
    send(
        identify(user="lee", email="lee@example.com", name="Lee", at=at),
        track(
            "Application Started", user="lee", at=at, application_id="A-7", product="5-year fixed"
        ),
        track(
            "Income Entered",
            user="lee",
            at=at + timedelta(minutes=4),
            application_id="A-7",
            product="5-year fixed",
            loan_amount=240000,
            currency="GBP",
        ),
        at=at + timedelta(minutes=5),
    )
    copy(now)

    # when the detection runs
    report = recoveries_detect(now=now, engine=engine)

    # then the recovery names the application and its amount
    assert report.opened == 1, report
    r = Recovery.objects.get()
    assert r.items == [{"name": "5-year fixed", "reference": "A-7"}]
    assert (r.value, r.currency, r.outreach) == (Decimal(240000), "GBP", "call")
    assert "5-year fixed, 240000.00 GBP" in Loop.objects.get(pk=r.loop_id).title


def test_an_anonymous_visitor_nobody_can_reach_is_not_chased(rule, send, copy, engine, now):
    # given a visitor with only an anonymous id who stopped at checkout
    at = now - timedelta(hours=2)
    msgs = [track("Product Added", at=at), track("Checkout Started", at=at + timedelta(minutes=1))]
    for m in msgs:
        m.pop("userId")
        m["anonymousId"] = "anon-1"
    send(*msgs, at=at)
    copy(now)

    # when the detection runs, then nothing opens
    report = recoveries_detect(now=now, engine=engine)
    assert (report.opened, report.unreachable) == (0, 1)
    assert not Recovery.objects.exists()


def test_merging_two_customers_with_open_recoveries_of_a_rule_keeps_one(
    rule, abandoned, copy, engine, now
):
    from lastmile.customers.services.customers import customer_merge

    # given two customers (two accounts of one person), each with an open recovery
    abandoned(user="maya", email="maya@example.com")
    abandoned(user="maya-work", email="maya@work.example")
    copy(now)
    recoveries_detect(now=now, engine=engine)
    first, second = Recovery.objects.order_by("id")

    # when they are merged (customers tells ``customer.merging`` before moving their rows)
    survivor, merged = first.customer, second.customer
    customer_merge(survivor=survivor, merged=merged, now=now)

    # then the merged customer's recovery is lost, its loop closed, and one stays open
    second.refresh_from_db()
    assert (second.outcome, second.customer_id) == (Outcome.LOST, survivor.pk)
    assert Loop.objects.get(pk=second.loop_id).state == LoopState.CLOSED
    assert Recovery.objects.filter(outcome=Outcome.OPEN).get().pk == first.pk

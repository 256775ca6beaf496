"""Recovery rules: what they refuse, the deadline their loops get, and the worker's run."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.core.errors import InvalidInput
from lastmile.funnels.services import analytics_copy, analytics_engine
from lastmile.loops.models import BusinessHours, Loop, SlaPolicy
from lastmile.recovery import tasks
from lastmile.recovery.models import Outcome, Recovery, RecoveryRule
from lastmile.recovery.services import recoveries_detect, recoveries_react, rule_save

pytestmark = pytest.mark.django_db

WEEKDAYS = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def _fields(errors: InvalidInput) -> set[str]:
    return {e.field for e in errors.errors}


def test_a_rule_names_each_field_it_cannot_work_with(funnel, team, now):
    with pytest.raises(InvalidInput) as exc:
        rule_save(
            name="Bad",
            funnel=funnel,
            abandon_step=3,  # the last step has no step after it
            abandon_after_seconds=0,
            window_seconds=86400,
            team=team,
            outreach="message",
            channel="fax",
            subject="",
            body="Hi {{customer.age}}",
            now=now,
        )

    assert _fields(exc.value) == {
        "abandon_step",
        "abandon_after_seconds",
        "channel",
        "subject",
        "body",
    }
    assert not RecoveryRule.objects.exists()


def test_a_placeholder_may_say_a_default_and_only_in_quotes(funnel, team, now):
    def save(body, name):
        return rule_save(
            name=name,
            funnel=funnel,
            abandon_step=2,
            abandon_after_seconds=3600,
            window_seconds=86400,
            team=team,
            outreach="message",
            channel="email",
            subject="Hi",
            body=body,
            now=now,
        )

    assert save('Hello {{ customer.first_name | default: "there" }}', "Quoted").pk
    with pytest.raises(InvalidInput) as exc:
        save("Hello {{customer.first_name|default:there}}", "Bare")
    assert _fields(exc.value) == {"body"}
    assert "customer.first_name|default:there" in exc.value.errors[0].reason


def test_a_rule_takes_an_sla_policy_or_seconds_not_both(funnel, team, now):
    policy = SlaPolicy.objects.create(name="Recovery", kind="recovery", resolution_minutes=60)

    with pytest.raises(InvalidInput) as exc:
        rule_save(
            name="Both",
            funnel=funnel,
            abandon_step=1,
            window_seconds=86400,
            abandon_after_seconds=60,
            team=team,
            sla_policy=policy,
            sla_seconds=60,
            outreach="call",
            now=now,
        )

    assert _fields(exc.value) == {"sla_seconds"}


def test_the_loop_is_due_under_the_teams_business_hours(rule, abandoned, copy, engine, now, team):
    # given the team's recovery loops run on office hours (Mon-Fri 09-17 UTC) and the rule
    # gives 8 business hours; it is Monday 10:00
    hours = BusinessHours.objects.create(name="Office", timezone="UTC", weekly=WEEKDAYS)
    SlaPolicy.objects.create(
        name="Recovery office", kind="recovery", team=team, business_hours=hours
    )
    rule.sla_seconds = 8 * 3600
    rule.save()
    abandoned()
    copy(now)

    # when the recovery opens
    recoveries_detect(now=now, engine=engine)

    # then its loop is due Tuesday 10:00: 7 hours on Monday, 1 on Tuesday
    loop = Loop.objects.get(pk=Recovery.objects.get().loop_id)
    assert loop.due_at == now + timedelta(days=1)


def test_a_pinned_policy_sets_the_deadline_on_its_calendar(rule, abandoned, copy, engine, now):
    hours = BusinessHours.objects.create(name="Office", timezone="UTC", weekly=WEEKDAYS)
    rule.sla_seconds = None
    rule.sla_policy = SlaPolicy.objects.create(
        name="Call within a day", business_hours=hours, resolution_minutes=8 * 60
    )
    rule.save()
    abandoned()
    copy(now)

    recoveries_detect(now=now, engine=engine)

    assert Loop.objects.get(pk=Recovery.objects.get().loop_id).due_at == now + timedelta(days=1)


def test_an_inactive_rule_opens_nothing(rule, abandoned, copy, engine, now):
    rule.active = False
    rule.save()
    abandoned()
    copy(now)

    assert recoveries_detect(now=now, engine=engine).opened == 0


def test_a_rule_another_worker_holds_is_skipped(rule, abandoned, copy, engine, now):
    abandoned()
    copy(now)
    RecoveryRule.objects.filter(pk=rule.pk).update(checking_until=now + timedelta(minutes=1))

    assert recoveries_detect(now=now, engine=engine).opened == 0
    # the lease over (a worker that died), the next run checks it
    assert recoveries_detect(now=now + timedelta(minutes=1), engine=engine).opened == 1


def test_the_worker_task_detects_and_expires(rule, abandoned, settings, tmp_path, now):
    # given the analytics copy where the worker keeps it, with Maya's drop-off in it
    settings.VAR_DIR = tmp_path
    abandoned()
    analytics_copy(engine=analytics_engine(), now=now)

    # when the task runs now, then three days later
    with time_machine.travel(now, tick=False):
        tasks.recover.call_local()
    assert Recovery.objects.get().outcome == Outcome.OPEN
    with time_machine.travel(now + timedelta(days=3), tick=False):
        tasks.recover.call_local()

    # then the recovery opened, then was lost
    assert Recovery.objects.get().outcome == Outcome.LOST


def test_a_batch_with_no_open_recovery_costs_one_query(
    rule, abandoned, send, copy, engine, now, django_assert_num_queries
):
    from lastmile.customers.services.timeline import InteractionRow

    rows = [
        InteractionRow(
            customer_id=1,
            channel="web",
            direction="inbound",
            occurred_at=now,
            data={"type": "track", "event": "Order Completed"},
            pk=1,
        ),
        InteractionRow(customer_id=1, channel="email", direction="inbound", occurred_at=now),
    ]

    with django_assert_num_queries(1):
        assert recoveries_react(rows=rows, now=now) == 0
    with django_assert_num_queries(0):
        assert recoveries_react(rows=rows[1:], now=now) == 0

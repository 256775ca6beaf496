"""The triggers over stored mentions: alerts, their acknowledgement loops and escalation.

Given three days of ordinary chatter about a brand and a card outage 30 minutes ago, the
triggers raise one alert that says what fired and why, open an acknowledgement loop due in
15 minutes owned by the term's team (no customer), and tell the team lead through the outbox.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.core.errors import Conflict, InvalidInput
from lastmile.crisis import detectors as det
from lastmile.crisis.models import Alert, AlertState, DetectorState
from lastmile.crisis.services.alerts import alert_acknowledge, alert_resolve
from lastmile.crisis.services.triggers import detector_sensitivity_set, triggers_run
from lastmile.customers.models import Identity
from lastmile.listening.models import Mention
from lastmile.loops.models import Loop, LoopEvent
from lastmile.loops.services import loop_close, loops_sweep
from tests.crisis.mentions import (
    authors_make,
    chatter,
    mentions_make,
    outage_history,
    spike,
    term_make,
)

pytestmark = pytest.mark.django_db


def state_snapshot():
    return {
        (s.term_id, s.signal): (s.state, s.last_bucket_end)
        for s in DetectorState.objects.order_by("pk")
    }


# --- what an alert records ----------------------------------------------------------------------


def test_an_outage_raises_one_alert_that_says_what_fired_and_why(term, outage, now):
    # When the triggers run
    result = triggers_run(now=now)

    # Then one alert: the strongest signal of the outage's first bucket leads it
    (alert,) = Alert.objects.all()
    assert result.alerts == [alert.pk]
    assert alert.term == term and alert.team == term.team and alert.state == AlertState.OPEN
    assert alert.bucket_start == outage["spike_at"]
    assert alert.bucket_end == outage["spike_at"] + det.BUCKET
    assert alert.signal == det.NEGATIVE_VOLUME
    assert alert.observed == 48  # 80 % of the bucket's 60 mentions
    assert 0 < alert.baseline < 3  # about one negative mention per bucket before
    assert alert.score >= alert.threshold == 0.5
    # and the outage's other signals joined it: one incident, one room
    also = {a["signal"] for a in alert.details["also"]}
    assert also == {det.VOLUME, det.NEGATIVE_SHARE, det.CONCENTRATION}
    assert result.merged == 3
    assert alert.details["mentions"] == 60 and alert.details["negative"] == 48
    assert alert.details["top_source"] == "twitter"


def test_the_top_mentions_are_the_negative_ones_of_the_spike_biggest_first(term, outage, now):
    triggers_run(now=now)
    alert = Alert.objects.get()
    top = [Mention.objects.get(pk=i) for i in alert.top_mentions]
    assert len(top) == 10
    assert all(m.sentiment_label == "negative" for m in top)
    assert all(
        alert.bucket_start - timedelta(minutes=10) <= m.posted_at < alert.bucket_end for m in top
    )
    assert [m.likes for m in top] == sorted((m.likes for m in top), reverse=True)
    assert top[0].likes == 47  # the most liked negative mention of the bucket
    assert alert.top_authors[0]["mentions"] >= alert.top_authors[-1]["mentions"]
    assert {"id", "handle", "network", "mentions", "influence"} <= set(alert.top_authors[0])


def test_the_brands_own_posts_are_not_counted(term, now):
    # Given only the brand's own replies, in a burst
    authors = authors_make(3, now=now, prefix="brand")
    chatter(term, authors, start=now - timedelta(days=3), end=now - timedelta(minutes=30), now=now)
    burst = spike(term, authors, start=now - timedelta(minutes=30), buckets=3, now=now)
    Mention.objects.filter(pk__in=[m.pk for m in burst]).update(is_from_brand=True)
    # When the triggers run, nothing fires: answering a crisis is not a crisis
    assert triggers_run(now=now).alerts == []


def test_a_competitor_term_is_watched_for_chatter_only(team, lead, now):
    rival = term_make(team=team, now=now, name="Other Bank", kind="competitor")
    outage_history(rival, now=now)
    triggers_run(now=now)
    assert set(DetectorState.objects.filter(term=rival).values_list("signal", flat=True)) == {
        det.COMPETITOR
    }
    (alert,) = Alert.objects.filter(term=rival)
    assert alert.signal == det.COMPETITOR and alert.observed == 60


# --- running state ----------------------------------------------------------------------------


def test_running_again_at_the_same_time_changes_nothing(term, outage, now):
    triggers_run(now=now)
    before = state_snapshot()
    again = triggers_run(now=now)
    assert again.buckets == 0 and again.alerts == []
    assert state_snapshot() == before
    assert Alert.objects.count() == 1 and Loop.objects.filter(kind="ack").count() == 1


def test_a_bucket_is_closed_a_minute_after_it_ends(term, now):
    triggers_run(now=now.replace(minute=6))  # 10:06: the 10:00 bucket is complete
    assert {s.last_bucket_end for s in DetectorState.objects.all()} == {now.replace(minute=5)}
    triggers_run(now=now.replace(minute=10, second=59))  # 10:10:59: 10:05 not yet
    assert {s.last_bucket_end for s in DetectorState.objects.all()} == {now.replace(minute=5)}
    triggers_run(now=now.replace(minute=11))
    assert {s.last_bucket_end for s in DetectorState.objects.all()} == {now.replace(minute=10)}


def test_a_run_stopped_and_resumed_ends_where_one_uninterrupted_run_ends(term, outage, now):
    # Given one run over the whole history
    whole = triggers_run(now=now)
    alerts_whole = list(Alert.objects.values_list("signal", "bucket_start", "score", "observed"))
    states_whole = state_snapshot()

    # When the same history is scored by a worker that stops and restarts many times (every
    # run loads the state the last one saved, from the database)
    Alert.objects.all().delete()
    DetectorState.objects.all().delete()
    # (the first run after the first mention's bucket, so both start at that bucket)
    start = now - timedelta(days=3)
    step = timedelta(hours=5, minutes=17)
    at = start + timedelta(minutes=6)
    while at < now:
        triggers_run(now=at)
        at += step
    triggers_run(now=now)

    # Then the states are the same, bit for bit, and so are the alerts
    assert state_snapshot() == states_whole
    assert (
        list(Alert.objects.values_list("signal", "bucket_start", "score", "observed"))
        == alerts_whole
    )
    assert whole.buckets > 3000


def test_one_open_alert_per_term_and_signal(term, outage, now):
    # Given the outage's alert, still open
    triggers_run(now=now)
    alert = Alert.objects.get()
    # and a detector allowed to fire again at once (its own day-long quiet period cut short)
    state = DetectorState.objects.get(term=term, signal=alert.signal)
    state.state = {**state.state, "suppress": 1, "quiet_until": 0}
    state.save()
    # When a second outage comes an hour later
    spike(term, outage["authors"], start=now + timedelta(minutes=30), buckets=3, now=now)
    result = triggers_run(now=now + timedelta(hours=1))
    # Then it is not a second alert
    assert result.deduplicated >= 1 and result.alerts == []
    assert Alert.objects.count() == 1


def test_once_resolved_a_new_outage_raises_a_new_alert(term, outage, now):
    triggers_run(now=now)
    alert_resolve(alert=Alert.objects.get(), actor=None, now=now)
    # The outage's evidence has died down by 10:25; then the detectors' day-long quiet
    # period is cut short, so a second outage can fire them.
    triggers_run(now=now + timedelta(minutes=26))
    for state in DetectorState.objects.filter(term=term):
        state.state = {**state.state, "suppress": 1, "quiet_until": 0}
        state.save()
    spike(term, outage["authors"], start=now + timedelta(minutes=30), buckets=3, now=now)
    result = triggers_run(now=now + timedelta(hours=1))
    (new,) = Alert.objects.filter(state=AlertState.OPEN)
    assert result.alerts == [new.pk]
    assert new.bucket_start == now + timedelta(minutes=30)


def test_a_lower_sensitivity_lets_the_same_outage_pass(term, outage, admin_user, now):
    # fires at score 0.99
    detector_sensitivity_set(term=term, sensitivity=0.01, actor=admin_user, now=now)
    assert triggers_run(now=now).alerts == []
    assert set(DetectorState.objects.values_list("sensitivity", flat=True)) == {0.01}


@pytest.mark.parametrize("value", [0.0, 1.0, -0.2, 1.5])
def test_a_sensitivity_outside_zero_to_one_is_refused(term, admin_user, now, value):
    with pytest.raises(InvalidInput) as exc:
        detector_sensitivity_set(term=term, sensitivity=value, actor=admin_user, now=now)
    assert exc.value.errors[0].field == "sensitivity"


def test_one_new_bucket_costs_a_fixed_number_of_queries(
    term, outage, now, django_assert_num_queries
):
    triggers_run(now=now)
    later = now + timedelta(minutes=5)
    # terms; states present?; lock the states; the bucket's mentions; save the states — and
    # the savepoint around the term's transaction (a BEGIN/COMMIT outside a test).
    with django_assert_num_queries(7):
        result = triggers_run(now=later)
    assert result.buckets == 4


# --- the acknowledgement loop --------------------------------------------------------------------


def test_the_alert_opens_the_teams_own_ack_loop_due_in_15_minutes(term, outage, now, lead):
    triggers_run(now=now)
    alert = Alert.objects.get()
    loop = alert.ack_loop
    assert loop.kind == "ack" and loop.state == "open"
    assert loop.due_at == now + timedelta(minutes=15)
    assert loop.team == term.team and loop.assignee == lead
    # Owed by the team, not to a customer: no pseudo-customer for the brand or the term.
    assert loop.customer_id is None
    assert not Identity.objects.exists()


def test_a_term_with_no_team_raises_an_alert_with_no_ack_loop(now):
    term = term_make(team=None, now=now)
    outage_history(term, now=now)
    triggers_run(now=now)
    alert = Alert.objects.get()
    assert alert.ack_loop is None and alert.details["notified"] is None
    assert not Loop.objects.exists()


def test_the_lead_is_told_through_the_outbox(term, outage, now, lead):
    triggers_run(now=now)
    alert = Alert.objects.get()
    (message,) = OutboxMessage.objects.all()
    assert message.key == f"alert:{alert.pk}:raised"
    assert message.purpose == "notification" and message.recipient == lead.email
    assert f"/alerts/{alert.pk}/" in message.body
    assert "15 minutes" in message.body


def test_an_alert_nobody_acknowledges_escalates_and_breaches_at_15_minutes(term, outage, now, lead):
    triggers_run(now=now)
    loop = Alert.objects.get().ack_loop
    # 75 %: the owner (the lead) is reminded
    loops_sweep(now=now + timedelta(minutes=11, seconds=15))
    assert OutboxMessage.objects.filter(key=f"loop:{loop.pk}:level:1").exists()
    # The minute before the deadline: not breached
    loops_sweep(now=now + timedelta(minutes=14))
    loop.refresh_from_db()
    assert loop.breached_at is None
    # The minute of: breached, and the lead hears of it
    loops_sweep(now=now + timedelta(minutes=15))
    loop.refresh_from_db()
    assert loop.breached_at == now + timedelta(minutes=15)
    assert LoopEvent.objects.filter(loop=loop, kind="breached").exists()
    assert OutboxMessage.objects.get(key=f"loop:{loop.pk}:level:2").recipient == lead.email


def test_acknowledging_closes_the_loop_and_nothing_escalates_after(term, outage, now, bob):
    triggers_run(now=now)
    alert = alert_acknowledge(alert=Alert.objects.get(), actor=bob, now=now + timedelta(minutes=3))
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == bob
    loop = Loop.objects.get(pk=alert.ack_loop_id)
    assert loop.state == "closed"
    assert LoopEvent.objects.get(loop=loop, kind="closed").actor == bob
    loops_sweep(now=now + timedelta(hours=1))
    loop.refresh_from_db()
    assert loop.breached_at is None
    assert not OutboxMessage.objects.filter(key__startswith=f"loop:{loop.pk}:").exists()


def test_acknowledging_twice_is_a_conflict(term, outage, now, bob):
    triggers_run(now=now)
    alert = alert_acknowledge(alert=Alert.objects.get(), actor=bob, now=now)
    with pytest.raises(Conflict):
        alert_acknowledge(alert=alert, actor=bob, now=now)
    assert Alert.objects.get().acknowledged_at == now


def test_closing_the_ack_loop_elsewhere_acknowledges_the_alert(term, outage, now, bob):
    triggers_run(now=now)
    alert = Alert.objects.get()
    loop_close(loop=alert.ack_loop, actor=bob, reason="seen it", now=now + timedelta(minutes=2))
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED
    assert alert.acknowledged_at == now + timedelta(minutes=2)


def test_resolving_an_unacknowledged_alert_acknowledges_it_and_closes_the_loop(
    term, outage, now, bob
):
    triggers_run(now=now)
    alert = alert_resolve(alert=Alert.objects.get(), actor=bob, now=now)
    assert alert.state == AlertState.RESOLVED and alert.acknowledged_at == now
    assert Loop.objects.get(pk=alert.ack_loop_id).state == "closed"


def test_the_periodic_task_runs_the_triggers_at_the_clocks_time(term, outage, now):
    import time_machine

    from lastmile.crisis.tasks import run_triggers

    with time_machine.travel(now, tick=False):
        run_triggers.call_local()
    assert Alert.objects.count() == 1


def test_a_term_without_mentions_starts_at_the_current_bucket(term, now):
    triggers_run(now=now)
    assert {s.last_bucket_end for s in DetectorState.objects.all()} == {now - timedelta(minutes=5)}
    assert DetectorState.objects.count() == 4


def test_history_older_than_two_weeks_is_not_scored(term, now):
    authors = authors_make(2, now=now)
    mentions_make(term, [{"posted_at": now - timedelta(days=40), "author": authors[0]}], now=now)
    triggers_run(now=now)
    first = DetectorState.objects.first()
    assert first.state["n"] == 14 * 288  # 14 days of buckets up to the 09:55 horizon

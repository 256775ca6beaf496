"""Starting the run and the notices it sends, with the real outbox rows: a departure notice
with the ETA, the tracking link and the PIN where needed (once per job); a delay notice at
most once when the ETA passes the window's end by more than the grace, with a recovery loop
for the owning team; "back on time" if it recovers; the quiet-hours exception for same-day
notices; and the driver's page's "start my run" replayed with its Idempotency-Key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from lastmile.channels.models import ContactRule, OutboxMessage, OutboxStatus
from lastmile.channels.services import outbox_deliver
from lastmile.core.errors import Conflict
from lastmile.jobs import runs, services
from lastmile.jobs.models import Job, JobEvent
from lastmile.loops.models import Loop, LoopKind, LoopState
from tests.customers.factories import IdentityFactory
from tests.jobs.conftest import TUESDAY_12, book

TUESDAY_9 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def reachable(customer):
    IdentityFactory(customer=customer, kind="email", value="priya@example.com")
    return customer


@pytest.fixture
def run(team, reachable, case, morning, now, alice):
    """Alice's two stops on Tuesday morning: a signed delivery, then one needing a PIN."""
    first = book(team, reachable, morning, now=now, case=case, assignee=alice)
    second = book(team, reachable, morning, now=now, assignee=alice, proofs=("pin",))
    Job.objects.filter(pk=first.pk).update(stop_order=1)
    Job.objects.filter(pk=second.pk).update(stop_order=2)
    return Job.objects.get(pk=first.pk), Job.objects.get(pk=second.pk)


def notices(kind=None):  # type: ignore[no-untyped-def]
    qs = OutboxMessage.objects.filter(key__startswith="job:").order_by("key")
    return [m for m in qs if kind is None or m.key.endswith(f":{kind}")]


def test_eta_plan_waits_for_the_window_then_adds_service_and_travel():
    w = (datetime(2026, 11, 24, 10, tzinfo=UTC), datetime(2026, 11, 24, 12, tzinfo=UTC))
    etas = runs.eta_plan(
        [w, w, w], start=TUESDAY_9, travel=timedelta(minutes=20), service=timedelta(minutes=15)
    )
    assert [e.strftime("%H:%M") for e in etas] == ["10:00", "10:35", "11:10"]


def test_starting_the_run_tells_each_customer_once_with_eta_link_and_pin(run, alice):
    first, second = run

    runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)

    sent = notices("departure")
    assert [m.key for m in sent] == [f"job:{first.pk}:departure", f"job:{second.pk}:departure"]
    one, two = sent
    assert one.recipient == "priya@example.com" and one.channel == "email"
    assert one.purpose == runs.PURPOSE_SAME_DAY
    assert "expected at 10:00 UTC" in one.subject
    assert services.tracking_url(first) in one.body
    assert "PIN" not in one.body  # a signature job: no PIN to read
    assert "expected at 10:35 UTC" in two.subject
    assert f"Please read this PIN to the driver: {second.pin}" in two.body
    first.refresh_from_db()
    assert first.eta == datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert JobEvent.objects.filter(job=first, kind="departed").count() == 1
    assert not notices("delay")


def test_a_customer_without_an_address_is_not_told_and_the_run_still_starts(
    team, customer, morning, now, alice
):
    job = book(team, customer, morning, now=now, assignee=alice)
    started = runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    assert started.stops[0]["job"] == job.pk
    assert notices() == []
    assert not JobEvent.objects.filter(job=job, kind="departed").exists()


def test_a_text_message_when_the_customer_has_only_a_phone_and_sms_is_set(
    settings, team, customer, morning, now, alice
):
    settings.LASTMILE_JOBS_NOTICE_SMS = "twilio"
    IdentityFactory(customer=customer, kind="phone", value="+447700900789")
    book(team, customer, morning, now=now, assignee=alice)
    runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    (message,) = notices()
    assert (message.channel, message.recipient) == ("sms:twilio", "+447700900789")
    assert message.data["integration"] == "twilio" and message.subject == ""


def test_the_delay_notice_waits_for_the_grace_and_goes_once_with_a_recovery_loop(run, alice):
    job, _ = run
    end = job.window_end  # 12:00

    # An ETA 15 minutes past the window's end is within the grace: nothing
    runs.eta_update(job=job, eta=end + timedelta(minutes=15), actor=None, now=TUESDAY_9)
    assert notices("delay") == []
    assert not Loop.objects.filter(kind=LoopKind.RECOVERY).exists()

    # A minute more: one delay notice and a recovery loop for the owning team
    runs.eta_update(job=job, eta=end + timedelta(minutes=16), actor=None, now=TUESDAY_9)
    (delay,) = notices("delay")
    assert "running late" in delay.subject and "12:16 UTC" in delay.subject
    loop = Loop.objects.get(kind=LoopKind.RECOVERY)
    assert (loop.team_id, loop.customer_id, loop.case_id) == (
        job.team_id,
        job.customer_id,
        job.case_id,
    )
    assert loop.state == LoopState.OPEN and loop.due_at == end

    # Later still: no second notice, no second loop
    runs.eta_update(job=job, eta=end + timedelta(minutes=40), actor=None, now=TUESDAY_9)
    assert len(notices("delay")) == 1
    assert Loop.objects.filter(kind=LoopKind.RECOVERY).count() == 1


def test_back_on_time_is_told_once_and_closes_the_loop_and_a_new_delay_tells_nobody(run):
    job, _ = run
    end = job.window_end
    runs.eta_update(job=job, eta=end + timedelta(minutes=30), actor=None, now=TUESDAY_9)

    runs.eta_update(job=job, eta=end - timedelta(minutes=10), actor=None, now=TUESDAY_9)

    (back,) = notices("on-time")
    assert "back on time" in back.subject and "11:50 UTC" in back.subject
    assert Loop.objects.get(kind=LoopKind.RECOVERY).state == LoopState.CLOSED

    # Late again: the team gets a new loop, the customer no second delay notice
    runs.eta_update(job=job, eta=end + timedelta(minutes=45), actor=None, now=TUESDAY_9)
    assert len(notices("delay")) == 1 and len(notices("on-time")) == 1
    assert Loop.objects.filter(kind=LoopKind.RECOVERY, state=LoopState.OPEN).count() == 1
    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds.count("delayed") == 2 and kinds.count("on_time") == 1


def test_a_finished_job_is_left_alone(run):
    job, _ = run
    Job.objects.filter(pk=job.pk).update(state="completed")
    runs.eta_update(job=job, eta=job.window_end + timedelta(hours=2), actor=None, now=TUESDAY_9)
    assert notices() == [] and not Loop.objects.filter(kind=LoopKind.RECOVERY).exists()


def test_a_late_stop_at_departure_gets_the_delay_notice_too(settings, run, alice):
    settings.LASTMILE_JOBS_TRAVEL_MINUTES = 150  # the second stop lands at 14:15
    runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    _, second = run
    assert [m.key for m in notices("delay")] == [f"job:{second.pk}:delay"]


@pytest.fixture
def quiet_mornings(db):
    """The delivery rule's quiet hours cover 06:00–10:00 (the customer's time: UTC)."""
    return ContactRule.objects.create(purpose=runs.PURPOSE, quiet_start=time(6), quiet_end=time(10))


def test_same_day_notices_pass_the_quiet_hours_under_the_exception(run, alice, quiet_mornings):
    runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    outbox_deliver(now=TUESDAY_9)
    assert {m.status for m in notices()} == {OutboxStatus.SENT}


def test_without_the_exception_the_quiet_hours_hold_them(settings, run, alice, quiet_mornings):
    settings.LASTMILE_JOBS_SAME_DAY_QUIET_EXCEPTION = False
    runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    outbox_deliver(now=TUESDAY_9)
    held = notices()
    assert {m.status for m in held} == {OutboxStatus.PENDING}
    assert {m.rule_check for m in held} == {"quiet_hours"}
    assert {m.next_attempt_at for m in held} == {datetime(2026, 11, 24, 10, tzinfo=UTC)}


def test_start_my_run_from_the_page_is_answered_once_per_key(client, run, alice):
    client.force_login(alice)
    with time_machine.travel(TUESDAY_9, tick=False):
        first = client.post(
            "/jobs/driver/run/start",
            data=json.dumps({"date": "2026-11-24"}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="run-1",
        )
    with time_machine.travel(TUESDAY_12, tick=False):
        again = client.post(
            "/jobs/driver/run/start",
            data=json.dumps({"date": "2026-11-24"}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="run-1",
        )
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert [s["eta"] for s in first.json()["stops"]] == [
        "2026-11-24T10:00:00+00:00",
        "2026-11-24T10:35:00+00:00",
    ]
    assert len(notices("departure")) == 2
    assert JobEvent.objects.filter(kind="eta").count() == 2  # the replay ran nothing


# --- "today" and "same day" in the team's time zone ------------------------------------------


@pytest.fixture
def tokyo(team):
    """The team works in Tokyo (UTC+9): its visit loops' policy has Tokyo's business hours."""
    from lastmile.loops.models import BusinessHours, SlaPolicy

    hours = BusinessHours.objects.create(
        name="Tokyo office",
        timezone="Asia/Tokyo",
        weekly={d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    return SlaPolicy.objects.create(
        name="Tokyo visits", kind="visit", team=team, business_hours=hours, position=1
    )


def tokyo_tuesday(team, reachable, now, alice):  # type: ignore[no-untyped-def]
    """Two stops on Tuesday 24 November in Tokyo: 01:00 JST (Monday 16:00 UTC) and 10:00 JST
    (Tuesday 01:00 UTC)."""
    early = services.slot_create(
        team=team,
        starts_at=datetime(2026, 11, 23, 16, tzinfo=UTC),
        ends_at=datetime(2026, 11, 23, 18, tzinfo=UTC),
        capacity=2,
    )
    morning = services.slot_create(
        team=team,
        starts_at=datetime(2026, 11, 24, 1, tzinfo=UTC),
        ends_at=datetime(2026, 11, 24, 3, tzinfo=UTC),
        capacity=2,
    )
    return (
        book(team, reachable, early, now=now, assignee=alice),
        book(team, reachable, morning, now=now, assignee=alice),
    )


def test_a_drivers_day_is_the_teams_local_day(team, reachable, now, alice, tokyo):
    # Given two stops on Tokyo's Tuesday, one of them on UTC's Monday
    early, later = tokyo_tuesday(team, reachable, now, alice)

    # Then Tuesday's run has both, Monday's neither
    monday, tuesday = datetime(2026, 11, 23).date(), datetime(2026, 11, 24).date()
    assert [j.pk for j in runs.run_stops(driver=alice, day=tuesday)] == [early.pk, later.pk]
    assert runs.run_stops(driver=alice, day=monday) == []

    # and at 20:00 UTC on Monday it is already Tuesday for the Tokyo driver
    assert runs.driver_today(driver=alice, now=datetime(2026, 11, 23, 20, tzinfo=UTC)) == tuesday
    assert runs.driver_today(driver=alice, now=datetime(2026, 11, 23, 14, tzinfo=UTC)) == monday


def test_without_business_hours_the_day_is_utcs(team, reachable, now, alice):
    early, later = tokyo_tuesday(team, reachable, now, alice)
    monday = datetime(2026, 11, 23).date()
    assert [j.pk for j in runs.run_stops(driver=alice, day=monday)] == [early.pk]
    assert runs.driver_today(driver=alice, now=datetime(2026, 11, 23, 20, tzinfo=UTC)) == monday


def test_the_same_day_exception_is_judged_in_the_teams_time_zone(
    team, reachable, now, alice, tokyo
):
    # Given the 10:00 JST stop, and the driver leaving at 08:30 JST (23:30 UTC on Monday)
    _, later = tokyo_tuesday(team, reachable, now, alice)
    left = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)

    runs.eta_update(job=later, eta=later.window_start, actor=alice, now=left, depart=True)

    # Then the departure notice is a same-day one (UTC would call it the day before)
    [notice] = notices("departure")
    assert notice.purpose == runs.PURPOSE_SAME_DAY


def test_the_day_before_in_the_teams_time_zone_is_not_the_same_day(
    team, reachable, now, alice, tokyo
):
    # Leaving at 23:30 JST on Monday (14:30 UTC) for a Tuesday 10:00 JST stop
    _, later = tokyo_tuesday(team, reachable, now, alice)
    left = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
    runs.eta_update(job=later, eta=later.window_start, actor=alice, now=left, depart=True)
    [notice] = notices("departure")
    assert notice.purpose == runs.PURPOSE


# --- a run starts on its day only -----------------------------------------------------------


def test_a_run_for_another_day_than_the_drivers_today_is_refused(run, alice):
    # Given Tuesday's stops, on Monday evening (UTC: the team has no business hours)
    monday = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    with pytest.raises(Conflict) as refused:
        runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=monday)

    # Then nobody is told "on our way" a day early, and the refusal names the date
    assert refused.value.status == 409 and refused.value.errors[0].field == "date"
    assert "2026-11-24 is not today (2026-11-23" in refused.value.detail
    assert notices() == [] and not JobEvent.objects.filter(kind="eta").exists()
    # and on the day itself it starts, each stop's ETA also told in the team's zone
    started = runs.run_start(driver=alice, day=TUESDAY_9.date(), actor=alice, now=TUESDAY_9)
    assert [s["eta_words"] for s in started.stops] == ["10:00 UTC", "10:35 UTC"]


def test_the_page_refuses_a_run_for_tomorrow_and_offers_the_button_only_today(client, run, alice):
    client.force_login(alice)
    with time_machine.travel(datetime(2026, 11, 23, 18, 0, tzinfo=UTC), tick=False):
        page = client.get("/jobs/driver/?date=2026-11-24").content.decode()
        refused = client.post(
            "/jobs/driver/run/start",
            data=json.dumps({"date": "2026-11-24"}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="run-early",
        )
    assert 'id="run-start"' not in page and f'id="stop-{run[0].pk}"' in page
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "date"
    assert notices() == []
    with time_machine.travel(TUESDAY_9, tick=False):
        assert 'id="run-start"' in client.get("/jobs/driver/").content.decode()
        client.post(
            "/jobs/driver/run/start",
            data=json.dumps({"date": "2026-11-24"}),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="run-1",
        )
        # once started, the page no longer offers it
        assert 'id="run-start"' not in client.get("/jobs/driver/").content.decode()

"""The demo's delivery story, end to end, and the engineer's diagnostics visit: the call back
promised and kept, the test split on site with the customer's signed consent, the card
payment at the door, and part two as the next stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from lastmile.channels.models import OutboxMessage
from lastmile.demo import seed as demo_seed
from lastmile.demo.extensions import jobs, journeys, knowledge
from lastmile.invoices.models import Invoice
from lastmile.jobs.models import Job, JobChange, JobEvent, Proof
from lastmile.jobs.runs import driver_today, run_stops
from lastmile.loops.models import Loop, LoopKind
from lastmile.people.models import Agent
from lastmile.promises.models import Promise
from tests.demo.test_seed_demo import seed_quietly
from tests.demo_snapshot import demo_restore

pytestmark = pytest.mark.django_db


def test_the_delivery_story_runs_from_the_portal_to_the_paid_invoice(client, demo_snapshot):
    demo_restore(demo_snapshot)  # the run's one demo (tests/demo_snapshot.py)
    out = demo_snapshot.out

    tom = Job.objects.get(customer__display_name="Tom Baker")
    kinds = list(
        JobEvent.objects.filter(job=tom).order_by("at", "id").values_list("kind", flat=True)
    )
    assert kinds[:2] == ["created", "rescheduled"]  # booked, then moved in his portal
    assert {"departed", "delayed", "on_time", "started", "arrived", "proof", "completed"} <= set(
        kinds
    )
    notices = {
        m.data.get("notice") for m in OutboxMessage.objects.filter(key__startswith=f"job:{tom.pk}:")
    }
    assert {"departure", "delay", "on-time"} <= notices
    assert tom.state == "completed" and Proof.objects.filter(job=tom).count() == 1
    recovery = Loop.objects.get(kind=LoopKind.RECOVERY, customer=tom.customer)
    assert recovery.state == "closed"  # back on time
    assert Loop.objects.get(pk=tom.followup_loop_id).state == "open"
    invoice = Invoice.objects.get(source=f"job:{tom.pk}")
    assert invoice.state == "paid" and invoice.total == 39900 + 3500
    assert any("Tom Baker's washing machine" in line for line in out)


def test_margarets_visit_keeps_the_call_back_splits_the_test_with_consent_and_is_paid(
    client, demo_snapshot
):
    demo_restore(demo_snapshot)
    out = demo_snapshot.out

    visits = list(
        Job.objects.filter(kind="visit", customer__display_name="Margaret Ellis").order_by(
            "window_start"
        )
    )
    assert [v.state for v in visits] == ["completed", "scheduled"]
    done, part_two = visits
    assert done.case is not None and part_two.case_id == done.case_id

    # The call centre's promise of a call back within 30 minutes, kept in 10
    promise = Promise.objects.get(case=done.case, text__icontains="call you back")
    assert promise.state == "kept"
    assert promise.outcome_at - promise.made_at == timedelta(minutes=10)
    assert promise.due_at - promise.made_at == timedelta(minutes=30)

    # The test split on site, accepted by her signature, in the trail with before and after
    change = JobChange.objects.get(job=done)
    assert (change.state, change.consent) == ("accepted", "signature")
    assert len(change.before) == 2 and len(change.after) == 3
    event = JobEvent.objects.get(job=done, kind="changed")
    assert event.data["total_before"] == 4900 + 3500
    assert event.data["total_after"] == 4900 + 2500 + 2500

    # The invoice bills the accepted lines and was paid by card at the door
    invoice = Invoice.objects.get(source=f"job:{done.pk}")
    assert invoice.subtotal == 4900 + 2500 + 2500 and invoice.state == "paid"
    assert invoice.payments.get().method == "card_terminal"
    assert any("split on site" in line for line in out)

    # Part two is the next stop on the field engineer's page
    engineer = Agent.objects.get(user__username="field").user
    stops = run_stops(driver=engineer, day=part_two.window_start.date())
    ahead = [s for s in stops if s.state == "scheduled"]
    assert ahead and ahead[0].pk == part_two.pk


@pytest.mark.parametrize(
    "seeded",
    [
        datetime(2026, 11, 25, 23, 30, tzinfo=UTC),  # 23:30 in York (GMT)
        datetime(2026, 11, 26, 0, 30, tzinfo=UTC),  # 00:30
        datetime(2026, 11, 26, 0, 50, tzinfo=UTC),  # 00:50: part two planned after 00:30
        datetime(2026, 11, 26, 1, 55, tzinfo=UTC),  # 01:55
        datetime(2026, 11, 26, 13, 59, tzinfo=UTC),  # the end of an afternoon hour
        datetime(2026, 7, 15, 22, 10, tzinfo=UTC),  # 23:10 BST
    ],
)
def test_every_window_of_the_story_is_on_the_local_day_of_seeding(client, seeded, monkeypatch):
    # The core stories and the parts the delivery story stands on (journeys, for Margaret's
    # second visit) only: the other parts do not move its windows. No background customers
    # either: the jobs part gives them no job, and seeding them was most of the time.
    monkeypatch.setattr(demo_seed, "DEMO_EXTENSIONS", [knowledge, journeys, jobs])
    seed_quietly(seed=7, customers=0, now=seeded, funnel_events=0)
    zone = ZoneInfo("Europe/London")
    today = seeded.astimezone(zone).date()

    story = Job.objects.filter(customer__display_name__in=["Tom Baker", "Margaret Ellis"])
    assert story.count() == 3
    for job in story:
        assert job.window_start.astimezone(zone).date() == today, job
        assert job.window_end.astimezone(zone).date() == today, job
        assert job.window_start < job.window_end
    done = story.filter(state="completed")
    assert done.count() == 2 and all(j.completed_at <= seeded for j in done)

    # Part two is the next stop on the field engineer's page today
    engineer = Agent.objects.get(user__username="field").user
    part_two = Job.objects.get(customer__display_name="Margaret Ellis", state="scheduled")
    assert driver_today(driver=engineer, now=seeded) == today
    ahead = [s for s in run_stops(driver=engineer, day=today) if s.state == "scheduled"]
    assert ahead and ahead[0].pk == part_two.pk
    client.force_login(engineer)
    with time_machine.travel(seeded, tick=False):
        page = client.get("/jobs/driver/").content.decode()
    assert "Part two of the Wi-Fi test" in page

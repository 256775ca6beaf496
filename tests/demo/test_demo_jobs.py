"""The demo's delivery story, end to end, and the engineer's visit of the day."""

from __future__ import annotations

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.invoices.models import Invoice
from lastmile.jobs.models import Job, JobEvent, Proof
from lastmile.loops.models import Loop, LoopKind
from tests.demo.test_seed_demo import NOW, seed_quietly

pytestmark = pytest.mark.django_db


def test_the_delivery_story_runs_from_the_portal_to_the_paid_invoice(client):
    _report, out = seed_quietly(seed=7, customers=12, now=NOW, funnel_events=0)

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

    margaret = Job.objects.get(kind="visit", customer__display_name="Margaret Ellis")
    assert margaret.state == "scheduled" and margaret.case is not None

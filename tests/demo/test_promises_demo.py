"""The promises part of the demo: the hotel story happens through the real services."""

from __future__ import annotations

import pytest

from lastmile.loops.models import LoopState
from lastmile.people.viewers import SYSTEM
from lastmile.promises.models import Policy, Promise
from lastmile.promises.selectors import open_promises_for_customer, promise_kept_rate
from tests.demo_snapshot import demo_restored

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """The run's one demo (tests/demo_snapshot.py) for the module, rolled back afterwards."""
    with demo_restored(demo_snapshot, django_db_blocker) as demo:
        yield demo


def test_the_demo_has_the_occupancy_and_refund_blocks(demo):
    policies = {p.key: p.current for p in Policy.objects.select_related("current")}
    assert policies["occupancy-deluxe"].severity == "block"
    assert policies["occupancy-deluxe"].rule == "terms.adults <= 3"
    assert policies["goodwill-refund"].severity == "block"


def test_hannah_asked_for_the_extra_beds_exception_and_her_lead_approved_it(demo):
    beds = Promise.objects.get(terms__extra_beds=2)
    assert beds.terms == {"adults": 4, "extra_beds": 2, "room_type": "deluxe"}
    assert beds.made_by.username == "membership" and beds.made_by_name == "Hannah Moore"
    # Hannah asked for the exception (beyond her authority); Anil, her lead, approved it
    assert beds.recorded_by.username == "membership"
    assert beds.approval_by.username == "membership-lead"
    assert beds.overridden_by.username == "membership-lead"
    assert beds.approval_at > beds.made_at and beds.approval_reason
    assert beds.approval_loop.state == LoopState.CLOSED
    assert beds.approval_loop.team.slug == "membership"
    assert [(v["policy"], v["result"]) for v in beds.verdicts] == [("occupancy-deluxe", "fail")]
    assert beds.team.slug == "reception" and beds.state == "open"
    assert beds.loop.state == LoopState.OPEN and beds.loop.team.slug == "reception"
    # Her first attempt was refused, and the trail on the case says who asked and approved
    notes = beds.case.interactions
    assert notes.filter(body__contains="blocked by policy: occupancy-deluxe").exists()
    assert notes.filter(body__contains="Exception asked by Hannah Moore").exists()
    assert notes.filter(
        body__contains="Exception asked by Hannah Moore, approved by Anil Kapoor"
    ).exists()


def test_reception_sees_the_promise_with_its_author_at_check_in(demo):
    arrival_ref = demo.report.stories["hotel"][0]
    beds = Promise.objects.get(terms__extra_beds=2)
    assert beds.customer.cases.filter(number=int(arrival_ref.split("-")[1])).exists()
    [shown] = [p for p in open_promises_for_customer(customer=beds.customer) if p.pk == beds.pk]
    assert (shown.made_by_name, shown.made_by_team.slug, shown.channel) == (
        "Hannah Moore",
        "membership",
        "email",
    )


def test_the_refund_was_overridden_by_the_reception_lead_and_kept(demo):
    refund = Promise.objects.get(terms__refund_amount=60, terms__currency="GBP")
    assert refund.overridden_by.username == "reception-lead" and refund.state == "kept"


def test_the_broken_promise_has_a_followup_for_the_lead(demo):
    broken = Promise.objects.get(state="broken", team__slug="reception")  # the hotel story's
    assert broken.followup_loop.assignee.username == "reception-lead"
    assert broken.followup_loop.state == LoopState.OPEN


def test_the_kept_rate_has_something_to_show(demo):
    reception = {r.key: r for r in promise_kept_rate(by="team", viewer=SYSTEM)}["reception"]
    assert (reception.kept, reception.broken, reception.open) == (1, 1, 1)


def test_the_summary_names_the_promise_stories(demo):
    text = "\n".join(demo.out)
    assert "extra beds" in text and "goodwill refund" in text and "occupancy-deluxe" in text

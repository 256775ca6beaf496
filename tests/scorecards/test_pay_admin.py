"""The pay admin: plans with their metrics inline; adjustments added, then read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lastmile.scorecards.models import PayAdjustment, PayPlan

pytestmark = pytest.mark.django_db


def plan_form(team, **metric):  # type: ignore[no-untyped-def]
    return {
        "team": team.pk,
        "name": "Front office 2026",
        "active": "on",
        "min_quality_gate": "70",
        "overall_cap": "25",
        "metrics-TOTAL_FORMS": "1",
        "metrics-INITIAL_FORMS": "0",
        "metrics-0-position": "0",
        "metrics-0-metric": "on_time_rate",
        "metrics-0-target": "0.9",
        "metrics-0-weight": "10",
        "metrics-0-cap": "10",
        "metrics-0-higher_is_better": "on",
        **{f"metrics-0-{k}": v for k, v in metric.items()},
    }


def test_a_plan_is_made_with_its_metrics_inline(staff, team):
    r = staff.post("/admin/scorecards/payplan/add/", plan_form(team))
    assert r.status_code == 302, r.content.decode()[:2000]
    plan = PayPlan.objects.get(name="Front office 2026")
    assert [(m.metric, m.target, m.weight, m.cap) for m in plan.metrics.all()] == [
        ("on_time_rate", 0.9, Decimal("10.00"), Decimal("10.00"))
    ]


def test_a_metric_paying_for_more_breaches_is_refused(staff, team):
    form = plan_form(team, metric="breaches", target="3")  # higher_is_better still on
    r = staff.post("/admin/scorecards/payplan/add/", form)
    assert r.status_code == 200
    assert "for breaches it must be off" in r.content.decode()
    assert not PayPlan.objects.exists()


def test_an_adjustment_is_added_by_the_signed_in_admin(staff, admin_user, alice):
    r = staff.post(
        "/admin/scorecards/payadjustment/add/",
        {"agent": alice.pk, "month": "2026-11", "points": "3.5", "reason": "Weekend cover"},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    adj = PayAdjustment.objects.get()
    assert (adj.created_by, adj.points, adj.month) == (admin_user, Decimal("3.50"), "2026-11")


@pytest.mark.parametrize(
    ("field", "value"), [("month", "2026-13"), ("reason", ""), ("points", "5000")]
)
def test_a_bad_adjustment_is_refused_in_the_admin(staff, alice, field, value):
    form = {"agent": alice.pk, "month": "2026-11", "points": "3", "reason": "Cover"}
    r = staff.post("/admin/scorecards/payadjustment/add/", {**form, field: value})
    assert r.status_code == 200
    assert not PayAdjustment.objects.exists()


def test_an_adjustment_cannot_be_changed_or_deleted(staff, admin_user, alice, now):
    adj = PayAdjustment.objects.create(
        agent=alice,
        month="2026-11",
        points=Decimal("3"),
        reason="Cover",
        created_by=admin_user,
        created_at=now,
    )
    page = staff.get(f"/admin/scorecards/payadjustment/{adj.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    staff.post(
        f"/admin/scorecards/payadjustment/{adj.pk}/change/",
        {"agent": alice.pk, "month": "2026-10", "points": "9", "reason": "Edited"},
    )
    assert staff.get(f"/admin/scorecards/payadjustment/{adj.pk}/delete/").status_code == 403
    adj.refresh_from_db()
    assert (adj.month, adj.points, adj.reason) == ("2026-11", Decimal("3.00"), "Cover")


def test_disputes_are_read_only_in_the_admin(staff, team, alice, now):
    from lastmile.scorecards.models import PayDispute, PayPlanMetric
    from lastmile.scorecards.pay import pay_dispute_open

    plan = PayPlan.objects.create(team=team, name="Front", overall_cap=Decimal("25"))
    PayPlanMetric.objects.create(plan=plan, metric="loops_closed", target=4, weight=10, cap=12)
    d = pay_dispute_open(viewer=alice, month="2026-11", line="", reason="Too low", now=now)

    assert staff.get("/admin/scorecards/paydispute/").status_code == 200
    assert staff.get(f"/admin/scorecards/paydispute/{d.pk}/change/").status_code == 200
    assert staff.get("/admin/scorecards/paydispute/add/").status_code == 403
    r = staff.post(f"/admin/scorecards/paydispute/{d.pk}/change/", {"state": "answered"})
    assert r.status_code == 403 and PayDispute.objects.get().state == "open"


def test_an_admin_switches_a_digest_subscription_on_and_the_sent_list_renders(staff, alice):
    from lastmile.scorecards.models import DigestSubscription

    r = staff.post("/admin/scorecards/digestsubscription/add/", {"user": alice.pk, "active": "on"})

    assert r.status_code == 302, r.content.decode()[:2000]
    sub = DigestSubscription.objects.get()
    assert sub.user == alice and sub.active and sub.created_at is not None
    assert staff.get("/admin/scorecards/digestsubscription/").status_code == 200
    assert staff.get("/admin/scorecards/digestsent/").status_code == 200

"""The pay statement page (/scorecards/pay/): an agent's own statement, a lead's table of
their teams' statements, adjustments and disputes from the page, the payroll exports with
the session, and the empty states."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from lastmile.loops.models import Loop
from lastmile.loops.services import loop_close, loop_open
from lastmile.scorecards.models import PayAdjustment, PayDispute
from lastmile.scorecards.pay import pay_dispute_open
from tests.people.factories import UserFactory, team_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]
NOV = "/scorecards/pay/?month=2026-11"


@pytest.fixture
def otto(other_team):  # type: ignore[no-untyped-def]
    return team_lead(other_team, "otto")


@pytest.fixture
def work(plan, customer, team, alice, now):  # type: ignore[no-untyped-def]
    """Alice closed 3 loops on time in November."""
    for _ in range(3):
        loop = loop_open(
            customer=customer,
            kind="task",
            title="Task",
            team=team,
            assignee=alice,
            due_at=now + timedelta(hours=4),
            now=now,
        )
        loop_close(loop=loop, now=now + timedelta(hours=1))


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def test_an_agent_sees_their_own_statement_line_by_line(client, work, alice, lena):
    client.force_login(alice)

    r = client.get(NOV)

    assert r.status_code == 200
    page = text(r)
    assert "Your pay statement for November 2026" in page
    assert 'id="line-on_time_rate"' in page and 'id="line-loops_closed"' in page
    assert "Loops closed 3 against a target of 4: 7.5 of 12 points" in page
    assert "No quality gate in this plan." in page
    assert "Total: 17.50 points" in page
    assert 'id="pay-dispute-form"' in page
    assert 'id="pay-adjust-form"' not in page and "pay-export-csv" not in page


def test_an_agent_asking_for_a_teammates_statement_gets_404(client, work, alice, bob):
    client.force_login(bob)
    r = client.get(NOV + "&agent=alice")
    assert r.status_code == 404 and "Total:" not in text(r)


def test_the_default_month_is_the_last_complete_one(client, work, alice):
    client.force_login(alice)
    page = text(client.get("/scorecards/pay/"))
    assert "for October 2026" in page


def test_a_bad_month_says_so(client, plan, alice):
    client.force_login(alice)
    r = client.get("/scorecards/pay/?month=2026-13")
    assert r.status_code == 422 and 'id="pay-error"' in text(r)


def test_a_lead_sees_a_table_of_their_teams_statements_with_exports(
    client, work, alice, bob, lena, charlie
):
    client.force_login(lena)

    page = text(client.get(NOV))

    assert 'id="pay-table"' in page
    assert 'id="pay-row-alice"' in page and 'id="pay-row-bob"' in page
    assert "pay-row-charlie" not in page
    assert 'href="/scorecards/pay/?month=2026-11&amp;agent=alice"' in page
    assert 'id="pay-export-csv"' in page and 'id="pay-export-xlsx"' in page


def test_another_teams_lead_sees_the_empty_state(client, work, otto):
    client.force_login(otto)
    page = text(client.get(NOV))
    assert 'id="pay-empty"' in page and "No active pay plan covers the teams" in page


def test_a_user_without_an_agent_profile_sees_the_empty_state(client, plan):
    client.force_login(UserFactory(username="nobody"))
    page = text(client.get(NOV))
    assert 'id="pay-empty"' in page and "No agent profile" in page


def test_an_agent_without_a_plan_is_told_so(client, plan, charlie):
    client.force_login(charlie)
    page = text(client.get(NOV))
    assert "No active pay plan covers your teams" in page


def test_a_lead_adds_an_adjustment_from_the_page(client, work, alice, lena):
    client.force_login(lena)

    r = client.post(
        "/scorecards/pay/adjust/",
        {"agent": "alice", "month": "2026-11", "points": "2.5", "reason": "Covered a shift"},
    )

    assert r.status_code == 302 and r["Location"].endswith("agent=alice#adjustments")
    a = PayAdjustment.objects.get()
    assert (a.points, a.reason, a.created_by) == (Decimal("2.50"), "Covered a shift", lena)
    page = text(client.get(NOV + "&agent=alice"))
    assert "Covered a shift" in page and "Total: 20.00 points" in page


def test_an_adjustment_without_a_reason_is_refused_on_the_page(client, work, alice, lena):
    client.force_login(lena)
    r = client.post(
        "/scorecards/pay/adjust/",
        {"agent": "alice", "month": "2026-11", "points": "2", "reason": ""},
    )
    assert r.status_code == 422 and "a reason is required" in text(r)
    assert not PayAdjustment.objects.exists()


def test_an_agent_cannot_adjust_from_the_page(client, work, alice, bob):
    client.force_login(bob)
    r = client.post(
        "/scorecards/pay/adjust/",
        {"agent": "alice", "month": "2026-11", "points": "2", "reason": "Friend"},
    )
    assert r.status_code == 403 and not PayAdjustment.objects.exists()


def test_dispute_then_answer_then_the_agent_reads_it(client, work, alice, lena):
    client.force_login(alice)
    r = client.post(
        "/scorecards/pay/dispute/",
        {"month": "2026-11", "line": "loops_closed", "reason": "I closed five"},
    )
    assert r.status_code == 302 and r["Location"].endswith("#disputes")
    dispute = PayDispute.objects.get()
    assert Loop.objects.get(pk=dispute.loop_id).assignee == lena
    page = text(client.get(NOV))
    assert "I closed five" in page and "Waiting for the lead" in page and "disputed" in page

    client.force_login(lena)
    lead_page = text(client.get(NOV + "&agent=alice"))
    assert f'id="dispute-{dispute.pk}-form"' in lead_page
    r = client.post(
        f"/scorecards/pay/disputes/{dispute.pk}/answer/",
        {"answer": "Two were Bob's, three yours; adding one for the mix-up", "points": "1"},
    )
    assert r.status_code == 302 and r["Location"].endswith(f"#dispute-{dispute.pk}")
    table = text(client.get(NOV))
    assert 'id="pay-row-alice"' in table

    client.force_login(alice)
    page = text(client.get(NOV))
    assert "Two were Bob&#x27;s, three yours" in page
    assert "+1.00 points added to the statement" in page
    assert "Total: 18.50 points" in page


def test_a_second_dispute_on_the_line_is_refused_on_the_page(client, work, alice, lena, now):
    pay_dispute_open(viewer=alice, month="2026-11", line="", reason="x", now=now)
    client.force_login(alice)
    r = client.post("/scorecards/pay/dispute/", {"month": "2026-11", "line": "", "reason": "y"})
    assert r.status_code == 409 and "still open" in text(r)
    assert PayDispute.objects.count() == 1


def test_an_outsider_answering_gets_404(client, work, alice, otto, now):
    d = pay_dispute_open(viewer=alice, month="2026-11", line="", reason="x", now=now)
    client.force_login(otto)
    r = client.post(f"/scorecards/pay/disputes/{d.pk}/answer/", {"answer": "No"})
    assert r.status_code == 404
    assert PayDispute.objects.get().state == "open"


def test_the_lead_exports_csv_with_the_session_and_the_agent_may_not(
    client, work, alice, lena, now
):
    pay_dispute_open(viewer=alice, month="2026-11", line="", reason="x", now=now)
    client.force_login(lena)
    r = client.get("/scorecards/pay/export.csv?month=2026-11")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode())))
    assert {row["agent"]: row["disputes_open"] for row in rows} == {"alice": "1", "lena": "0"}
    x = client.get("/scorecards/pay/export.xlsx?month=2026-11")
    assert x.status_code == 200 and x.content[:2] == b"PK"

    client.force_login(alice)
    assert client.get("/scorecards/pay/export.csv?month=2026-11").status_code == 403


def test_the_pages_need_a_login(client):
    assert client.get(NOV).status_code == 302
    assert client.get("/scorecards/digest/").status_code == 302


def test_a_lead_disputes_their_own_statement_and_comes_back_to_it(client, work, lena, admin_user):
    client.force_login(lena)
    table = text(client.get(NOV))
    assert 'id="pay-mine"' in table

    r = client.post("/scorecards/pay/dispute/", {"month": "2026-11", "line": "", "reason": "Low"})

    assert r.status_code == 302 and "agent=lena" in r["Location"]
    page = text(client.get(r["Location"]))
    assert "Your pay statement" in page and 'id="pay-adjust-form"' not in page
    dispute = PayDispute.objects.get()
    assert f'id="dispute-{dispute.pk}-form"' not in page  # nobody answers their own

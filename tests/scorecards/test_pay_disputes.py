"""Pay disputes: an agent disputes a line of their month's statement (or the whole of it), a
``dispute`` loop opens for the lead, the lead answers (with an adjustment or not) and the
loop closes; who sees and answers what; the open disputes in the payroll export."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

import pytest
from django.db import connection

from lastmile.channels.models import OutboxMessage
from lastmile.core.errors import Conflict, InvalidInput, PermissionDenied
from lastmile.loops.models import Loop
from lastmile.scorecards.models import PayAdjustment, PayDispute
from lastmile.scorecards.pay import pay_dispute_answer, pay_dispute_open
from tests.people.factories import AgentFactory, team_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def otto(other_team):  # type: ignore[no-untyped-def]
    """The back office's lead: an outsider to the front office's pay."""
    return team_lead(other_team, "otto")


def open_dispute(api, line="loops_closed", reason="Two of my loops were closed by Bob"):  # type: ignore[no-untyped-def]
    return api.post("/pay/disputes", {"month": "2026-11", "line": line, "reason": reason})


# --- opening -----------------------------------------------------------------------------------


def test_an_agent_disputes_a_line_and_a_dispute_loop_opens_for_the_lead(
    api_as, plan, alice, lena, team, now
):
    r = open_dispute(api_as(alice))

    assert r.status_code == 201, r.content
    body = r.json()
    assert body["agent"] == "alice" and body["month"] == "2026-11"
    assert body["line"] == "loops_closed" and body["line_label"] == "Loops closed"
    assert body["state"] == "open" and body["answer"] == "" and body["team"] == "front"
    loop = Loop.objects.get(pk=body["loop"])
    assert loop.kind == "dispute" and loop.customer_id is None and loop.case_id is None
    assert loop.team == team and loop.assignee == lena and loop.state == "open"
    assert loop.due_at == now + timedelta(days=7)
    assert "alice" in loop.title and "Loops closed" in loop.title


def test_the_whole_statement_is_disputed_with_an_empty_line(api_as, plan, alice, lena):
    r = open_dispute(api_as(alice), line="")
    assert r.status_code == 201, r.content
    assert r.json()["line"] == "" and r.json()["line_label"] == "The whole statement"


def test_a_second_open_dispute_on_the_same_line_is_409_and_another_line_is_fine(
    api_as, plan, alice, lena
):
    api = api_as(alice)
    assert open_dispute(api).status_code == 201

    again = open_dispute(api, reason="Still wrong")
    assert again.status_code == 409, again.content
    assert again.json()["code"] == "conflict"
    assert PayDispute.objects.count() == 1 and Loop.objects.filter(kind="dispute").count() == 1

    assert open_dispute(api, line="on_time_rate").status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"month": "2026-11", "line": "loops_closed", "reason": "  "}, "reason"),
        ({"month": "2026-13", "line": "loops_closed", "reason": "x"}, "month"),
        ({"month": "", "line": "", "reason": "x"}, "month"),
        ({"month": "2027-01", "line": "", "reason": "x"}, "month"),  # not begun
        ({"month": "2026-11", "line": "csat", "reason": "x"}, "line"),  # not in the plan
        ({"month": "2026-11", "line": "bogus", "reason": "x"}, "line"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(
    api_as, plan, alice, lena, body, field
):
    r = api_as(alice).post("/pay/disputes", body)

    assert r.status_code == 422, r.content
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert not PayDispute.objects.exists() and not Loop.objects.filter(kind="dispute").exists()


def test_an_agent_without_a_plan_has_nothing_to_dispute(api_as, plan, charlie):
    r = open_dispute(api_as(charlie))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "month"


def test_an_integration_token_does_not_dispute(api, plan, alice):
    assert open_dispute(api).status_code == 403
    assert not PayDispute.objects.exists()


def test_two_racing_disputes_on_one_line_leave_one(plan, alice, lena, now, transactional_db):
    """The partial unique constraint decides when both pass the first check."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transactions take turns: no race to decide")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            pay_dispute_open(viewer=alice, month="2026-11", line="", reason="x", now=now)
            results.append("ok")
        except Conflict:
            results.append("409")
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["409", "ok"]
    assert PayDispute.objects.filter(state="open").count() == 1


# --- answering ---------------------------------------------------------------------------------


def test_the_lead_answers_with_an_adjustment_and_the_loop_closes(api_as, plan, alice, lena):
    dispute = open_dispute(api_as(alice)).json()

    r = api_as(lena).post(
        f"/pay/disputes/{dispute['id']}/answer",
        {"answer": "You are right: two loops were yours.", "points": 2.5},
    )

    assert r.status_code == 200, r.content
    body = r.json()
    assert body["state"] == "answered" and body["answered_by"] == "lena"
    assert body["answer"] == "You are right: two loops were yours."
    assert body["adjustment"]["points"] == 2.5 and body["adjustment"]["created_by"] == "lena"
    assert body["adjustment"]["reason"].startswith(f"Dispute #{dispute['id']} (loops closed): ")
    assert Loop.objects.get(pk=dispute["loop"]).state == "closed"
    # the agent sees the answer and the adjustment on their statement
    mine = api_as(alice).get("/pay/disputes").json()["items"]
    assert [d["state"] for d in mine] == ["answered"]
    statement = api_as(alice).get("/pay/statements", month="2026-11").json()["statements"][0]
    assert statement["adjustments_total"] == 2.5 and statement["disputes_open"] == 0


def test_an_answer_without_points_makes_no_adjustment(api_as, plan, alice, lena):
    dispute = open_dispute(api_as(alice)).json()
    r = api_as(lena).post(
        f"/pay/disputes/{dispute['id']}/answer", {"answer": "The count is right."}
    )
    assert r.status_code == 200 and r.json()["adjustment"] is None
    assert not PayAdjustment.objects.exists()


def test_answering_twice_is_409_and_changes_nothing(api_as, plan, alice, lena):
    dispute = open_dispute(api_as(alice)).json()
    lead = api_as(lena)
    assert lead.post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "No."}).status_code == 200

    again = lead.post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "Yes.", "points": 3})
    assert again.status_code == 409, again.content
    row = PayDispute.objects.get()
    assert row.answer == "No." and not PayAdjustment.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"answer": " "}, "answer"),
        ({"answer": "ok", "points": 0}, "points"),
        ({"answer": "ok", "points": 1.234}, "points"),
        ({"answer": "ok", "points": 5000}, "points"),
    ],
)
def test_a_bad_answer_is_a_422_naming_the_field_and_the_dispute_stays_open(
    api_as, plan, alice, lena, body, field
):
    dispute = open_dispute(api_as(alice)).json()
    r = api_as(lena).post(f"/pay/disputes/{dispute['id']}/answer", body)
    assert r.status_code == 422, r.content
    assert [e["field"] for e in r.json()["errors"]] == [field]
    assert PayDispute.objects.get().state == "open" and not PayAdjustment.objects.exists()
    assert Loop.objects.get(pk=dispute["loop"]).state == "open"


def test_the_agent_cannot_answer_their_own_dispute(api_as, plan, alice, lena):
    dispute = open_dispute(api_as(alice)).json()
    r = api_as(alice).post(
        f"/pay/disputes/{dispute['id']}/answer", {"answer": "Granted", "points": 5}
    )
    assert r.status_code == 403
    assert PayDispute.objects.get().state == "open"


def test_another_teams_lead_gets_404_and_a_teammate_403(api_as, plan, alice, bob, lena, otto):
    dispute = open_dispute(api_as(alice)).json()
    outsider = api_as(otto).post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "No"})
    assert outsider.status_code == 404
    assert api_as(otto).get(f"/pay/disputes/{dispute['id']}").status_code == 404
    teammate = api_as(bob).post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "No"})
    assert teammate.status_code == 404  # bob sees only his own disputes
    assert PayDispute.objects.get().state == "open"


def test_an_admin_answers_any_dispute(api_as, plan, alice, lena, admin_user):
    dispute = open_dispute(api_as(alice)).json()
    r = api_as(admin_user).post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "Checked."})
    assert r.status_code == 200 and r.json()["answered_by"] == "boss"


def test_an_integration_token_reads_but_does_not_answer(api, api_as, plan, alice, lena):
    dispute = open_dispute(api_as(alice)).json()
    assert api.get(f"/pay/disputes/{dispute['id']}").status_code == 200
    assert api.post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "x"}).status_code == 403


def test_two_leads_answering_at_once_one_wins(plan, alice, lena, admin_user, now):
    d = pay_dispute_open(viewer=alice, month="2026-11", line="", reason="x", now=now)
    stale = PayDispute.objects.get(pk=d.pk)  # read by the second lead before the first answers
    pay_dispute_answer(viewer=lena, dispute=d, answer="First", now=now)
    with pytest.raises(Conflict):
        # the in-memory row still says open: the conditional update decides
        stale.state = "open"
        pay_dispute_answer(viewer=admin_user, dispute=stale, answer="Second", points=1, now=now)
    assert PayDispute.objects.get().answer == "First" and not PayAdjustment.objects.exists()


def test_the_service_refuses_what_the_api_refuses(plan, alice, lena, now):
    with pytest.raises(InvalidInput):
        pay_dispute_open(viewer=alice, month="2026-11", line="", reason="", now=now)
    d = pay_dispute_open(viewer=alice, month="2026-11", line="", reason="x", now=now)
    with pytest.raises(PermissionDenied):
        pay_dispute_answer(viewer=alice, dispute=d, answer="x", now=now)


# --- reading -----------------------------------------------------------------------------------


def test_who_sees_which_disputes(api, api_as, plan, alice, bob, lena, otto, admin_user, team):
    open_dispute(api_as(alice))
    open_dispute(api_as(bob), line="")

    def agents(client, **params):  # type: ignore[no-untyped-def]
        r = client.get("/pay/disputes", **params)
        assert r.status_code == 200, r.content
        return sorted(d["agent"] for d in r.json()["items"])

    assert agents(api_as(alice)) == ["alice"]
    assert agents(api_as(lena)) == ["alice", "bob"]
    assert agents(api_as(otto)) == []
    assert agents(api_as(admin_user)) == ["alice", "bob"]
    assert agents(api) == ["alice", "bob"]
    assert agents(api, agent="bob") == ["bob"]
    assert agents(api, state="answered") == []
    assert agents(api, month="2026-10") == []
    bad = api.get("/pay/disputes", month="November")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "month"


def test_the_export_says_how_many_disputes_are_open_per_row(api, api_as, plan, alice, bob, lena):
    open_dispute(api_as(alice))
    open_dispute(api_as(alice), line="")
    answered = open_dispute(api_as(bob), line="").json()
    api_as(lena).post(f"/pay/disputes/{answered['id']}/answer", {"answer": "No."})

    r = api.get("/pay/statements.csv", month="2026-11")

    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.content.decode())))
    header = rows[0]
    assert "disputes_open" in header
    by_agent = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_agent["alice"]["disputes_open"] == "2"
    assert by_agent["bob"]["disputes_open"] == "0"
    assert api.get("/pay/statements", month="2026-11").json()["statements"][0]["disputes_open"] == 2


def test_the_xlsx_export_carries_the_column_as_a_number(api, api_as, plan, alice, lena):
    from openpyxl import load_workbook

    open_dispute(api_as(alice))
    r = api.get("/pay/statements.xlsx", month="2026-11")
    sheet = load_workbook(io.BytesIO(r.content)).active
    header = [c.value for c in sheet[1]]
    col = header.index("disputes_open")
    values = {row[1].value: row[col].value for row in sheet.iter_rows(min_row=2)}
    assert values == {"alice": 1, "lena": 0}


def test_a_teammate_without_a_plan_team_is_not_in_scope(api_as, plan, alice, lena, other_team):
    stranger = AgentFactory(user__username="stranger", teams=[other_team]).user
    open_dispute(api_as(alice))
    assert api_as(stranger).get("/pay/disputes").json()["items"] == []


def test_the_lead_is_told_by_email_and_so_is_the_agent_when_answered(api_as, plan, alice, lena):
    dispute = open_dispute(api_as(alice)).json()
    told = OutboxMessage.objects.get()
    assert (
        told.recipient == "lena@example.com" and told.key == f"pay-dispute:{dispute['id']}:opened"
    )
    assert "alice disputes Loops closed for 2026-11" in told.subject
    assert "Two of my loops were closed by Bob" in told.body
    assert "/scorecards/pay/?month=2026-11&agent=alice" in told.body

    api_as(lena).post(f"/pay/disputes/{dispute['id']}/answer", {"answer": "Yes.", "points": 2})

    answered = OutboxMessage.objects.get(key=f"pay-dispute:{dispute['id']}:answered")
    assert answered.recipient == "alice@example.com"
    assert "Yes." in answered.body and "+2.00 points were added" in answered.body


def test_a_dispute_loop_is_not_closed_without_the_answer(api_as, plan, alice, lena, now):  # type: ignore[no-untyped-def]
    from lastmile.loops.services import loop_close

    loop = Loop.objects.get(pk=open_dispute(api_as(alice)).json()["loop"])
    with pytest.raises(Conflict, match="pay statement for 2026-11"):
        loop_close(loop=loop, actor=lena, reason="done", now=now)
    loop.refresh_from_db()
    assert loop.state == "open" and PayDispute.objects.get().state == "open"

    dispute = PayDispute.objects.get()
    pay_dispute_answer(viewer=lena, dispute=dispute, answer="Checked: correct.", now=now)
    loop.refresh_from_db()
    assert loop.state == "closed" and PayDispute.objects.get().state == "answered"

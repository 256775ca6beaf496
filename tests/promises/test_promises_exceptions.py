"""An exception beyond the agent's authority needs a second person with that authority.

Alice (front office, no refund authority) promises a 3,000 refund the goodwill policy
blocks above 2,000; the back office keeps it. Fiona leads the front office with refund
authority to 5,000; Bob is Alice's teammate without authority; Charlie (back office) keeps
the promise but has no authority; Olga (cards) is an outsider to all of it.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.core.errors import Conflict, InvalidInput, PermissionDenied
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_close
from lastmile.people.models import Agent
from lastmile.promises.models import Promise
from lastmile.promises.selectors import promises_for_customer
from lastmile.promises.services import (
    promise_exception_approve,
    promise_exception_reject,
    promise_record,
)
from tests.people.factories import team_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock", "refund_limit")]

REFUND = {"refund_amount": 3000, "currency": "GBP"}


@pytest.fixture
def fiona(team):
    return team_lead(
        team, "fiona", first_name="Fiona", last_name="Lead", limits={"refund_amount": 5000}
    )


def ask(case, other_team, actor, now, terms=REFUND):
    return promise_record(
        case=case,
        text="A goodwill refund of £30 to your card",
        terms=dict(terms),
        due_at=now + timedelta(days=2),
        team=other_team,
        channel="phone",
        actor=actor,
        override=True,
        now=now,
    )


@pytest.fixture
def asked(case, alice, other_team, fiona, charlie, now):
    """Alice's promise past the block, beyond her authority: awaiting Fiona's approval."""
    return ask(case, other_team, alice, now - timedelta(hours=1))


def snapshot(promise):
    """Everything a refused decision must leave as it was."""
    fresh = Promise.objects.get(pk=promise.pk)
    return (
        fresh.state,
        fresh.loop_id,
        fresh.overridden_by_id,
        fresh.approval_by_id,
        fresh.approval_at,
        Loop.objects.get(pk=fresh.approval_loop_id).state,
        Loop.objects.count(),
        Interaction.objects.count(),
    )


# --- the services ------------------------------------------------------------------------


def test_an_exception_within_the_agents_own_authority_is_confirmed_by_them(
    case, fiona, other_team, now
):
    promise = ask(case, other_team, fiona, now)
    assert (promise.state, promise.overridden_by, promise.overridden_at) == ("open", fiona, now)
    assert promise.loop.kind == "promise" and promise.approval_loop is None
    note = Interaction.objects.get(customer=case.customer)
    assert "Policy block overridden by Fiona Lead: goodwill-refund v1." in note.body


def test_an_exception_beyond_authority_awaits_a_leads_approval_in_a_loop(
    asked, case, alice, team, fiona
):
    # Then it is not a live promise: no promise loop, nobody named as overriding
    assert (asked.state, asked.loop, asked.overridden_by) == ("awaiting", None, None)
    assert not Loop.objects.filter(kind="promise").exists()
    # and a task asks her team's lead, on the case (which is not solved meanwhile)
    loop = asked.approval_loop
    assert (loop.kind, loop.state, loop.team, loop.assignee, loop.case) == (
        "task",
        "open",
        team,
        fiona,
        case,
    )
    assert "Approve an exception (goodwill-refund v1)" in loop.title
    # and the timeline says who asked, for what, and who must decide
    note = Interaction.objects.get(customer=case.customer)
    assert "Exception asked by alice: goodwill-refund v1 is beyond their authority" in note.body
    assert "Awaiting approval by Fiona Lead" in note.body


def test_the_agent_cannot_approve_their_own_exception(asked, alice, now):
    before = snapshot(asked)
    with pytest.raises(PermissionDenied) as exc:
        promise_exception_approve(promise=asked, actor=alice, now=now)
    assert "you asked for this exception" in exc.value.detail
    assert snapshot(asked) == before


def test_an_agent_without_the_authority_cannot_approve_or_reject(asked, bob, charlie, now):
    before = snapshot(asked)
    for person in (bob, charlie):
        with pytest.raises(PermissionDenied) as exc:
            promise_exception_approve(promise=asked, actor=person, now=now)
        assert "your authority does not cover overriding goodwill-refund" in exc.value.detail
        with pytest.raises(PermissionDenied):
            promise_exception_reject(promise=asked, actor=person, reason="no", now=now)
    assert snapshot(asked) == before


def test_an_integration_cannot_approve(asked, now):
    before = snapshot(asked)
    with pytest.raises(PermissionDenied):
        promise_exception_approve(promise=asked, actor=None, now=now)
    assert snapshot(asked) == before


def test_the_lead_approves_and_the_promise_goes_live_with_its_trail(
    asked, alice, fiona, other_team, now
):
    # When Fiona approves it
    promise = promise_exception_approve(
        promise=asked, actor=fiona, reason="long-standing customer", now=now
    )
    # Then it is a live promise: the keeping team's loop is open, due when promised
    promise.refresh_from_db()
    assert promise.state == "open" and promise.overridden_by == fiona
    assert (promise.loop.kind, promise.loop.team, promise.loop.state) == (
        "promise",
        other_team,
        "open",
    )
    assert promise.loop.due_at == promise.due_at
    # and the approval loop is closed by her, saying so
    approval = promise.approval_loop
    assert approval.state == "closed" and approval.closed_at == now
    assert approval.events.order_by("-at", "-id").first().actor == fiona
    # and the trail: who asked (and when), who approved, when and why
    assert (promise.recorded_by, promise.made_at) == (alice, now - timedelta(hours=1))
    assert (promise.approval_by, promise.approval_at, promise.approval_reason) == (
        fiona,
        now,
        "long-standing customer",
    )
    note = Interaction.objects.filter(customer=promise.customer).order_by("-id").first()
    assert "Exception asked by alice, approved by Fiona Lead" in note.body
    assert "long-standing customer" in note.body


def test_the_lead_rejects_and_it_never_becomes_a_promise(asked, fiona, now):
    promise = promise_exception_reject(promise=asked, actor=fiona, reason="too much", now=now)
    promise.refresh_from_db()
    assert (promise.state, promise.loop, promise.overridden_by) == ("rejected", None, None)
    assert (promise.approval_by, promise.approval_at, promise.approval_reason) == (
        fiona,
        now,
        "too much",
    )
    assert promise.approval_loop.state == "closed"
    assert not Loop.objects.filter(kind="promise").exists()
    note = Interaction.objects.filter(customer=promise.customer).order_by("-id").first()
    assert "Exception rejected" in note.body and "rejected by Fiona Lead" in note.body


def test_the_customer_sees_the_promise_only_once_it_is_approved(asked, fiona, now):
    assert promises_for_customer(customer=asked.customer) == []
    promise_exception_approve(promise=asked, actor=fiona, now=now)
    assert [p.pk for p in promises_for_customer(customer=asked.customer)] == [asked.pk]


def test_closing_the_approval_task_without_a_decision_withdraws_the_request(asked, alice, now):
    # When Alice marks the approval task done from her inbox (her team owns it)
    loop_close(loop=asked.approval_loop, actor=alice, reason="never mind", now=now)
    # Then the request is withdrawn: never a live promise, and nothing awaits any more
    promise = Promise.objects.get(pk=asked.pk)
    assert (promise.state, promise.loop, promise.overridden_by) == ("withdrawn", None, None)
    assert promise.approval_by is None and "without a decision" in promise.outcome_reason


def test_rejecting_needs_a_reason_and_deciding_twice_is_refused(asked, fiona, now):
    before = snapshot(asked)
    with pytest.raises(InvalidInput):
        promise_exception_reject(promise=asked, actor=fiona, reason=" ", now=now)
    assert snapshot(asked) == before
    promise_exception_approve(promise=asked, actor=fiona, now=now)
    with pytest.raises(Conflict):
        promise_exception_reject(promise=asked, actor=fiona, reason="changed my mind", now=now)
    assert Promise.objects.get(pk=asked.pk).state == "open"


def test_a_lead_asking_beyond_their_own_limit_waits_for_someone_else(case, fiona, other_team, now):
    promise = ask(case, other_team, fiona, now, terms={"refund_amount": 9000})
    assert promise.state == "awaiting"
    assert promise.approval_loop.assignee is None  # she leads her team; not hers to decide
    with pytest.raises(PermissionDenied):
        promise_exception_approve(promise=promise, actor=fiona, now=now)


# --- the console -------------------------------------------------------------------------


def record_form(now, case, **kw):
    data = {
        "text": "A goodwill refund of £30 to your card",
        "terms": "refund_amount=3000, currency=GBP",
        "due_at": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "team": case.team_id,
        "channel": "phone",
        "made_by": "",
        "visible_to_customer": "on",
    }
    data.update(kw)
    return data


def test_the_console_records_an_exception_beyond_authority_as_awaiting(
    client, alice, fiona, case, now
):
    client.force_login(alice)
    # The live check offers her to ask a lead
    check = client.post(
        "/promises/check/", {"case": case.ref, "terms": "refund_amount=3000, currency=GBP"}
    )
    assert "Ask a lead to approve this exception" in check.content.decode()
    r = client.post(
        f"/promises/cases/{case.ref}/record/",
        record_form(now, case, made_by=alice.pk, override="on"),
    )
    assert r.status_code == 302, r.content.decode()
    promise = Promise.objects.get()
    assert promise.state == "awaiting" and promise.loop is None
    # and the case page tells everyone who sees it
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert "Awaiting approval by a lead" in page and "Approve exception" not in page


def test_the_lead_sees_the_approval_in_the_inbox_and_approves_on_the_case_page(
    client, asked, fiona, case
):
    client.force_login(fiona)
    assert "Approve an exception (goodwill-refund v1)" in client.get("/").content.decode()
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert "Awaiting approval by a lead" in page and "Approve exception" in page
    r = client.post(
        f"/promises/{asked.pk}/approve/",
        {"reason": "long-standing customer", "next": f"/cases/{case.ref}/"},
    )
    assert r.status_code == 302 and r["Location"] == f"/cases/{case.ref}/"
    promise = Promise.objects.get(pk=asked.pk)
    assert promise.state == "open" and promise.approval_by == fiona
    assert promise.approval_loop.state == "closed" and promise.loop.state == "open"
    detail = client.get(f"/promises/{asked.pk}/").content.decode()
    assert "Exception asked by alice" in detail and "approved by Fiona Lead" in detail


def test_the_lead_rejects_on_the_promise_page(client, asked, fiona):
    client.force_login(fiona)
    r = client.post(f"/promises/{asked.pk}/reject/", {"reason": "too much"})
    assert r.status_code == 302
    promise = Promise.objects.get(pk=asked.pk)
    assert promise.state == "rejected" and promise.approval_loop.state == "closed"
    assert "rejected by Fiona Lead" in client.get(f"/promises/{asked.pk}/").content.decode()


def test_the_console_refuses_the_asker_the_unauthorised_and_the_outsider(
    client, asked, alice, bob, charlie, olga
):
    before = snapshot(asked)
    for person, status, words in (
        (alice, 403, "you asked for this exception"),
        (bob, 403, "your authority does not cover"),
        (charlie, 403, "your authority does not cover"),
        (olga, 404, "not found"),
    ):
        client.force_login(person)
        for verb in ("approve", "reject"):
            r = client.post(f"/promises/{asked.pk}/{verb}/", {"reason": "because"})
            assert r.status_code == status, (person, verb)
            assert words in r.content.decode().lower(), (person, verb)
    assert snapshot(asked) == before


# --- the API -----------------------------------------------------------------------------


def api(client, user, now):
    agent = Agent.objects.get(user=user) if user is not None else None
    secret = token_create(name=f"t-{user or 'integration'}", now=now, agent=agent)[1]

    def post(path, body=None):
        return client.post(
            f"/api/v1{path}",
            json.dumps(body or {}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )

    return post


def test_the_api_records_awaiting_and_the_lead_approves(client, alice, fiona, case, now):
    as_alice, as_fiona = api(client, alice, now), api(client, fiona, now)
    r = as_alice(
        "/promises",
        {
            "case": case.ref,
            "text": "A goodwill refund of £30",
            "terms": REFUND,
            "team": case.team.slug,
            "channel": "phone",
            "due_at": (now + timedelta(days=2)).isoformat(),
            "override": True,
        },
    )
    assert r.status_code == 201, r.content
    created = r.json()
    assert (created["state"], created["loop"]) == ("awaiting", None)
    assert created["approval_loop"] is not None and created["approval_by"] is None
    # The asker cannot approve her own exception: 403 with the reason, nothing changes
    refused = as_alice(f"/promises/{created['id']}/approve")
    assert refused.status_code == 403
    assert "you asked for this exception" in refused.json()["detail"]
    assert Promise.objects.get(pk=created["id"]).state == "awaiting"
    # The lead approves
    r = as_fiona(f"/promises/{created['id']}/approve", {"reason": "ok by me"})
    assert r.status_code == 200, r.content
    done = r.json()
    assert (done["state"], done["approval_by"], done["approval_reason"]) == (
        "open",
        "fiona",
        "ok by me",
    )
    assert done["overridden_by"] == "fiona" and done["loop"] is not None
    assert Loop.objects.get(pk=done["approval_loop"]).state == "closed"


def test_the_api_refuses_the_unauthorised_and_rejects_with_a_reason(
    client, asked, bob, olga, fiona, now
):
    before = snapshot(asked)
    assert api(client, bob, now)(f"/promises/{asked.pk}/approve").status_code == 403
    assert api(client, olga, now)(f"/promises/{asked.pk}/reject", {"reason": "x"}).status_code == (
        404
    )
    as_fiona = api(client, fiona, now)
    assert as_fiona(f"/promises/{asked.pk}/reject").status_code == 422
    assert snapshot(asked) == before
    r = as_fiona(f"/promises/{asked.pk}/reject", {"reason": "too much"})
    assert r.status_code == 200 and r.json()["state"] == "rejected"

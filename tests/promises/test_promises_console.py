"""Promises in the console through Django's test client: the panel, the live check, outcomes.

Alice (front office) handles the case and promises; Charlie's back office keeps the
promise; Lena leads the front office with authority for refunds up to 5,000; Olga (cards)
is an outsider to all of it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.loops.models import Loop
from lastmile.promises.models import Promise
from lastmile.promises.services import promise_record
from tests.cases.factories import CaseFactory
from tests.people.factories import AgentFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("frozen_clock", "occupancy", "refund_limit"),
]


@pytest.fixture
def lena(team):
    return AgentFactory(
        user__username="lena",
        user__first_name="Lena",
        user__last_name="Berg",
        role="lead",
        teams=[team],
        authority={"limits": {"refund_amount": 5000}},
    ).user


def form(now, **kw):
    data = {
        "text": "Two extra beds for the four of you",
        "terms": "adults=4, extra_beds=2, room_type=deluxe",
        "due_at": (now + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "team": "",
        "channel": "phone",
        "made_by": "",
        "visible_to_customer": "on",
    }
    data.update(kw)
    return data


HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "page-body"}


def test_the_case_page_has_the_promise_panel_and_the_form(client, alice, case):
    client.force_login(alice)
    r = client.get(f"/cases/{case.ref}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="promise-panel"' in html and f"/promises/cases/{case.ref}/record/" in html
    assert 'hx-trigger="keyup changed delay:300ms, change"' in html


def test_the_live_check_shows_the_warning_and_asks_for_confirmation(client, alice, case):
    client.force_login(alice)
    r = client.post("/promises/check/", {"case": case.ref, "terms": "adults=4, room_type=deluxe"})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'data-policy="occupancy-deluxe"' in html and 'data-result="fail"' in html
    assert "A deluxe room takes at most 3 adults." in html
    assert 'name="confirm_warnings"' in html


def test_the_live_check_passes_quietly_and_says_when_nothing_applies(client, alice, case):
    client.force_login(alice)
    ok = client.post("/promises/check/", {"case": case.ref, "terms": "adults=2, room_type=deluxe"})
    assert 'data-result="pass"' in ok.content.decode()
    assert "confirm_warnings" not in ok.content.decode()
    none = client.post("/promises/check/", {"case": case.ref, "terms": "late_checkout=14:00"})
    assert "No policy applies" in none.content.decode()


def test_the_live_check_says_what_is_wrong_with_the_terms(client, alice, case):
    client.force_login(alice)
    r = client.post("/promises/check/", {"case": case.ref, "terms": "adults"})
    assert "needs a value" in r.content.decode()


def test_a_block_tells_an_agent_it_needs_a_lead_and_offers_the_lead_an_override(
    client, alice, lena, case
):
    client.force_login(alice)
    r = client.post("/promises/check/", {"case": case.ref, "terms": "refund_amount=3000"})
    assert "needs a lead with authority" in r.content.decode()
    # she may only ask for the exception, not override it
    assert "Ask a lead to approve this exception" in r.content.decode()
    assert "Override the block" not in r.content.decode()
    client.force_login(lena)
    r = client.post("/promises/check/", {"case": case.ref, "terms": "refund_amount=3000"})
    assert "Override the block as" in r.content.decode()


def test_the_live_check_is_for_cases_i_can_see(client, olga, case):
    client.force_login(olga)
    r = client.post("/promises/check/", {"case": case.ref, "terms": "adults=2"})
    assert r.status_code == 404


def test_saving_with_an_unconfirmed_warning_is_refused_and_keeps_what_was_typed(
    client, alice, case, other_team, now
):
    client.force_login(alice)
    r = client.post(
        f"/promises/cases/{case.ref}/record/",
        form(now, team=other_team.pk, made_by=alice.pk),
        **HTMX,
    )
    assert r.status_code == 409
    assert r["HX-Retarget"] == "#promise-panel" and r["HX-Reselect"] == "#promise-panel"
    html = r.content.decode()
    assert "Policy warning: occupancy-deluxe" in html
    assert 'value="adults=4, extra_beds=2, room_type=deluxe"' in html
    assert 'name="confirm_warnings"' in html
    assert not Promise.objects.exists() and not Loop.objects.exists()


def test_saving_with_the_warning_confirmed_records_the_promise(
    client, alice, case, other_team, now
):
    client.force_login(alice)
    r = client.post(
        f"/promises/cases/{case.ref}/record/",
        form(now, team=other_team.pk, made_by=alice.pk, confirm_warnings="on"),
    )
    assert r.status_code == 302 and r["Location"] == f"/cases/{case.ref}/"
    promise = Promise.objects.get()
    assert promise.terms == {"adults": 4, "extra_beds": 2, "room_type": "deluxe"}
    assert promise.warnings_confirmed_by == alice and promise.channel == "phone"
    assert promise.team == other_team and promise.made_by == alice
    page = client.get(r["Location"]).content.decode()
    assert "Promise recorded" in page and "Two extra beds for the four of you" in page


def test_a_bad_form_is_a_422_naming_the_field(client, alice, case, other_team, now):
    client.force_login(alice)
    r = client.post(
        f"/promises/cases/{case.ref}/record/",
        form(now, team=other_team.pk, made_by=alice.pk, terms="adults=4, adults=5", due_at=""),
    )
    assert r.status_code == 422
    html = r.content.decode()
    assert "adults is given twice" in html and "Say when it is due." in html
    assert not Promise.objects.exists()


def test_a_due_time_in_the_past_is_refused_on_the_form(client, alice, case, other_team, now):
    client.force_login(alice)
    past = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(
        f"/promises/cases/{case.ref}/record/",
        form(now, team=other_team.pk, made_by=alice.pk, terms="", due_at=past),
    )
    assert r.status_code == 422 and "has passed" in r.content.decode()


def test_a_lead_overrides_a_block_on_the_form_and_is_named(client, lena, case, now):
    client.force_login(lena)
    r = client.post(
        f"/promises/cases/{case.ref}/record/",
        form(now, team=case.team.pk, made_by=lena.pk, terms="refund_amount=3000", override="on"),
    )
    assert r.status_code == 302, r.content.decode()
    assert Promise.objects.get().overridden_by == lena


@pytest.fixture
def promise(case, alice, other_team, now):
    return promise_record(
        case=case,
        text="Two extra beds",
        terms={"extra_beds": 2},
        due_at=now + timedelta(days=2),
        team=other_team,
        channel="email",
        actor=alice,
        now=now - timedelta(hours=3),
    )


def test_the_keeping_team_sees_who_promised_when_and_where_on_its_own_case(
    client, charlie, promise, other_team
):
    # Given the back office has its own case for the same customer (the arrival)
    arrival = CaseFactory(customer=promise.customer, team=other_team, subject="Arriving today")
    client.force_login(charlie)
    html = client.get(f"/cases/{arrival.ref}/").content.decode()
    assert f'id="promise-{promise.pk}"' in html
    assert 'class="promise-maker">alice<' in html
    assert 'class="promise-channel">Email<' in html
    assert "Mon 23 Nov 2026, 07:00" in html
    assert f"/promises/{promise.pk}/keep/" in html


def test_the_customer_page_shows_open_promises_first(client, charlie, promise):
    client.force_login(charlie)
    html = client.get(f"/customers/{promise.customer_id}/").content.decode()
    assert html.index('id="promise-panel"') < html.index('id="loops-h"')
    assert "Two extra beds" in html and 'class="promise-maker">alice<' in html


def test_the_keeping_team_keeps_it(client, charlie, promise, case):
    client.force_login(charlie)
    r = client.post(f"/promises/{promise.pk}/keep/", {"next": f"/customers/{case.customer_id}/"})
    assert r.status_code == 302 and r["Location"] == f"/customers/{case.customer_id}/"
    promise.refresh_from_db()
    assert promise.state == "kept" and promise.outcome_by == charlie


def test_the_maker_cannot_mark_another_teams_promise_kept(client, alice, promise):
    client.force_login(alice)
    r = client.post(f"/promises/{promise.pk}/keep/")
    assert r.status_code == 403
    promise.refresh_from_db()
    assert promise.state == "open"


def test_an_outsider_neither_sees_nor_acts(client, olga, promise):
    client.force_login(olga)
    assert client.get(f"/promises/{promise.pk}/").status_code == 404
    assert client.post(f"/promises/{promise.pk}/break/", {"reason": "x"}).status_code == 404
    promise.refresh_from_db()
    assert promise.state == "open"


def test_breaking_needs_a_reason_and_opens_a_followup(client, charlie, promise):
    client.force_login(charlie)
    r = client.post(f"/promises/{promise.pk}/break/", {"reason": ""})
    assert r.status_code == 422
    r = client.post(f"/promises/{promise.pk}/break/", {"reason": "No beds left"})
    assert r.status_code == 302
    promise.refresh_from_db()
    assert promise.state == "broken" and promise.followup_loop.kind == "followup"


def test_renegotiating_from_the_promise_page(client, alice, promise, now):
    client.force_login(alice)
    page = client.get(f"/promises/{promise.pk}/").content.decode()
    assert 'id="renegotiate"' in page and 'value="extra_beds=2"' in page
    due = (now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = client.post(
        f"/promises/{promise.pk}/renegotiate/",
        {
            "re-text": "One extra bed and a cot",
            "re-terms": "extra_beds=1, cot=true",
            "re-due_at": due,
            "re-team": promise.team_id,
            "re-channel": "phone",
            "re-made_by": alice.pk,
        },
    )
    assert r.status_code == 302, r.content.decode()
    new = Promise.objects.get(replaces=promise)
    assert new.terms == {"extra_beds": 1, "cot": True}
    page = client.get(r["Location"]).content.decode()
    assert "History" in page and "Renegotiated" in page


def test_the_ledger_page_lists_open_promises_and_the_kept_rate(client, charlie, promise):
    client.force_login(charlie)
    r = client.get("/promises/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "Two extra beds" in html and "Promise-kept rate" in html and "Back office" in html


def test_the_case_page_costs_a_fixed_number_of_queries(
    client, charlie, promise, other_team, alice, now, django_assert_max_num_queries
):
    arrival = CaseFactory(customer=promise.customer, team=other_team)
    for i in range(5):
        promise_record(
            customer=promise.customer,
            text=f"Promise {i}",
            terms={},
            team=other_team,
            due_at=now + timedelta(days=1),
            channel="chat",
            actor=alice,
            now=now,
        )
    client.force_login(charlie)
    with django_assert_max_num_queries(60) as ctx:
        client.get(f"/cases/{arrival.ref}/")
    before = len(ctx.captured_queries)
    for i in range(5):
        promise_record(
            customer=promise.customer,
            text=f"More {i}",
            terms={},
            team=other_team,
            due_at=now + timedelta(days=1),
            channel="chat",
            actor=alice,
            now=now,
        )
    with django_assert_max_num_queries(before + 2):  # the loop list grows, not per promise
        client.get(f"/cases/{arrival.ref}/")

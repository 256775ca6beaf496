"""The responders' pages through the test client: what a responder may answer, the reply form
(held, refused with the limit, blocked with the policy's reason), the lead's approvals, and
each responder's scorecard scoped own / led / all."""

from __future__ import annotations

import pytest

from lastmile.customers.models import Interaction
from lastmile.responders.models import ResponderReply
from lastmile.responders.services import reply_approve, reply_submit
from tests.responders.conftest import mention_make

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_responder_sees_the_mentions_they_may_answer_and_their_limits(
    client, enrolment, mention, insta_mention, sam
):
    client.force_login(sam)
    page = client.get("/responders/").content.decode()
    assert f'id="mention-{mention.pk}"' in page
    assert f'id="mention-{insta_mention.pk}"' not in page  # not one of Sam's networks
    assert "Thanks, we are on it" in page and "0 of your first 2 replies approved" in page


def test_someone_not_enrolled_sees_the_empty_state(client, alice):
    client.force_login(alice)
    response = client.get("/responders/")
    assert response.status_code == 200
    assert 'id="responders-empty"' in response.content.decode()


def test_the_reply_form_holds_a_first_reply_for_the_lead(client, enrolment, mention, sam, thanks):
    client.force_login(sam)
    form = client.get(f"/responders/reply/mention/{mention.pk}/").content.decode()
    assert "Thanks for telling us, we are on it. Sam from the stores" in form
    response = client.post(f"/responders/reply/mention/{mention.pk}/", {"macro": thanks.pk})
    assert response.status_code == 302 and response["Location"] == "/responders/"
    assert ResponderReply.objects.get().state == "held"
    page = client.get("/responders/").content.decode()
    assert "Held for Lena Ortiz" in page


def test_a_refused_reply_names_the_limit(client, enrolment, insta_mention, sam, thanks):
    client.force_login(sam)
    response = client.post(f"/responders/reply/mention/{insta_mention.pk}/", {"macro": thanks.pk})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Outside your limits" in page and "instagram is not one of your networks" in page


def test_a_blocked_reply_shows_the_policys_reason(
    client, enrolment, mention, sam, team, no_refunds
):
    from tests.macros.factories import MacroFactory

    refund = MacroFactory(name="Refund", body="A refund is on its way.", team=team)
    enrolment.macros.add(refund)
    client.force_login(sam)
    response = client.post(f"/responders/reply/mention/{mention.pk}/", {"macro": refund.pk})
    assert response.status_code == 409
    page = response.content.decode()
    assert "Blocked by policy" in page
    assert "Only the support team promises refunds" in page


def test_the_lead_approves_from_the_approvals_page(
    client, enrolment, mention, sam, lead, thanks, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    client.force_login(lead)
    page = client.get("/responders/approvals/").content.decode()
    assert f'id="held-{row.pk}"' in page
    response = client.post(f"/responders/replies/{row.pk}/approve")
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == "sent"
    assert Interaction.objects.filter(direction="outbound").count() == 1
    assert 'id="approvals-empty"' in client.get("/responders/approvals/").content.decode()


def test_a_held_replys_reason_shows_the_approvals_as_they_are_now_not_as_they_were(
    client, enrolment, sam, lead, thanks, now
):
    # given two first replies held while none was approved
    first, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    second, _ = reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)

    # when Lena approves the first
    reply_approve(reply=first, actor=lead, now=now)

    # then the second's reason says the count as of its hold, and the count as it is now
    client.force_login(lead)
    page = client.get("/responders/approvals/").content.decode()
    held = page[page.index(f'id="held-{second.pk}"') :]
    held = held[: held.index("</li>")]
    assert "(0 approved when it was held)" in held
    assert "1 of 2 approved now" in held
    assert "approved so far" not in held
    # and Sam's own list says the same
    client.force_login(sam)
    own = client.get("/responders/").content.decode()
    own = own[own.index(f'id="reply-{second.pk}"') :]
    assert "1 of 2 approved now" in own[: own.index("</li>")]


def test_the_lead_returns_with_a_note_from_the_approvals_page(
    client, enrolment, mention, sam, lead, thanks, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    client.force_login(lead)
    assert client.post(f"/responders/replies/{row.pk}/return", {"note": ""}).status_code == 422
    response = client.post(f"/responders/replies/{row.pk}/return", {"note": "Ask which store."})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.state == "returned"
    client.force_login(row.responder)
    assert "Ask which store." in client.get("/responders/").content.decode()


def test_an_outsider_neither_sees_nor_decides_a_held_reply(
    client, enrolment, mention, sam, alice, thanks, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    client.force_login(alice)
    assert f'id="held-{row.pk}"' not in client.get("/responders/approvals/").content.decode()
    assert client.post(f"/responders/replies/{row.pk}/approve").status_code == 404
    row.refresh_from_db()
    assert row.state == "held"


@pytest.mark.parametrize(
    ("who", "status"), [("sam", 200), ("lena", 200), ("boss", 200), ("alice", 404)]
)
def test_the_scorecard_is_the_responders_their_leads_and_the_admins(
    client, enrolment, mention, sam, lead, alice, admin_user, thanks, now, who, status
):
    reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    users = {"sam": sam, "lena": lead, "boss": admin_user, "alice": alice}
    client.force_login(users[who])
    response = client.get("/responders/sam/")
    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert 'data-metric="held"><dt>Held for the lead</dt><dd>1</dd>' in page


def test_a_bad_period_is_422_naming_it(client, enrolment, sam):
    client.force_login(sam)
    response = client.get("/responders/sam/", {"period": "soon"})
    assert response.status_code == 422
    assert 'id="period-error"' in response.content.decode()


def test_the_scorecard_page_shows_the_leads_responders(
    client, enrolment, mention, sam, lead, thanks, now
):
    row, _ = reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    client.force_login(lead)
    page = client.get("/scorecards/", {"period": f"{now:%Y-%m}"}).content.decode()
    assert 'id="responders-panel"' in page and 'id="responder-row-sam"' in page
    client.force_login(sam)
    # an agent of another team without responders sees no panel
    assert row.pk


def test_the_responders_list_pages_past_twenty_mentions(client, enrolment, brand, sam, now):
    from tests.responders.conftest import mention_make

    for i in range(21):
        mention_make(now=now, minutes_ago=60 + i)
    client.force_login(sam)
    page = client.get("/responders/").content.decode()
    assert page.count('class="responder-item" id="mention-') == 20
    second = client.get("/responders/", {"mp": 2}).content.decode()
    assert second.count('class="responder-item" id="mention-') == 1


def test_every_responders_page_has_the_policy_and_no_inline_code(
    client, enrolment, mention, sam, lead, thanks, now
):
    from tests.core.test_security_headers import inline_code

    reply_submit(responder=sam, now=now, mention=mention, macro=thanks)
    pages = {
        sam: ["/responders/", f"/responders/reply/mention/{mention.pk}/", "/responders/sam/"],
        lead: ["/responders/", "/responders/approvals/", "/responders/sam/", "/scorecards/"],
    }
    for user, urls in pages.items():
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert "script-src 'self'" in response["Content-Security-Policy"], url
            assert inline_code(response.content.decode()) == [], url


def test_the_case_reply_form_is_only_for_the_sponsoring_teams_cases(
    client, enrolment, sam, customer, team, other_team
):
    from tests.cases.factories import CaseFactory

    ours = CaseFactory(customer=customer, team=team)
    theirs = CaseFactory(customer=customer, team=other_team)
    client.force_login(sam)
    assert client.get(f"/responders/reply/case/{ours.ref}/").status_code == 200
    assert client.get(f"/responders/reply/case/{theirs.ref}/").status_code == 404
    assert client.get("/responders/reply/case/LM-0/").status_code == 404


def test_the_approvals_page_reads_the_same_number_of_queries_for_one_reply_or_four(
    client, enrolment, brand, sam, lead, thanks, now
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.responders.conftest import mention_make

    client.force_login(lead)

    def count_queries():  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/responders/approvals/").status_code == 200
        return len(ctx.captured_queries)

    reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    count_queries()  # the first request of a token or session writes when it was used
    one = count_queries()
    for _ in range(3):
        reply_submit(responder=sam, now=now, mention=mention_make(now=now), macro=thanks)
    assert count_queries() == one


def test_the_main_menu_leads_a_responder_to_their_page_and_no_one_else(
    client, enrolment, sam, alice
):  # type: ignore[no-untyped-def]
    client.force_login(sam)
    nav = client.get("/").content.decode().split('id="mainnav"')[1].split("</nav>")[0]
    assert 'href="/responders/"' in nav
    client.force_login(alice)
    nav = client.get("/").content.decode().split('id="mainnav"')[1].split("</nav>")[0]
    assert 'href="/responders/"' not in nav

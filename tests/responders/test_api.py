"""/api/v1/responders: enrolments by leads and admins, replies by the responder (201 held or
sent, 403 naming the limit, 409 for a policy block, 422 naming the field, an Idempotency-Key),
the lead's approve and return, and every list scoped to its token."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.customers.models import Interaction
from lastmile.people.models import Agent
from lastmile.responders.models import ResponderReply
from tests.api.client import Api

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


_tokens = itertools.count(1)


def as_user(client, user):  # type: ignore[no-untyped-def]
    """A new token of ``user``'s (token names are unique)."""
    name = f"{user.username}-{next(_tokens)}"
    return Api(client, token_create(name=name, agent=Agent.objects.get(user=user), now=NOW)[1])


def post_key(api, path, body, key):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/api/v1{path}",
        json.dumps(body),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **api.headers,
    )


def test_a_lead_enrols_a_responder_and_reads_it_back(client, lead, sam, thanks, dm_us):
    api = as_user(client, lead)
    response = api.post(
        "/responders/enrolments",
        {
            "user": "sam",
            "team": "front",
            "networks": ["twitter"],
            "macros": [thanks.pk, dm_us.pk],
            "approvals_needed": 3,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"] == "sam" and body["approver"] == "lena"
    assert body["macros"] == sorted([thanks.pk, dm_us.pk])
    assert body["approvals_needed"] == 3 and body["approved_so_far"] == 0
    got = api.get(f"/responders/enrolments/{body['id']}")
    assert got.status_code == 200 and got.json() == body


def test_enrolling_names_the_bad_field(client, lead, sam):
    api = as_user(client, lead)
    response = api.post("/responders/enrolments", {"user": "nobody", "team": "front"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "user"
    response = api.post(
        "/responders/enrolments", {"user": "sam", "team": "front", "networks": ["Not ok!"]}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "networks"


def test_an_agent_cannot_enrol_and_an_outsider_does_not_see_an_enrolment(
    client, alice, charlie, enrolment
):
    response = as_user(client, alice).post(
        "/responders/enrolments", {"user": "charlie", "team": "front", "networks": ["twitter"]}
    )
    assert response.status_code == 403
    assert as_user(client, charlie).get(f"/responders/enrolments/{enrolment.pk}").status_code == 404
    assert as_user(client, charlie).get("/responders/enrolments").json()["items"] == []


def test_a_lead_pauses_an_enrolment_and_a_second_pause_is_409(client, lead, enrolment):
    api = as_user(client, lead)
    response = api.patch(f"/responders/enrolments/{enrolment.pk}", {"active": False})
    assert response.status_code == 200 and response.json()["active"] is False
    again = api.patch(f"/responders/enrolments/{enrolment.pk}", {"active": False})
    assert again.status_code == 409


def test_a_lead_changes_a_limit(client, lead, enrolment):
    api = as_user(client, lead)
    response = api.patch(
        f"/responders/enrolments/{enrolment.pk}", {"networks": ["twitter", "instagram"]}
    )
    assert response.status_code == 200, response.content
    assert response.json()["networks"] == ["twitter", "instagram"]
    assert response.json()["approvals_needed"] == 2  # unchanged


def test_a_responder_replies_the_lead_approves_and_it_is_sent(
    client, enrolment, mention, sam, lead, thanks
):
    # when Sam replies with a saved response
    response = as_user(client, sam).post(
        "/responders/replies", {"mention": mention.pk, "macro": thanks.pk}
    )

    # then it is held for the lead
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["state"] == "held" and reply["hold"] == ["first_replies"]
    assert reply["case"] == mention.case.ref and reply["channel"] == "social:twitter"

    # when Lena lists what waits and approves it
    api = as_user(client, lead)
    held = api.get("/responders/replies", state="held").json()["items"]
    assert [r["id"] for r in held] == [reply["id"]]
    response = api.post(f"/responders/replies/{reply['id']}/approve")

    # then it went out
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "sent" and response.json()["decided_by"] == "lena"
    assert Interaction.objects.get(direction="outbound").pk == response.json()["interaction"]
    # and approving again is 409
    assert api.post(f"/responders/replies/{reply['id']}/approve").status_code == 409


def test_the_lead_returns_a_reply_with_a_note(client, enrolment, mention, sam, lead, thanks):
    reply = (
        as_user(client, sam)
        .post("/responders/replies", {"mention": mention.pk, "macro": thanks.pk})
        .json()
    )
    api = as_user(client, lead)
    assert api.post(f"/responders/replies/{reply['id']}/return", {"note": ""}).status_code == 422
    response = api.post(f"/responders/replies/{reply['id']}/return", {"note": "Ask which store."})
    assert response.status_code == 200
    assert response.json()["state"] == "returned" and response.json()["note"] == "Ask which store."


def test_a_limit_is_403_naming_it(client, enrolment, insta_mention, sam, other_macro, mention):
    api = as_user(client, sam)
    response = api.post(
        "/responders/replies", {"mention": insta_mention.pk, "macro": other_macro.pk}
    )
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "network"
    response = api.post("/responders/replies", {"mention": mention.pk, "macro": other_macro.pk})
    assert response.status_code == 403
    assert response.json()["errors"][0]["field"] == "macro"
    assert list(ResponderReply.objects.values_list("state", flat=True)) == ["refused"] * 2


def test_a_policy_block_is_409_with_the_policys_text(
    client, enrolment, mention, sam, team, no_refunds
):
    from tests.macros.factories import MacroFactory

    refund = MacroFactory(name="Refund", body="Your refund is on its way.", team=team)
    enrolment.macros.add(refund)
    response = as_user(client, sam).post(
        "/responders/replies", {"mention": mention.pk, "macro": refund.pk}
    )
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "policy_blocked"
    assert "Only the support team promises refunds" in body["detail"]
    assert ResponderReply.objects.get().state == "blocked"


def test_bad_input_is_422_naming_the_field(client, enrolment, sam, thanks, mention):
    api = as_user(client, sam)
    assert (
        api.post("/responders/replies", {"mention": 999999, "macro": thanks.pk}).json()["errors"][
            0
        ]["field"]
        == "mention"
    )
    assert (
        api.post("/responders/replies", {"case": "LM-99999", "macro": thanks.pk}).json()["errors"][
            0
        ]["field"]
        == "case"
    )
    response = api.post("/responders/replies", {"mention": mention.pk})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "macro"
    response = api.post(
        "/responders/replies", {"mention": mention.pk, "macro": thanks.pk, "extra": 1}
    )
    assert response.status_code == 422
    assert not ResponderReply.objects.exists()


def test_an_idempotency_key_stores_one_reply(client, enrolment, mention, sam, thanks):
    api = as_user(client, sam)
    body = {"mention": mention.pk, "macro": thanks.pk}
    first = post_key(api, "/responders/replies", body, "abc")
    again = post_key(api, "/responders/replies", body, "abc")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = post_key(api, "/responders/replies", {**body, "body": "x"}, "abc")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert ResponderReply.objects.count() == 1


def test_replies_are_scoped_own_led_all(
    client, enrolment, mention, sam, lead, alice, admin_user, thanks
):
    reply = (
        as_user(client, sam)
        .post("/responders/replies", {"mention": mention.pk, "macro": thanks.pk})
        .json()
    )
    assert [r["id"] for r in as_user(client, sam).get("/responders/replies").json()["items"]] == [
        reply["id"]
    ]
    assert [r["id"] for r in as_user(client, lead).get("/responders/replies").json()["items"]] == [
        reply["id"]
    ]
    assert [
        r["id"] for r in as_user(client, admin_user).get("/responders/replies").json()["items"]
    ] == [reply["id"]]
    assert as_user(client, alice).get("/responders/replies").json()["items"] == []
    assert as_user(client, alice).get(f"/responders/replies/{reply['id']}").status_code == 404
    assert (
        as_user(client, alice).post(f"/responders/replies/{reply['id']}/approve").status_code == 404
    )
    # the responder sees it but may not approve it
    assert (
        as_user(client, sam).post(f"/responders/replies/{reply['id']}/approve").status_code == 403
    )
    assert ResponderReply.objects.get().state == "held"


def test_an_integration_token_cannot_reply_or_decide(client, enrolment, mention, thanks):
    api = Api(client, token_create(name="crm", now=NOW)[1])
    response = api.post("/responders/replies", {"mention": mention.pk, "macro": thanks.pk})
    assert response.status_code == 403
    assert api.get("/responders/enrolments").json()["count"] == 1


def test_the_replies_list_reads_the_same_number_of_queries_for_one_reply_or_four(
    client, enrolment, brand, sam, lead, thanks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from lastmile.responders.services import reply_submit
    from tests.responders.conftest import mention_make

    api = as_user(client, lead)

    def count_queries():  # type: ignore[no-untyped-def]
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/responders/replies").status_code == 200
        return len(ctx.captured_queries)

    reply_submit(responder=sam, now=NOW, mention=mention_make(now=NOW), macro=thanks)
    count_queries()  # the first request of a token or session writes when it was used
    one = count_queries()
    for _ in range(3):
        reply_submit(responder=sam, now=NOW, mention=mention_make(now=NOW), macro=thanks)
    assert count_queries() == one

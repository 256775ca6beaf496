"""Replies on messaging channels: recorded, queued in the outbox, POSTed signed to the
integration's URL (a real HTTP receiver), retried with backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests

from lastmile.api.services import token_create
from lastmile.cases.models import Case
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.webhooks.models import Integration
from lastmile.webhooks.services.integrations import integration_create, message_send
from lastmile.webhooks.signing import SignatureError
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.people.factories import AgentFactory, TeamFactory
from tests.webhooks.receiver import closed_port_url
from tests.webhooks.test_webhooks_inbound import message, post

# The receivers listen on 127.0.0.1, an internal address refused unless allowed.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("webhooks_to_loopback"),
]


@pytest.fixture
def front(transactional_db):
    return TeamFactory(name="Front office", slug="front")


@pytest.fixture
def sms(front, receiver):
    integration, secret = integration_create(
        name="Shop SMS", channel="sms", team=front, url=receiver.url, now=datetime.now(UTC)
    )
    integration.test_secret = secret
    return integration


@pytest.fixture
def token(transactional_db):
    return token_create(name="crm", now=datetime.now(UTC))[1]


def reply(live_server, token: str, body: dict) -> requests.Response:
    return requests.post(
        f"{live_server.url}/api/v1/webhooks/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def deliver(at: datetime | None = None):
    return outbox_deliver(now=at or datetime.now(UTC))


def test_a_reply_goes_back_to_the_integration_signed_and_closes_the_reply_loop(
    live_server, sms, receiver, token
):
    inbound = post(live_server, sms, message(text="Where is my card?")).json()

    r = reply(live_server, token, {"case": inbound["case"], "text": "It left today."})

    assert r.status_code == 201, r.text
    assert r.json() == {
        "interaction": r.json()["interaction"],
        "case": inbound["case"],
        "integration": "shop-sms",
        "channel": "sms",
        "to": "+447911123456",
    }
    outbound = Interaction.objects.get(pk=r.json()["interaction"])
    assert (outbound.direction, outbound.channel, outbound.body) == (
        "outbound",
        "sms",
        "It left today.",
    )
    assert Loop.objects.get().state == "closed"
    queued = OutboxMessage.objects.get()
    assert (queued.channel, queued.purpose, queued.status) == ("sms:shop-sms", "reply", "pending")
    assert queued.customer_id == inbound["customer"]

    assert deliver().sent == 1

    [got] = receiver.requests
    got.verify(sms.test_secret)
    body = got.json()
    assert body == {
        "channel": "sms",
        "from": "+447700900123",
        "to": "+447911123456",
        "text": "It left today.",
        "media": [],
        "external_id": queued.key,
        "timestamp": body["timestamp"],
        "case": inbound["case"],
    }
    assert got.headers["x-lastmile-delivery"] == queued.key
    assert OutboxMessage.objects.get().status == "sent"


def test_the_receivers_id_for_the_message_is_kept(live_server, sms, receiver, token):
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})
    receiver.reply(202, '{"id": "SMx-991"}')

    deliver()

    assert OutboxMessage.objects.get().external_id == "SMx-991"


def test_a_5xx_is_retried_with_backoff_and_the_retry_carries_the_same_delivery_id(
    live_server, sms, receiver, token
):
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})
    receiver.reply(503, "busy")
    t0 = datetime.now(UTC)

    assert deliver(t0).retried == 1
    queued = OutboxMessage.objects.get()
    assert (
        queued.status == "pending"
        and queued.attempts == 1
        and "HTTP 503: busy" in queued.last_error
    )
    assert queued.next_attempt_at == t0 + timedelta(minutes=1)
    assert deliver(t0 + timedelta(seconds=59)).sent == 0 and len(receiver.requests) == 1

    assert deliver(t0 + timedelta(minutes=1)).sent == 1

    first, second = receiver.requests
    assert first.headers["x-lastmile-delivery"] == second.headers["x-lastmile-delivery"]
    assert first.json()["external_id"] == second.json()["external_id"]
    assert OutboxMessage.objects.get().status == "sent"


def test_nobody_listening_is_retried(live_server, sms, token):
    Integration.objects.filter(pk=sms.pk).update(url=closed_port_url())
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})

    assert deliver().retried == 1
    assert "ConnectionError" in OutboxMessage.objects.get().last_error


def test_a_4xx_refusal_fails_the_message_at_once(live_server, sms, receiver, token):
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})
    receiver.reply(400, '{"error": "unknown number"}')

    assert deliver().failed == 1

    queued = OutboxMessage.objects.get()
    assert queued.status == "failed" and "unknown number" in queued.last_error


def test_a_429_is_retried_like_a_5xx(live_server, sms, receiver, token):
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})
    receiver.reply(429, "slow down")

    assert deliver().retried == 1


def test_an_integration_switched_off_after_queueing_fails_the_message_without_sending(
    live_server, sms, receiver, token
):
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})
    Integration.objects.filter(pk=sms.pk).update(active=False)

    assert deliver().failed == 1

    assert receiver.requests == [] and "inactive" in OutboxMessage.objects.get().last_error


def test_the_receiver_can_tell_a_forged_reply_from_ours(live_server, sms, receiver, token):
    inbound = post(live_server, sms, message()).json()
    reply(live_server, token, {"case": inbound["case"], "text": "Hi"})
    deliver()

    [got] = receiver.requests
    with pytest.raises(SignatureError):
        got.verify("whsec_someone-elses")
    with pytest.raises(SignatureError):
        got.verify(sms.test_secret, now=datetime.now(UTC) + timedelta(minutes=6))


def test_media_go_out_with_the_reply(live_server, sms, receiver, token):
    inbound = post(live_server, sms, message()).json()
    media = [{"url": "https://cdn.example.com/receipt.pdf", "content_type": "application/pdf"}]

    r = reply(live_server, token, {"case": inbound["case"], "text": "", "media": media})

    assert r.status_code == 201, r.text
    deliver()
    assert receiver.requests[0].json()["media"] == media
    assert Interaction.objects.get(pk=r.json()["interaction"]).body == "[1 attachment]"


# --- refusals -------------------------------------------------------------------------------


def test_a_case_nobody_wrote_on_through_an_integration_cannot_get_a_message_reply(
    live_server, sms, token, front
):
    case = CaseFactory(customer=CustomerFactory(), team=front)

    r = reply(live_server, token, {"case": case.ref, "text": "Hi"})

    assert r.status_code == 409 and r.json()["code"] == "no_conversation"
    assert Interaction.objects.count() == 0 and OutboxMessage.objects.count() == 0


def test_an_inbound_only_integration_refuses_replies_and_writes_nothing(live_server, sms, token):
    Integration.objects.filter(pk=sms.pk).update(url="")
    inbound = post(live_server, sms, message()).json()

    r = reply(live_server, token, {"case": inbound["case"], "text": "Hi"})

    assert r.status_code == 409 and r.json()["code"] == "integration_unusable"
    assert "no outbound URL" in r.json()["detail"]
    assert Interaction.objects.count() == 1 and OutboxMessage.objects.count() == 0
    assert Loop.objects.get().state == "open"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"text": "Hi"}, "case"),
        ({"case": "LM-1000", "text": ""}, "text"),
        ({"case": "LM-1000", "text": 5}, "text"),
        ({"case": "LM-1000", "text": "x" * 10_001}, "text"),
        ({"case": "LM-1000", "text": "Hi", "channel": "pigeon"}, "channel"),
        ({"case": "LM-1000", "media": [{"url": "nope", "content_type": "a/b"}]}, "media[0].url"),
    ],
)
def test_a_bad_reply_is_422_and_writes_nothing(live_server, sms, token, body, field):
    post(live_server, sms, message())
    body = {**body, "case": Case.objects.get().ref} if "case" in body else body

    r = reply(live_server, token, body)

    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]
    assert Interaction.objects.count() == 1 and OutboxMessage.objects.count() == 0


def test_an_agent_cannot_reply_on_another_teams_case(live_server, sms, token):
    inbound = post(live_server, sms, message()).json()
    outsider = AgentFactory(user__username="charlie", teams=[TeamFactory(slug="back")])
    agent_token = token_create(name="charlie", agent=outsider, now=datetime.now(UTC))[1]

    r = reply(live_server, agent_token, {"case": inbound["case"], "text": "Hi"})

    assert r.status_code == 404
    assert OutboxMessage.objects.count() == 0


def test_message_send_picks_the_conversation_last_written_on(live_server, sms, receiver):
    post(live_server, sms, message(1, to="+447700900001"))
    post(live_server, sms, message(2, to="+447700900002"))
    case = Case.objects.get()

    message_send(case=case, text="Hi", now=datetime.now(UTC))
    deliver()

    assert json.loads(receiver.requests[0].body)["from"] == "+447700900002"

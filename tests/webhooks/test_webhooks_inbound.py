"""POST /hooks/in/<slug>: signed messages from a provider, through a live server with requests."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from lastmile.cases.models import Case
from lastmile.cases.services import case_set_status
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Customer, Identity, Interaction
from lastmile.customers.services.customers import customer_resolve
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_close
from lastmile.webhooks.models import Conversation, Integration
from lastmile.webhooks.services.integrations import integration_create
from lastmile.webhooks.signing import signature_headers
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def front(transactional_db):
    return TeamFactory(name="Front office", slug="front")


@pytest.fixture
def sms(front):
    integration, secret = integration_create(
        name="Shop SMS", channel="sms", team=front, url="", now=datetime.now(UTC)
    )
    integration.test_secret = secret
    return integration


@pytest.fixture
def chat(front):
    integration, secret = integration_create(
        name="Web chat", channel="chat", team=front, now=datetime.now(UTC)
    )
    integration.test_secret = secret
    return integration


def message(n: int = 1, **fields) -> dict:
    base = {
        "channel": "sms",
        "from": "+44 7911 123456",
        "to": "+447700900123",
        "text": f"Hello, message {n}",
        "media": [],
        "external_id": f"SM{n:04d}",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    base.update(fields)
    return base


def post(
    live_server,
    integration: Integration,
    body,
    *,
    secret: str | None = None,
    signed_at: datetime | None = None,
    headers: dict | None = None,
) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signed = signature_headers(
        secret or integration.test_secret, raw, now=signed_at or datetime.now(UTC)
    )
    return requests.post(
        f"{live_server.url}/hooks/in/{integration.slug}",
        data=raw,
        headers={"Content-Type": "application/json", **signed, **(headers or {})},
        timeout=30,
    )


def counts() -> tuple[int, int, int, int]:
    return (
        Interaction.objects.count(),
        Customer.objects.count(),
        Case.objects.count(),
        Conversation.objects.count(),
    )


# --- a message arrives ----------------------------------------------------------------------


def test_an_sms_lands_on_the_senders_timeline_on_a_new_case_for_the_team_with_a_reply_loop(
    live_server, sms
):
    r = post(live_server, sms, message(text="Where is my card?"))

    assert r.status_code == 201, r.text
    body = r.json()
    interaction = Interaction.objects.get(pk=body["interaction"])
    assert (interaction.channel, interaction.direction) == ("sms", "inbound")
    assert interaction.body == "Where is my card?" and interaction.source_id == "shop-sms:SM0001"
    assert (
        interaction.data["from"] == "+44 7911 123456" and interaction.data["to"] == "+447700900123"
    )
    assert Identity.objects.get(customer=interaction.customer).value == "+447911123456"
    case = interaction.case
    assert body == {
        "interaction": interaction.pk,
        "customer": interaction.customer_id,
        "case": case.ref,
        "duplicate": False,
    }
    assert case.team.slug == "front" and case.channel == "sms" and case.status == "open"
    assert case.subject == "SMS: Where is my card?"
    loop = Loop.objects.get(case=case)
    assert (loop.kind, loop.state, loop.channel) == ("reply", "open", "sms")


def test_the_same_external_id_twice_is_one_interaction_and_answers_with_the_first(live_server, sms):
    first = post(live_server, sms, message())
    before = counts()

    again = post(live_server, sms, message(text="a retry may even differ"))

    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}
    assert counts() == before and Loop.objects.count() == 1


def test_a_second_message_threads_onto_the_customers_open_case_on_that_channel(live_server, sms):
    first = post(live_server, sms, message(1)).json()
    second = post(live_server, sms, message(2, **{"from": "07911 123456"})).json()

    assert second["case"] == first["case"] and second["customer"] == first["customer"]
    assert Case.objects.count() == 1 and Loop.objects.filter(state="open").count() == 1


def test_after_the_case_is_solved_a_new_message_opens_a_new_case(live_server, sms):
    first = post(live_server, sms, message(1)).json()
    case = Case.objects.get()
    loop_close(loop=Loop.objects.get(case=case), reason="answered by phone", now=datetime.now(UTC))
    case_set_status(case=case, status="solved", now=datetime.now(UTC))

    second = post(live_server, sms, message(2)).json()

    assert second["case"] != first["case"] and Case.objects.count() == 2


def test_a_known_phone_number_lands_on_the_existing_customer(live_server, sms):
    known = customer_resolve(
        identities=[identity_normalize("phone", "+447911123456")],
        now=datetime.now(UTC),
        display_name="Aisha Khan",
    ).customer

    r = post(live_server, sms, message(**{"from": "07911123456", "name": "someone else"}))

    assert r.json()["customer"] == known.pk
    assert Customer.objects.get(pk=known.pk).display_name == "Aisha Khan"


def test_a_chat_id_is_the_integrations_own_id_for_the_person(live_server, chat):
    r = post(live_server, chat, message(channel="chat", **{"from": "visitor-42", "to": "widget"}))

    assert r.status_code == 201, r.text
    ident = Identity.objects.get(customer_id=r.json()["customer"])
    assert (ident.kind, ident.network, ident.value) == ("external", "web-chat", "visitor-42")
    assert Interaction.objects.get().channel == "chat"


def test_a_message_with_only_media_keeps_the_media_and_says_so_on_the_timeline(live_server, sms):
    media = [{"url": "https://cdn.example.com/a.jpg", "content_type": "Image/JPEG"}]
    r = post(live_server, sms, message(text="", media=media))

    assert r.status_code == 201, r.text
    interaction = Interaction.objects.get()
    assert interaction.body == "[1 attachment]"
    assert interaction.data["media"] == [
        {"url": "https://cdn.example.com/a.jpg", "content_type": "image/jpeg"}
    ]


def test_a_message_timestamped_before_now_opens_its_reply_loop_at_that_time(live_server, sms):
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    post(live_server, sms, message(timestamp=sent.isoformat()))

    assert Interaction.objects.get().occurred_at == sent
    assert Loop.objects.get().opened_at == sent


def test_two_deliveries_of_one_message_racing_store_it_once(live_server, sms):
    raw = json.dumps(message()).encode()
    results: list[int] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        results.append(post(live_server, sms, raw).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == [200, 200, 200, 201]
    assert counts() == (1, 1, 1, 1)


def test_new_messages_from_one_known_sender_at_once_share_one_case(live_server, sms):
    customer_resolve(
        identities=[identity_normalize("phone", "+447911123456")], now=datetime.now(UTC)
    )
    bodies = [json.dumps(message(n)).encode() for n in (1, 2, 3)]
    results: list[int] = []
    barrier = threading.Barrier(len(bodies))

    def deliver(raw: bytes) -> None:
        barrier.wait()
        results.append(post(live_server, sms, raw).status_code)

    threads = [threading.Thread(target=deliver, args=(raw,)) for raw in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert results == [201, 201, 201]
    assert counts() == (3, 1, 1, 1)
    assert Loop.objects.filter(state="open").count() == 1


# --- refusals: a clear 4xx, nothing written ------------------------------------------------


def refused(response: requests.Response, status: int, code: str, field: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == code, body
    assert field in [e["field"] for e in body["errors"]], body
    assert counts() == (0, 0, 0, 0)
    return body


def test_a_request_signed_more_than_five_minutes_ago_is_refused_as_a_replay(live_server, sms):
    old = datetime.now(UTC) - timedelta(minutes=5, seconds=30)
    body = refused(
        post(live_server, sms, message(), signed_at=old),
        401,
        "timestamp_stale",
        "X-Lastmile-Timestamp",
    )
    assert "older than 5 minutes" in body["detail"]


def test_a_replayed_request_is_refused_even_with_its_original_valid_signature(live_server, sms):
    raw = json.dumps(message()).encode()
    captured = signature_headers(sms.test_secret, raw, now=datetime.now(UTC) - timedelta(hours=1))

    r = requests.post(
        f"{live_server.url}/hooks/in/{sms.slug}", data=raw, headers=captured, timeout=30
    )

    refused(r, 401, "timestamp_stale", "X-Lastmile-Timestamp")


def test_a_request_signed_four_minutes_ago_is_still_accepted(live_server, sms):
    r = post(live_server, sms, message(), signed_at=datetime.now(UTC) - timedelta(minutes=4))
    assert r.status_code == 201, r.text


def test_a_wrong_signature_is_refused(live_server, sms):
    refused(
        post(live_server, sms, message(), secret="whsec_not-the-secret"),
        401,
        "signature_invalid",
        "X-Lastmile-Signature",
    )


def test_a_body_changed_after_signing_is_refused(live_server, sms):
    raw = json.dumps(message()).encode()
    signed = signature_headers(sms.test_secret, raw, now=datetime.now(UTC))
    tampered = raw.replace(b"Hello", b"Hallo")

    r = requests.post(
        f"{live_server.url}/hooks/in/{sms.slug}", data=tampered, headers=signed, timeout=30
    )

    refused(r, 401, "signature_invalid", "X-Lastmile-Signature")


def test_an_unsigned_request_is_refused(live_server, sms):
    r = requests.post(f"{live_server.url}/hooks/in/{sms.slug}", json=message(), timeout=30)
    refused(r, 401, "signature_missing", "X-Lastmile-Timestamp")


def test_an_unknown_integration_is_404(live_server, sms):
    r = requests.post(f"{live_server.url}/hooks/in/nope", json=message(), timeout=30)
    refused(r, 404, "not_found", "slug")


def test_an_inactive_integration_refuses_even_well_signed_messages(live_server, sms):
    Integration.objects.filter(pk=sms.pk).update(active=False)
    refused(post(live_server, sms, message()), 403, "integration_inactive", "slug")


def test_only_post_is_allowed(live_server, sms):
    r = requests.get(f"{live_server.url}/hooks/in/{sms.slug}", timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "body, status, field",
    [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 400, "body"),
        (b'"text"', 400, "body"),
        (b"\xff\xfe", 400, "body"),
    ],
    ids=["broken", "array", "string", "not-utf8"],
)
def test_a_body_that_is_not_a_json_object_is_400(live_server, sms, body, status, field):
    refused(post(live_server, sms, body), status, "bad_request", field)


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        # 50,000 levels: as deep as an object goes under the 256 KB limit
        (b'{"":' * 50_000 + b"1" + b"}" * 50_000, "nested deeper than 32 levels"),
        (json.dumps(message(text="nul \x00 here")).encode(), "NUL"),
        (json.dumps(message(text="\ud800")).encode(), "lone surrogate"),
        (json.dumps(message(text=float("nan"))).encode(), "NaN"),
        (json.dumps(message(timestamp=float("inf"))).encode(), "Infinity"),
    ],
    ids=["deep-array", "deep-object", "nul", "surrogate", "nan", "infinity"],
)
def test_a_signed_body_no_handler_can_take_is_400_naming_why(live_server, sms, body, reason):
    # given a body signed correctly, so every check before the decoder passes
    # when it is posted, then: 400 in the API's error shape, the reason named, nothing written
    answer = refused(post(live_server, sms, body), 400, "bad_request", "body")
    assert reason in answer["detail"] and reason in answer["errors"][0]["reason"]


@pytest.mark.parametrize(
    "timestamp",
    [
        "1" + "0" * 30,
        "-1" + "0" * 30,
        "1e400",
        "1.5",
        "0x10",
        "+1",
        "\u0663",
        "１７００００００００",
    ],
    ids=["10e30", "minus-10e30", "1e400", "fraction", "hex", "plus", "arabic-digit", "fullwidth"],
)
def test_an_absurd_signature_timestamp_is_401_never_500(live_server, sms, timestamp):
    raw = json.dumps(message()).encode()
    signed = signature_headers(sms.test_secret, raw, now=datetime.now(UTC))
    r = requests.post(
        f"{live_server.url}/hooks/in/{sms.slug}",
        data=raw,
        headers={
            "Content-Type": "application/json",
            **signed,
            "X-Lastmile-Timestamp": timestamp.encode().decode("latin-1"),
        },
        timeout=30,
    )
    body = refused(r, 401, "timestamp_invalid", "X-Lastmile-Timestamp")
    assert "Unix time" in body["detail"]


def without(key: str) -> dict:
    m = message()
    del m[key]
    return m


@pytest.mark.parametrize(
    "payload, field",
    [
        (without("from"), "from"),
        (without("to"), "to"),
        (without("external_id"), "external_id"),
        (without("timestamp"), "timestamp"),
        (without("channel"), "channel"),
        (message(**{"from": "not a phone"}), "from"),
        (message(**{"from": "   "}), "from"),
        (message(channel="whatsapp"), "channel"),
        (message(text=""), "text"),
        (message(text=5), "text"),
        (message(text="x" * 10_001), "text"),
        (message(timestamp="2026-11-23T10:00:00"), "timestamp"),
        (message(timestamp="yesterday"), "timestamp"),
        (message(timestamp=(datetime.now(UTC) + timedelta(hours=1)).isoformat()), "timestamp"),
        (message(external_id=""), "external_id"),
        (message(external_id="x" * 151), "external_id"),
        (message(media=[{"url": "ftp://x/a.jpg", "content_type": "image/jpeg"}]), "media[0].url"),
        (
            message(media=[{"url": "https://x/a.jpg", "content_type": "jpeg"}]),
            "media[0].content_type",
        ),
        (message(media=[{"url": "https://x/a.jpg"}]), "media[0].content_type"),
        (message(media="https://x/a.jpg"), "media"),
        (message(media=[{"url": "https://x/a", "content_type": "a/b"}] * 11), "media"),
        (message(timestamp="0001-01-01T00:00:00+01:00"), "timestamp"),
        (message(timestamp="9999-12-31T23:59:59-01:00"), "timestamp"),
        (message(timestamp="2201-01-01T00:00:00Z"), "timestamp"),
        (message(timestamp="1969-12-31T23:59:59Z"), "timestamp"),
        (message(timestamp=10**30), "timestamp"),
        (message(timestamp=-(10**30)), "timestamp"),
    ],
    ids=[
        "no-from",
        "no-to",
        "no-external-id",
        "no-timestamp",
        "no-channel",
        "bad-phone",
        "blank-from",
        "wrong-channel",
        "no-text-no-media",
        "text-not-string",
        "text-too-long",
        "naive-timestamp",
        "timestamp-not-a-date",
        "timestamp-in-the-future",
        "empty-external-id",
        "long-external-id",
        "media-not-http",
        "media-bad-type",
        "media-no-type",
        "media-not-a-list",
        "too-many-media",
        "timestamp-year-1-east-of-utc",
        "timestamp-year-9999-west-of-utc",
        "timestamp-after-2200",
        "timestamp-before-1970",
        "timestamp-10e30",
        "timestamp-minus-10e30",
    ],
)
def test_a_bad_field_is_422_naming_it_and_nothing_is_written(live_server, sms, payload, field):
    body = refused(post(live_server, sms, payload), 422, "invalid", field)
    assert body["detail"] and all(e["reason"] for e in body["errors"])


def test_several_bad_fields_are_all_named(live_server, sms):
    payload = message(**{"from": ""}, external_id="", timestamp="later")
    body = refused(post(live_server, sms, payload), 422, "invalid", "from")
    assert {"from", "external_id", "timestamp"} <= {e["field"] for e in body["errors"]}


def test_a_body_over_256_kb_is_413(live_server, sms):
    payload = message(text="x" * 10, padding="y" * (300 * 1024))
    refused(post(live_server, sms, payload), 413, "too_large", "body")

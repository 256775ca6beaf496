"""Outgoing event webhooks: deliveries written with the event, sent signed by the worker to a
real HTTP receiver, retried with exponential backoff, failed after the last attempt,
redelivered from the admin or the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from lastmile.api.services import token_create
from lastmile.cases.services import case_set_status
from lastmile.core.events import event_emit
from lastmile.core.ids import counter_next
from lastmile.core.retry import retry_delay
from lastmile.loops.services import loop_close, loop_open
from lastmile.webhooks.models import Delivery, DeliveryAttempt, Subscription
from lastmile.webhooks.services import subscriptions
from lastmile.webhooks.services.subscriptions import (
    MAX_ATTEMPTS,
    deliveries_send,
    delivery_redeliver,
    subscription_create,
)
from lastmile.webhooks.signing import SignatureError
from tests.webhooks.receiver import closed_port_url

# The receivers listen on 127.0.0.1, an internal address refused unless allowed.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhooks_to_loopback")]


def subscribe(url: str, events=("*",), **kw) -> Subscription:
    sub, secret = subscription_create(
        name=kw.pop("name", f"sub-{counter_next('test-sub')}"),
        url=url,
        events=list(events),
        now=kw.pop("now", datetime.now(UTC)),
        **kw,
    )
    sub.test_secret = secret
    return sub


@pytest.fixture
def sub(receiver):
    return subscribe(receiver.url, ["loop.*", "case.solved"], name="crm")


def open_loop(customer, case, now, **kw):
    return loop_open(customer=customer, case=case, kind="task", title="Call back", now=now, **kw)


# --- deliveries are written with the event ----------------------------------------------------


def test_an_event_writes_one_pending_delivery_per_interested_subscription(
    receiver, customer, case, team, other_team, now
):
    subscribe(receiver.url, ["*"], name="all")
    subscribe(receiver.url, ["loop.*"], name="loops")
    subscribe(receiver.url, ["loop.opened"], name="opened")
    solved = subscribe(receiver.url, ["case.solved"], name="solved")
    subscribe(receiver.url, ["*"], name="front", team=team)
    theirs = subscribe(receiver.url, ["*"], name="back", team=other_team)
    off = subscribe(receiver.url, ["*"], name="off", active=False)

    loop = open_loop(customer, case, now, team=team)

    rows = Delivery.objects.filter(event="loop.opened")
    assert {d.subscription.name for d in rows} == {"all", "loops", "opened", "front"}
    assert not rows.filter(subscription__in=[solved, theirs, off]).exists()
    first = rows.first()
    assert first.status == "pending" and first.attempts == 0 and first.next_attempt_at == now
    assert first.payload == {
        "id": str(first.event_id),
        "event": "loop.opened",
        "occurred_at": "2026-11-23T10:00:00Z",
        "data": first.payload["data"],
    }
    assert first.payload["data"]["loop"] == loop.pk and first.payload["data"]["team"] == team.pk
    assert len({d.event_id for d in rows}) == 1 and len({d.uuid for d in rows}) == 4


def test_no_subscription_no_delivery(customer, case, now):
    open_loop(customer, case, now)
    assert Delivery.objects.count() == 0


def test_an_event_in_a_transaction_that_rolls_back_leaves_no_delivery(sub, customer, case, now):
    with pytest.raises(RuntimeError), transaction.atomic():
        open_loop(customer, case, now)
        assert Delivery.objects.count() == 1
        raise RuntimeError("the change failed after the event")

    assert Delivery.objects.count() == 0


def test_closing_a_loop_and_solving_the_case_are_delivered_as_events(sub, customer, case, now):
    loop = open_loop(customer, case, now)
    loop_close(loop=loop, reason="done", now=now + timedelta(minutes=5))
    case_set_status(case=case, status="solved", now=now + timedelta(minutes=6))

    assert list(Delivery.objects.order_by("id").values_list("event", flat=True)) == [
        "loop.opened",
        "loop.closed",
        "case.solved",
    ]
    solved = Delivery.objects.get(event="case.solved").payload["data"]
    assert solved["reference"] == case.ref


def test_an_event_a_module_emits_later_reaches_a_wildcard_subscriber(sub, now):
    wildcard = subscribe(sub.url, ["*"], name="everything")

    event_emit("promise.broken", {"promise": 7, "team": None}, at=now)

    assert Delivery.objects.get().subscription == wildcard


# --- the worker sends them -------------------------------------------------------------------


def test_the_worker_posts_the_event_signed_with_its_delivery_id(sub, receiver, customer, case):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    delivery = Delivery.objects.get()

    result = deliveries_send(now=now)

    assert (result.delivered, result.retried, result.failed) == (1, 0, 0)
    [got] = receiver.requests
    got.verify(sub.test_secret)
    assert got.json() == delivery.payload
    assert got.headers["x-lastmile-delivery"] == str(delivery.uuid)
    assert got.headers["x-lastmile-event"] == "loop.opened"
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.delivered_at == now
    assert delivery.attempts == 1 and delivery.response_code == 200
    assert delivery.next_attempt_at is None
    [attempt] = DeliveryAttempt.objects.all()
    assert (attempt.number, attempt.response_code, attempt.error) == (1, 200, "")


def test_a_second_run_sends_nothing_again(sub, receiver, customer, case):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    deliveries_send(now=now)

    assert deliveries_send(now=now + timedelta(hours=1)).delivered == 0
    assert len(receiver.requests) == 1


def test_one_run_sends_every_due_delivery_batch_after_batch(sub, receiver, customer, case):
    now = datetime.now(UTC)
    for i in range(5):
        open_loop(customer, case, now - timedelta(minutes=i))

    assert deliveries_send(now=now, batch_size=2).delivered == 5
    assert len(receiver.requests) == 5 and not Delivery.objects.exclude(status="delivered")


def test_a_receiver_with_the_wrong_secret_would_refuse_it(sub, receiver, customer, case):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    deliveries_send(now=now)

    with pytest.raises(SignatureError):
        receiver.requests[0].verify("whsec_guess")


def test_the_backoff_doubles_from_one_minute():
    assert [retry_delay(n) for n in range(1, 11)] == [
        timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 64, 128, 256, 360)
    ]


def test_failures_are_retried_on_the_backoff_schedule_until_a_2xx(sub, receiver, customer, case):
    t0 = datetime.now(UTC)
    open_loop(customer, case, t0)
    receiver.reply(500, "boom").reply(502, "bad gateway").reply(503)
    delivery = Delivery.objects.get()

    at = t0
    for n, status in enumerate((500, 502, 503), start=1):
        assert deliveries_send(now=at).retried == 1
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.attempts == n
        assert delivery.response_code == status and delivery.last_error.startswith(f"HTTP {status}")
        assert delivery.next_attempt_at == at + retry_delay(n)
        # The minute before the retry is due nothing happens; at the minute, it is sent.
        assert deliveries_send(now=delivery.next_attempt_at - timedelta(seconds=1)).outcomes == []
        at = delivery.next_attempt_at

    assert deliveries_send(now=at).delivered == 1
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 4
    assert delivery.last_error == "" and delivery.delivered_at == at
    assert [a.response_code for a in delivery.log.all()] == [500, 502, 503, 200]
    assert len({r.headers["x-lastmile-delivery"] for r in receiver.requests}) == 1
    assert [r.json() for r in receiver.requests] == [delivery.payload] * 4


def test_after_the_last_attempt_fails_the_delivery_is_failed_and_left_alone(
    sub, receiver, customer, case
):
    t0 = datetime.now(UTC)
    open_loop(customer, case, t0)
    for _ in range(MAX_ATTEMPTS):
        receiver.reply(500, "down")
    delivery = Delivery.objects.get()

    at = t0
    for _ in range(MAX_ATTEMPTS):
        deliveries_send(now=at)
        delivery.refresh_from_db()
        at = delivery.next_attempt_at or at

    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS
    assert delivery.next_attempt_at is None and delivery.last_error == "HTTP 500: down"
    assert deliveries_send(now=t0 + timedelta(days=30)).outcomes == []
    assert len(receiver.requests) == MAX_ATTEMPTS == delivery.log.count()


def test_nobody_listening_is_retried_with_the_connection_error_logged(customer, case):
    subscribe(closed_port_url(), ["loop.opened"])
    now = datetime.now(UTC)
    open_loop(customer, case, now)

    assert deliveries_send(now=now).retried == 1

    delivery = Delivery.objects.get()
    assert delivery.response_code is None and "ConnectionError" in delivery.last_error


def test_a_subscription_switched_off_before_sending_fails_its_deliveries_unsent(
    sub, receiver, customer, case
):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    Subscription.objects.filter(pk=sub.pk).update(active=False)

    assert deliveries_send(now=now).failed == 1

    assert receiver.requests == []
    assert Delivery.objects.get().last_error == "the subscription is inactive"


def test_a_worker_that_died_during_the_last_attempt_leaves_a_failed_delivery(
    sub, receiver, customer, case
):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    # As the claim of the last attempt leaves it when the worker dies before recording.
    Delivery.objects.update(attempts=MAX_ATTEMPTS, next_attempt_at=now)

    assert deliveries_send(now=now).failed == 1

    assert receiver.requests == [] and Delivery.objects.get().status == "failed"


def test_a_delivery_claimed_by_another_worker_is_not_sent_twice(sub, receiver, customer, case):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    # Another worker's claim: the attempt counted and the next one pushed out.
    Delivery.objects.update(attempts=1, next_attempt_at=now + retry_delay(1))

    assert deliveries_send(now=now).outcomes == []
    assert receiver.requests == []


# --- redelivery -------------------------------------------------------------------------------


def failed_delivery(receiver, customer, case, now) -> Delivery:
    open_loop(customer, case, now)
    Delivery.objects.update(
        status="failed", attempts=MAX_ATTEMPTS, next_attempt_at=None, last_error="HTTP 500"
    )
    return Delivery.objects.get()


def test_a_failed_delivery_redelivered_is_sent_again_with_the_same_id(
    sub, receiver, customer, case
):
    now = datetime.now(UTC)
    delivery = failed_delivery(receiver, customer, case, now)

    delivery_redeliver(delivery=delivery, now=now, actor="boss")

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("pending", 0, now)
    assert delivery.redelivered_by == "boss" and delivery.redelivered_at == now
    assert deliveries_send(now=now).delivered == 1
    assert receiver.requests[0].headers["x-lastmile-delivery"] == str(delivery.uuid)
    assert Delivery.objects.get().status == "delivered"


def test_a_delivered_delivery_can_be_redelivered_too(sub, receiver, customer, case):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    deliveries_send(now=now)

    delivery_redeliver(delivery=Delivery.objects.get(), now=now + timedelta(minutes=1))
    deliveries_send(now=now + timedelta(minutes=1))

    assert len(receiver.requests) == 2
    assert (
        receiver.requests[0].headers["x-lastmile-delivery"]
        == (receiver.requests[1].headers["x-lastmile-delivery"])
    )
    assert Delivery.objects.get().log.count() == 2


def test_an_outcome_arriving_after_a_redelivery_only_goes_in_the_log(
    sub, receiver, customer, case, monkeypatch
):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    real_post = subscriptions.post_signed

    def post_then_redeliver(**kw):
        outcome = real_post(**kw)
        delivery_redeliver(delivery=Delivery.objects.get(), now=now, actor="boss")
        return outcome

    monkeypatch.setattr(subscriptions, "post_signed", post_then_redeliver)
    receiver.reply(500)

    deliveries_send(now=now)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 0, None)
    assert delivery.log.get().response_code == 500


# --- subscriptions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": ""}, "url"),
        ({"events": []}, "events"),
        ({"events": ["loop opened"]}, "events[0]"),
        ({"events": ["loop.opened", 5]}, "events[1]"),
        ({"name": ""}, "name"),
        ({"name": "crm"}, "name"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_field(sub, fields, field, now):
    from lastmile.core.errors import InvalidInput

    args = {"name": "new", "url": "https://example.com/hook", "events": ["*"], **fields}
    with pytest.raises(InvalidInput) as info:
        subscription_create(now=now, **args)
    assert field in [e.field for e in info.value.errors]
    assert Subscription.objects.count() == 1


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    def call(method: str, path: str, token: str, body=None):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if method == "get":
            return client.get(f"/api/v1/webhooks{path}", body or {}, **headers)
        return client.post(
            f"/api/v1/webhooks{path}", body or {}, content_type="application/json", **headers
        )

    return call


@pytest.fixture
def integration_token(db, now):
    return token_create(name="ops", now=now)[1]


def test_the_delivery_log_is_paginated_and_filtered(
    api, integration_token, sub, customer, case, now
):
    for i in range(3):
        open_loop(customer, case, now + timedelta(minutes=i))
    Delivery.objects.filter(pk=Delivery.objects.order_by("id").first().pk).update(status="failed")

    page = api("get", "/deliveries", integration_token, {"limit": 2}).json()
    assert page["count"] == 3 and len(page["items"]) == 2
    assert page["items"][0]["id"] > page["items"][1]["id"]
    assert page["items"][0]["subscription"] == "crm" and page["items"][0]["event"] == "loop.opened"
    failed = api("get", "/deliveries", integration_token, {"status": "failed"}).json()
    assert failed["count"] == 1 and failed["items"][0]["status"] == "failed"
    other = api("get", "/deliveries", integration_token, {"subscription": "nobody"}).json()
    assert other["count"] == 0
    bad = api("get", "/deliveries", integration_token, {"status": "lost"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_one_delivery_shows_its_payload_and_attempts(
    api, integration_token, sub, receiver, customer, case
):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    receiver.reply(500, "boom")
    deliveries_send(now=now)
    delivery = Delivery.objects.get()

    body = api("get", f"/deliveries/{delivery.pk}", integration_token).json()

    assert body["payload"] == delivery.payload and body["uuid"] == str(delivery.uuid)
    assert [(a["number"], a["response_code"], a["error"]) for a in body["log"]] == [
        (1, 500, "HTTP 500: boom")
    ]
    assert api("get", "/deliveries/999999", integration_token).status_code == 404


def test_redeliver_through_the_api(api, integration_token, sub, receiver, customer, case):
    now = datetime.now(UTC)
    delivery = failed_delivery(receiver, customer, case, now)

    r = api("post", f"/deliveries/{delivery.pk}/redeliver", integration_token)

    assert r.status_code == 200, r.content
    assert r.json()["status"] == "pending" and r.json()["redelivered_by"] == "token:ops"
    assert deliveries_send(now=datetime.now(UTC)).delivered == 1
    assert api("post", "/deliveries/999999/redeliver", integration_token).status_code == 404


def test_only_admin_level_tokens_see_the_log_or_redeliver(
    api, sub, customer, case, team, alice, admin_user, now
):
    delivery = failed_delivery(None, customer, case, now)
    agent_token = token_create(name="alice", agent=alice.agent, now=now)[1]
    admin_token = token_create(name="boss", agent=admin_user.agent, now=now)[1]

    for path, method in [
        ("/deliveries", "get"),
        (f"/deliveries/{delivery.pk}", "get"),
        (f"/deliveries/{delivery.pk}/redeliver", "post"),
        ("/subscriptions", "get"),
    ]:
        refused = api(method, path, agent_token)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden", path
        assert api(method, path, admin_token).status_code == 200, path
    assert Delivery.objects.get().redelivered_by == "token:boss"
    assert api("get", "/deliveries", "lm_wrong").status_code == 401


def test_a_subscription_made_through_the_api_shows_its_secret_once(
    api, integration_token, team, receiver
):
    r = api(
        "post",
        "/subscriptions",
        integration_token,
        {"name": "erp", "url": receiver.url, "events": ["loop.breached"], "team": "front"},
    )

    assert r.status_code == 201, r.content
    created = r.json()
    sub = Subscription.objects.get(name="erp")
    assert created["secret"] == sub.secret and created["team"] == "front"
    listed = api("get", "/subscriptions", integration_token).json()
    assert listed[0]["name"] == "erp" and "secret" not in listed[0]
    assert listed[0]["secret_prefix"] == sub.secret[:10]


def test_a_bad_subscription_through_the_api_is_422(api, integration_token):
    r = api(
        "post",
        "/subscriptions",
        integration_token,
        {"name": "erp", "url": "https://x.example/h", "events": ["no spaces please"]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "events[0]"
    r = api(
        "post",
        "/subscriptions",
        integration_token,
        {"name": "erp", "url": "https://x.example/h", "events": ["*"], "team": "nope"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "team"
    assert Subscription.objects.count() == 0


# --- the admin ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["webhooks/integration", "webhooks/subscription", "webhooks/delivery"]
)
def test_the_webhook_screens_render(staff, path, sub, customer, case, now):
    open_loop(customer, case, now)
    assert staff.get(f"/admin/{path}/").status_code == 200
    if path.endswith("delivery"):
        assert staff.get(f"/admin/{path}/?status__exact=pending").status_code == 200
    assert staff.get(f"/admin/{path}/add/").status_code in (200, 403)


def test_the_delivery_log_page_shows_attempts_and_never_the_secret(
    staff, sub, receiver, customer, case
):
    now = datetime.now(UTC)
    open_loop(customer, case, now)
    receiver.reply(500, "boom")
    deliveries_send(now=now)
    delivery = Delivery.objects.get()

    page = staff.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()

    assert "HTTP 500: boom" in page and str(delivery.uuid) in page
    assert sub.secret not in page
    assert (
        sub.secret
        not in staff.get(f"/admin/webhooks/subscription/{sub.pk}/change/").content.decode()
    )


def test_the_redeliver_action_in_the_admin_queues_them_again(
    staff, sub, receiver, customer, case, admin_user
):
    now = datetime.now(UTC)
    delivery = failed_delivery(receiver, customer, case, now)

    r = staff.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver", "_selected_action": [delivery.pk]},
        follow=True,
    )

    assert r.status_code == 200 and "1 delivery queued again" in r.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.redelivered_by == admin_user.username


def test_an_integration_made_in_the_admin_shows_its_secret_once(staff, team):
    from lastmile.webhooks.models import Integration

    r = staff.post(
        "/admin/webhooks/integration/add/",
        {
            "name": "Shop SMS",
            "slug": "",
            "channel": "sms",
            "url": "",
            "team": team.pk,
            "active": "on",
        },
        follow=True,
    )

    assert r.status_code == 200
    integration = Integration.objects.get()
    assert integration.slug == "shop-sms" and integration.secret in r.content.decode()
    page = staff.get(f"/admin/webhooks/integration/{integration.pk}/change/").content.decode()
    assert integration.secret not in page and integration.secret_prefix in page


def test_a_subscription_made_in_the_admin_checks_its_events(staff, receiver):
    r = staff.post(
        "/admin/webhooks/subscription/add/",
        {"name": "erp", "url": receiver.url, "events": "loop opened", "active": "on"},
    )
    assert r.status_code == 200 and "is not an event name" in r.content.decode()
    assert Subscription.objects.count() == 0

    r = staff.post(
        "/admin/webhooks/subscription/add/",
        {
            "name": "erp",
            "url": receiver.url,
            "events": "loop.breached, case.solved",
            "active": "on",
        },
        follow=True,
    )
    sub = Subscription.objects.get()
    assert sub.events == ["loop.breached", "case.solved"] and sub.secret in r.content.decode()


def test_agents_without_staff_rights_cannot_reach_the_admin(client, alice, sub):
    client.force_login(alice)
    assert client.get("/admin/webhooks/delivery/").status_code == 302


def test_finished_deliveries_leave_the_log_after_thirty_days_pending_ones_stay(
    sub, receiver, customer, case
):
    from lastmile.webhooks.services.subscriptions import deliveries_prune

    now = datetime.now(UTC)
    for days, status in [(31, "delivered"), (31, "failed"), (31, "pending"), (29, "delivered")]:
        open_loop(customer, case, now - timedelta(days=days))
        Delivery.objects.filter(pk=Delivery.objects.order_by("-id").first().pk).update(
            status=status
        )
    DeliveryAttempt.objects.create(
        delivery=Delivery.objects.get(status="failed"), number=1, at=now, response_code=500
    )

    assert deliveries_prune(now=now) == 2

    assert sorted(Delivery.objects.values_list("status", flat=True)) == ["delivered", "pending"]
    assert DeliveryAttempt.objects.count() == 0

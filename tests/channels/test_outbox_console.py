"""The customer page's outbox panel: why a message failed, without what the receiver said
unless the viewer is an admin.

A receiver's answer ("HTTP 500: <its page>") may hold what only its operators should read,
an internal service's page had a target slipped through; the API keeps it from non-admins
(``lastmile.webhooks.api.sees_responses``) and so does the console.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.people.viewers import SYSTEM
from lastmile.webhooks.services.integrations import (
    integration_create,
    message_send,
)
from tests.webhooks.factories import received_sms_case

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhooks_to_loopback")]

SECRET_PAGE = "internal page: db password hunter2"


@pytest.fixture
def sms_case(receiver, team):
    now = datetime.now(UTC)
    integration, _ = integration_create(
        name="Shop SMS", channel="sms", team=team, url=receiver.url, now=now
    )
    return received_sms_case(integration=integration, now=now)


def _reply_failing(case, receiver, status: int) -> OutboxMessage:
    receiver.reply(status, SECRET_PAGE)
    message_send(case=case, text="It left today.", now=datetime.now(UTC))
    outbox_deliver(now=datetime.now(UTC))
    return OutboxMessage.objects.get()


@pytest.mark.parametrize(("status", "state"), [(500, "pending"), (400, "failed")])
def test_an_agent_of_the_team_sees_the_status_but_not_the_receivers_answer(
    client, alice, receiver, sms_case, status, state
):
    # given a reply the receiver answered with an error page
    queued = _reply_failing(sms_case, receiver, status)
    assert queued.status == state and SECRET_PAGE in queued.last_error

    # when an agent of the case's team opens the customer page
    client.force_login(alice)
    page = client.get(f"/customers/{sms_case.customer_id}/").content.decode()

    # then the panel says what failed, not what the receiver answered
    assert f"HTTP {status}" in page and "shop-sms" in page
    assert "hunter2" not in page and "internal page" not in page


@pytest.mark.parametrize("status", [500, 400])
def test_an_admin_sees_the_receivers_answer(client, admin_user, receiver, sms_case, status):
    _reply_failing(sms_case, receiver, status)

    client.force_login(admin_user)
    page = client.get(f"/customers/{sms_case.customer_id}/").content.decode()

    assert f"HTTP {status}: {SECRET_PAGE}" in page


def test_a_refusal_of_our_own_is_shown_to_the_agent_in_full(client, alice, sms_case, settings):
    # given the integration's target is refused before anything is sent
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ()
    message_send(case=sms_case, text="It left today.", now=datetime.now(UTC))
    outbox_deliver(now=datetime.now(UTC))
    assert OutboxMessage.objects.get().status == "failed"

    client.force_login(alice)
    page = client.get(f"/customers/{sms_case.customer_id}/").content.decode()

    assert "refused before sending: 127.0.0.1 is a loopback address" in page


@pytest.mark.parametrize(
    ("stored", "agent_sees"),
    [
        ("TransportError: shop: HTTP 503: busy, <b>db</b>", "TransportError: shop: HTTP 503"),
        (
            "PermanentFailure: shop refused it: HTTP 400: {}",
            "PermanentFailure: shop refused it: HTTP 400",
        ),
        ("TransportError: shop: HTTP 502", "TransportError: shop: HTTP 502"),
        ("ConnectionError: nobody listening", "ConnectionError: nobody listening"),
        ("", ""),
    ],
)
def test_the_error_shown_keeps_only_the_status_line_for_non_admins(
    alice, admin_user, charlie, stored, agent_sees
):
    from lastmile.channels.selectors import outbox_error_shown

    message = OutboxMessage(last_error=stored)

    assert outbox_error_shown(message, viewer=alice) == agent_sees
    assert outbox_error_shown(message, viewer=charlie) == agent_sees
    assert outbox_error_shown(message, viewer=admin_user) == stored
    assert outbox_error_shown(message, viewer=SYSTEM) == stored

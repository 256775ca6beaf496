"""POST /api/v1/cases/{ref}/messages: a reply routed as in the console, a note, a channel
that cannot deliver refused unless logged, attachments by email, and an agent token's scope."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from lastmile.api.services import token_create
from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.core.clock import utcnow
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.mail.models import Attachment
from lastmile.mail.services import email_receive, mailbox_ensure
from lastmile.people.models import Agent
from tests.api.client import Api
from tests.mail.helpers import SUPPORT, make_mail

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def mail_store(settings, tmp_path):
    settings.LASTMILE_MAIL_STORAGE_DIR = str(tmp_path / "mailstore")
    settings.LASTMILE_MAIL_ADDRESSES = ""


@pytest.fixture
def email_case(team):
    mailbox_ensure(address=SUPPORT, team=team, name="Lastmile support")
    return email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=NOW).email.case


@pytest.fixture
def api(client):
    return Api(client, token_create(name="crm", now=NOW)[1])


def as_agent(client, user):
    return Api(
        client, token_create(name=user.username, agent=Agent.objects.get(user=user), now=NOW)[1]
    )


def test_a_reply_by_email_is_queued_with_its_outbox_id(api, email_case):
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {"kind": "reply", "channel": "email", "body": "Your card works again."},
    )
    assert response.status_code == 201, response.content
    row = OutboxMessage.objects.get()
    reply = Interaction.objects.get(direction="outbound")
    assert response.json() == {"id": reply.pk, "delivery": "queued", "outbox": row.pk}
    assert row.recipient == "maya@example.com"


def test_a_channel_that_cannot_deliver_is_422_and_writes_nothing(api, email_case):
    response = api.post(
        f"/cases/{email_case.ref}/messages", {"kind": "reply", "channel": "web", "body": "Hi"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "channel_not_deliverable"
    assert body["errors"][0]["field"] == "channel"
    assert not Interaction.objects.filter(direction="outbound").exists()
    assert Loop.objects.get(case=email_case).state == "open"


def test_log_only_records_a_reply_given_elsewhere(api, email_case):
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {"kind": "reply", "channel": "phone", "body": "Called her back", "log_only": True},
    )
    assert response.status_code == 201
    assert response.json()["delivery"] == "logged" and response.json()["outbox"] is None
    assert not OutboxMessage.objects.exists()
    assert Interaction.objects.get(direction="outbound").data == {"delivery": "logged"}


def test_a_note_is_written_and_never_sent(api, email_case):
    response = api.post(f"/cases/{email_case.ref}/messages", {"kind": "note", "body": "VIP"})
    assert response.status_code == 201 and response.json()["delivery"] == "note"
    assert Interaction.objects.get(direction="note").body == "VIP"
    assert not OutboxMessage.objects.exists()


def test_an_over_long_body_is_422_naming_the_limit(api, email_case):
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {"kind": "reply", "channel": "email", "body": "x" * 10_001},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"
    assert not OutboxMessage.objects.exists()


def test_an_agent_token_writes_only_where_its_agent_may(client, alice, bob, charlie, email_case):
    body = {"kind": "reply", "channel": "email", "body": "Hello"}
    outsider = as_agent(client, charlie).post(f"/cases/{email_case.ref}/messages", body)
    assert outsider.status_code == 404
    assert not Interaction.objects.filter(direction="outbound").exists()
    owner = as_agent(client, alice).post(f"/cases/{email_case.ref}/messages", body)
    assert owner.status_code == 201
    assert Interaction.objects.get(direction="outbound").actor == alice
    teammate = as_agent(client, bob).post(f"/cases/{email_case.ref}/messages", body)
    assert teammate.status_code == 201


def test_an_attachment_goes_out_with_the_email_over_smtp(api, email_case, smtp_sink):
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {
            "kind": "reply",
            "channel": "email",
            "body": "The receipt you asked for.",
            "attachments": [
                {
                    "filename": "receipt.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode(),
                }
            ],
        },
    )
    assert response.status_code == 201, response.content
    assert OutboxMessage.objects.get().channel == "email:files"
    assert outbox_deliver(now=utcnow() + timedelta(seconds=1)).sent == 1
    [envelope] = smtp_sink.envelopes
    sent = message_from_bytes(envelope.content, policy=policy.default)
    assert sent.get_body(("plain",)).get_content().strip() == "The receipt you asked for."
    [part] = list(sent.iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == ("receipt.pdf", "application/pdf")
    assert part.get_content() == PDF
    stored = Attachment.objects.get()
    assert (stored.email.direction, stored.size) == ("outbound", len(PDF))


@pytest.mark.parametrize(
    ("filename", "content_type"),
    [("run.exe", "application/x-msdownload"), ("invoice.pdf.exe", "application/pdf")],
)
def test_an_attachment_of_a_type_not_allowed_is_refused(api, email_case, filename, content_type):
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {
            "kind": "reply",
            "channel": "email",
            "body": "Here",
            "attachments": [
                {"filename": filename, "content_type": content_type, "content_base64": "AAAA"}
            ],
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "attachments"
    assert not Interaction.objects.filter(direction="outbound").exists()


def test_an_attachment_over_the_size_limit_is_refused(api, email_case, settings):
    settings.LASTMILE_MAIL_ATTACHMENT_MAX_BYTES = 10
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {
            "kind": "reply",
            "channel": "email",
            "body": "Here",
            "attachments": [
                {
                    "filename": "a.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode(),
                }
            ],
        },
    )
    assert response.status_code == 422
    assert "the limit is 10" in response.json()["detail"]
    assert not OutboxMessage.objects.exists()


def test_the_api_refuses_a_file_over_what_fits_in_a_request_naming_it(api, email_case, settings):
    # Base64 takes a third more, and the JSON around it needs room: with a 200,000-byte body
    # limit a file is at most (200,000 - 65,536) * 3 / 4 = 100,848 bytes, whatever mail takes.
    settings.LASTMILE_MAX_BODY_BYTES = 200_000
    big = PDF + b"0" * (120_000 - len(PDF))
    response = api.post(
        f"/cases/{email_case.ref}/messages",
        {
            "kind": "reply",
            "channel": "email",
            "body": "Here",
            "attachments": [
                {
                    "filename": "scan.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(big).decode(),
                }
            ],
        },
    )
    assert response.status_code == 422, response.content
    body = response.json()
    assert "scan.pdf" in body["detail"] and "100848" in body["detail"]
    assert (body["errors"][0]["field"], body["errors"][0]["index"]) == ("attachments", 0)
    assert not OutboxMessage.objects.exists()


def _customer_writes(case, body="Actually it works now"):
    from lastmile.customers.services.timeline import interaction_record

    return interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=NOW,
        now=NOW,
        body=body,
    )


def test_a_reply_after_messages_the_client_has_not_seen_is_409_listing_them(api, email_case):
    seen = Interaction.objects.filter(case=email_case).order_by("-id").first().pk
    arrived = _customer_writes(email_case)
    body = {"kind": "reply", "channel": "email", "body": "Let me check", "seen": seen}
    response = api.post(f"/cases/{email_case.ref}/messages", body)
    assert response.status_code == 409, response.content
    data = response.json()
    assert data["code"] == "newer_messages"
    assert [(e["field"], e["index"]) for e in data["errors"]] == [("seen", 0)]
    assert f"interaction {arrived.pk}" in data["errors"][0]["reason"]
    assert "Actually it works now" in data["errors"][0]["reason"]
    assert not Interaction.objects.filter(direction="outbound").exists()

    # having read it (seen = the newest), or with force, the reply goes
    r = api.post(f"/cases/{email_case.ref}/messages", {**body, "seen": arrived.pk})
    assert r.status_code == 201
    _customer_writes(email_case, "And another thing")
    r = api.post(
        f"/cases/{email_case.ref}/messages", {**body, "kind": "note", "channel": "", "force": True}
    )
    assert r.status_code == 201

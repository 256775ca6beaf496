"""POST /api/v1/mail/inbound: mail a provider parsed for us, as JSON."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from lastmile.api.services import token_create
from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Interaction
from lastmile.loops.models import Loop
from lastmile.mail.models import Attachment, EmailMessage
from tests.mail.helpers import SUPPORT
from tests.people.factories import AgentFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
URL = "/api/v1/mail/inbound"


@pytest.fixture
def token(db):
    return token_create(name="mail-provider", now=NOW)[1]


@pytest.fixture
def post(client, token, mailbox):
    def post(body, *, auth=f"Bearer {token}", raw=None):
        headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
        data = raw if raw is not None else json.dumps(body)
        return client.post(URL, data, content_type="application/json", **headers)

    return post


def payload(**overrides):
    body = {
        "from": "Maya Rossi <maya@example.com>",
        "to": [SUPPORT],
        "subject": "Refund for order 1182",
        "text": "Hello, I returned the parcel a week ago.",
        "html": "<p>Hello, I returned the parcel a week ago.</p><script>x()</script>",
        "headers": {"X-Mailer": "Provider"},
        "message_id": "<wh1@example.com>",
        "attachments": [
            {
                "filename": "label.pdf",
                "content_type": "application/pdf",
                "content_base64": base64.b64encode(b"%PDF-1.4 label").decode(),
            }
        ],
    }
    body.update(overrides)
    return body


def counts():
    return (
        Case.objects.count(),
        Customer.objects.count(),
        Interaction.objects.count(),
        Loop.objects.count(),
        EmailMessage.objects.count(),
        Attachment.objects.count(),
    )


def test_a_parsed_email_becomes_a_case_with_a_reply_loop(post, team):
    response = post(payload())
    assert response.status_code == 201, response.content
    body = response.json()
    case = Case.objects.get()
    assert body["created"] is True and body["case"] == case.ref
    assert body["threaded_by"] == "new" and body["automated"] is False
    assert body["attachments"] == [
        {
            "filename": "label.pdf",
            "content_type": "application/pdf",
            "size": 14,
            "status": "stored",
            "reason": "",
        }
    ]
    assert (case.team, case.subject, case.customer.display_name) == (
        team,
        "Refund for order 1182",
        "Maya Rossi",
    )
    email = EmailMessage.objects.get()
    assert "script" not in email.html and email.headers["X-Mailer"] == "Provider"
    assert Loop.objects.filter(case=case, kind="reply", state="open").count() == 1


def test_the_same_message_id_again_answers_200_with_the_first_and_writes_nothing(post):
    first = post(payload()).json()
    before = counts()
    again = post(payload(subject="changed on retry"))
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["created"] is False
    assert counts() == before


def test_to_may_be_one_comma_separated_string(post):
    response = post(payload(to=f"other@elsewhere.test, {SUPPORT}"))
    assert response.status_code == 201 and EmailMessage.objects.get().mailbox_address == SUPPORT


def test_threading_and_automation_headers_are_honoured(post):
    first = post(payload()).json()
    ooo = post(
        payload(
            message_id="<wh2@example.com>",
            headers={"In-Reply-To": "<wh1@example.com>", "Auto-Submitted": "auto-replied"},
            attachments=[],
        )
    ).json()
    assert ooo["case"] == first["case"] and ooo["threaded_by"] == "in-reply-to"
    assert ooo["automated"] is True and ooo["automated_reason"] == "Auto-Submitted: auto-replied"
    assert Loop.objects.filter(kind="reply").count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"from": "not-an-address"}, "from", "not an email address"),
        ({"to": ["nobody@elsewhere.test"]}, "to", "not an address lastmile accepts mail for"),
        ({"to": ["bad address"]}, "to[0]", "not an email address"),
        ({"to": []}, "to", "List should have at least 1 item after validation, not 0"),
        (
            {"message_id": ""},
            "message_id",
            "required (or a Message-ID header): it makes retries safe",
        ),
        ({"text": "", "html": "", "attachments": []}, "text", "give text, html or an attachment"),
        ({"subject": "Hi\r\nBcc: victim@example.com"}, "subject", "must not contain a line break"),
        (
            {"headers": {"X-Evil": "a\r\nBcc: victim@example.com"}},
            "headers.X-Evil",
            "must not contain a line break",
        ),
        ({"headers": {"Bad Name": "x"}}, "headers.Bad Name", "not a valid header name"),
        (
            {"headers": {"Content-Type": "text/html"}},
            "headers.Content-Type",
            "set by lastmile from the parts given",
        ),
        (
            {"attachments": [{"filename": "a.pdf", "content_base64": "!!not base64!!"}]},
            "attachments[0].content_base64",
            "not valid base64",
        ),
        (
            {"attachments": [{"filename": "a.pdf"}]},
            "attachments[0].content_base64",
            "Field required",
        ),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_writes_nothing(post, overrides, field, reason):
    before = counts()
    response = post(payload(**overrides))
    assert response.status_code == 422, response.content
    body = response.json()
    assert {"field": field, "reason": reason, "index": None} in body["errors"], body
    assert body["code"] == "invalid" and body["detail"]
    assert counts() == before


def test_malformed_json_is_a_400(post):
    response = post(None, raw="{not json")
    assert response.status_code == 400 and counts() == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize("auth", [None, "Bearer nope"])
def test_without_a_valid_token_it_is_401_and_writes_nothing(post, auth):
    response = post(payload(), auth=auth)
    assert response.status_code == 401 and counts() == (0, 0, 0, 0, 0, 0)


def test_an_agents_token_may_not_deliver_customers_mail(post, team):
    agent = AgentFactory(user__username="ann", teams=[team])
    _, secret = token_create(name="ann-token", now=NOW, agent=agent)
    response = post(payload(), auth=f"Bearer {secret}")
    assert response.status_code == 403 and counts() == (0, 0, 0, 0, 0, 0)


def test_an_oversized_message_is_413(post, settings):
    settings.LASTMILE_MAIL_MAX_BYTES = 1000
    response = post(payload(text="x" * 2000))
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert counts() == (0, 0, 0, 0, 0, 0)

"""An invalid internal note is refused with the reason, never a 500, from the console and
from the API: too long, blank, or with a NUL character (which PostgreSQL cannot store): 422,
except a NUL through the API, which its JSON reader refuses with 400 before any schema.
(The earlier report of a missing ``ErrorCode.NOTE``: no such code was ever used; a bad note
is ``invalid`` with the field ``body``.)"""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.channels.replies import REPLY_BODY_MAX
from lastmile.customers.models import Interaction
from tests.api.client import Api

pytestmark = pytest.mark.django_db

BAD = [
    ("x" * (REPLY_BODY_MAX + 1), f"the limit is {REPLY_BODY_MAX}"),
    ("   ", ""),
    ("before\x00after", ""),
]


@pytest.mark.parametrize(("body", "said"), BAD)
def test_the_console_refuses_a_bad_note_with_422(client, alice, case, body, said):
    client.force_login(alice)
    response = client.post(f"/cases/{case.ref}/note/", {"body": body})
    assert response.status_code == 422
    assert said in response.content.decode()
    assert not Interaction.objects.filter(direction="note").exists()


@pytest.mark.parametrize(("body", "said"), BAD)
def test_the_api_refuses_a_bad_note_with_422_naming_the_body(client, case, now, body, said):
    api = Api(client, token_create(name="crm", now=now)[1])
    response = api.post(f"/cases/{case.ref}/messages", {"kind": "note", "body": body})
    data = response.json()
    if "\x00" in body:
        # The API's JSON reader refuses a NUL before any schema (400, as on every path).
        assert response.status_code == 400, response.content
    else:
        assert response.status_code == 422, response.content
        assert data["code"] == "invalid" and "body" in {e["field"] for e in data["errors"]}
    assert not Interaction.objects.filter(direction="note").exists()

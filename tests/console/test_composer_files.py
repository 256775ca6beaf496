"""The composer's file box follows the "via" list: shown on a channel that carries files
(email), hidden and disabled on one that does not (a reply logged as given elsewhere); the
server refuses a file on a logged reply anyway, saying why, once."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from lastmile.customers.models import Interaction
from tests.cases.factories import CaseFactory
from tests.console.test_reply_console import PDF, email_case, mail_store  # noqa: F401 - fixtures
from tests.customers.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

FILES_BOX = re.compile(
    r'<div class="composer-files" data-files-box( hidden)?>\s*<label>Attach files (<input[^>]*>)'
)


def files_box(client, case) -> tuple[bool, str]:  # type: ignore[no-untyped-def]
    """(hidden, the file input's tag) as the case page draws them, before any script runs."""
    page = client.get(f"/cases/{case.ref}/").content.decode()
    found = FILES_BOX.search(page)
    assert found is not None, "no file box on the page"
    return bool(found.group(1)), found.group(2)


def test_a_case_answered_by_email_shows_the_file_box(client, alice, email_case):  # noqa: F811
    client.force_login(alice)
    hidden, field = files_box(client, email_case)
    assert not hidden and "disabled" not in field


def test_a_case_only_logged_hides_and_disables_the_file_box(client, alice, team):
    # Given a customer with no way to reach them: the composer defaults to logging a reply
    case = CaseFactory(customer=CustomerFactory(), team=team, channel="web")
    client.force_login(alice)
    # Then the file box is hidden and its input disabled (nothing would carry a file)
    hidden, field = files_box(client, case)
    assert hidden and "disabled" in field


def test_a_file_posted_with_a_logged_reply_is_refused_once_and_nothing_is_written(
    client,
    alice,
    email_case,  # noqa: F811
):
    client.force_login(alice)
    upload = SimpleUploadedFile("answer.pdf", PDF, content_type="application/pdf")
    response = client.post(
        f"/cases/{email_case.ref}/reply/",
        {"channel": "log:phone", "body": "Called", "attachments": [upload]},
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert page.count("A logged reply carries no attachments: nothing sends them.") == 1
    assert not Interaction.objects.filter(direction="outbound").exists()
    # The page keeps the log option picked, so its file box is hidden again
    assert re.search(r'<option value="log:phone" selected>', page)
    assert FILES_BOX.search(page).group(1) == " hidden"

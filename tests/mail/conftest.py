"""Fixtures shared by the mail tests."""

from __future__ import annotations

import pytest

from tests.mail.helpers import SUPPORT


@pytest.fixture(autouse=True)
def mail_store(settings, tmp_path):
    """Raw messages and attachments go to a directory of this test's own."""
    settings.LASTMILE_MAIL_STORAGE_DIR = str(tmp_path / "mailstore")
    settings.LASTMILE_MAIL_ADDRESSES = ""
    return tmp_path / "mailstore"


@pytest.fixture
def mailbox(team):
    from lastmile.mail.services import mailbox_ensure

    return mailbox_ensure(address=SUPPORT, team=team, name="Lastmile support")

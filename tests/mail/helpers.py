"""Shared pieces of the mail tests (imported by the test_mail_* modules; no tests here)."""

from __future__ import annotations

import socket
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

SUPPORT = "support@lastmile.test"
BILLING = "billing@lastmile.test"


def make_mail(
    *,
    sender: str = "Maya Rossi <maya@example.com>",
    to: str = SUPPORT,
    subject: str = "My card does not work",
    body: str = "Hello, my card was declined this morning.",
    message_id: str = "<m1@example.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
    date: datetime | None = None,
) -> bytes:
    """A message as a mail client would send it."""
    msg = MimeMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if date is not None:
        msg["Date"] = format_datetime(date)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, payload in attachments or []:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


class Recorder(Sink):
    """An SMTP server that keeps what it is sent (the outbound side's far end)."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_sink(settings):
    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    yield handler
    controller.stop()

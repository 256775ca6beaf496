"""Shared pieces of the mail tests (imported by the test_mail_* modules; no tests here). Their
fixtures are in tests/mail/conftest.py; the SMTP sink, which the outbox tests use too, is in
tests/conftest.py."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime

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

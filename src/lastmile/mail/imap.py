"""Polling an IMAP mailbox (optional): for mail that arrives at a provider, not at smtpd.

Each unseen message is fetched without marking it (``BODY.PEEK[]``), handed to
``email_receive`` and only then flagged ``\\Seen``, so a crash between the two means the
message is fetched again next time — and stored once, by its Message-ID. A message lastmile
refuses (no valid From, say) is flagged ``\\Seen \\Flagged`` for a person to look at, and
not fetched again.
"""

from __future__ import annotations

import imaplib
import logging
from dataclasses import dataclass, field

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError
from lastmile.mail.services import email_receive

log = logging.getLogger(__name__)


@dataclass
class PollResult:
    stored: int = 0
    repeated: int = 0
    refused: list[str] = field(default_factory=list)


def imap_poll(
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    address: str,
    folder: str = "INBOX",
    ssl: bool = True,
    limit: int = 200,
    timeout: float = 30,
) -> PollResult:
    """Fetch up to ``limit`` unseen messages of ``folder``; ``address`` is the recipient
    lastmile files them under (the mailbox's address, which routes them to a team)."""
    result = PollResult()
    cls = imaplib.IMAP4_SSL if ssl else imaplib.IMAP4
    with cls(host, port, timeout=timeout) as conn:
        conn.login(user, password)
        typ, _ = conn.select(folder)
        if typ != "OK":
            raise RuntimeError(f"IMAP: cannot select folder {folder!r}")
        typ, data = conn.uid("SEARCH", "UNSEEN")
        if typ != "OK":
            raise RuntimeError("IMAP: UID SEARCH UNSEEN failed")
        uids = (data[0] or b"").split()[:limit]
        for uid in uids:
            typ, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((part[1] for part in fetched if isinstance(part, tuple)), None)
            if typ != "OK" or not isinstance(raw, bytes):
                log.warning("IMAP: could not fetch UID %s; left unseen", uid.decode())
                continue
            try:
                received = email_receive(raw=raw, envelope_rcpts=[address], now=utcnow())
            except DomainError as exc:
                result.refused.append(f"UID {uid.decode()}: {exc.detail}")
                conn.uid("STORE", uid, "+FLAGS", "(\\Seen \\Flagged)")
                continue
            if received.created:
                result.stored += 1
            else:
                result.repeated += 1
            conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
    return result

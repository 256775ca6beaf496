"""``lastmile smtpd``: an SMTP receiver (aiosmtpd) in front of ``email_receive``.

RCPT for an address lastmile does not accept is refused with 550 before any data is sent;
a message over LASTMILE_MAIL_MAX_BYTES gets 552 (announced by SIZE, enforced on DATA). A
message ``email_receive`` refuses gets 550 with its reason; an unexpected failure 451, so
the sending server tries again later (ingestion is idempotent on the Message-ID).

The database is used from a small thread pool, never from the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from django.db import close_old_connections, connections

from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode
from lastmile.mail import conf
from lastmile.mail.services import email_receive, mail_accepts

log = logging.getLogger(__name__)
T = TypeVar("T")


def _with_db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # A connection per call, closed after it: SMTP commands are few, and no connection is
    # left behind in a pool thread (which would outlive a stopped server).
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        connections.close_all()


class MailHandler:
    """aiosmtpd hooks: check recipients, hand each message to ``email_receive``."""

    def __init__(self, *, threads: int = 4) -> None:
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="smtpd-db")

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: _with_db(fn, *args, **kwargs))

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        try:
            accepted = await self._db(mail_accepts, address)
        except Exception:
            log.exception("smtpd: could not check recipient %s", address)
            return "451 4.3.0 Temporary failure, try again later"
        if not accepted:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            received = await self._db(
                email_receive,
                raw=raw,
                envelope_rcpts=list(envelope.rcpt_tos),
                envelope_from=envelope.mail_from,
                now=utcnow(),
            )
        except DomainError as exc:
            if exc.code == ErrorCode.TOO_LARGE:
                return f"552 5.3.4 {exc.detail}"
            return f"550 5.6.0 {exc.detail}"[:500]
        except Exception:
            log.exception("smtpd: could not store a message from %s", envelope.mail_from)
            return "451 4.3.0 Temporary failure, try again later"
        email = received.email
        where = email.case.ref if email.case_id and email.case else "recorded"
        return f"250 2.0.0 OK {where}"

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def smtpd_controller(*, host: str | None = None, port: int | None = None) -> Controller:
    """A started-on-demand receiver (``.start()``/``.stop()``) on ``host:port``."""
    return Controller(
        MailHandler(),
        hostname=host or conf.smtp_host(),
        port=port if port is not None else conf.smtp_port(),
        data_size_limit=conf.max_message_bytes(),
        enable_SMTPUTF8=True,
        decode_data=False,
        ident="lastmile smtpd",
    )


def smtpd_run(*, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGINT or SIGTERM."""
    controller = smtpd_controller(host=host, port=port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    controller.start()
    log.info("lastmile smtpd listening on %s:%s", controller.hostname, controller.port)
    try:
        stop.wait()
    finally:
        controller.stop()
        controller.handler.close()

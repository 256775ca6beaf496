"""Back-pressure: a slow, locked or unreachable database answers 503 with Retry-After.

An ingest client (an integration, a Segment library, a provider's webhook) retries on a 5xx
with Retry-After; a request that hangs until the proxy or gunicorn gives up, or a 500, tells
it nothing and holds a worker meanwhile. So:

1. Requests from outside (``is_ingest``: writes on the API, Segment and hook paths, and the
   customers' portal and survey forms) wait at most ``LASTMILE_DB_LOCK_TIMEOUT_MS`` for a
   lock (PostgreSQL ``lock_timeout``; SQLite's busy timeout) and, on PostgreSQL, at most
   ``LASTMILE_DB_STATEMENT_TIMEOUT_MS`` for one statement (``statement_timeout``). Set on
   the web process's connection for those requests only: the console keeps the server's
   defaults, and the worker, which never passes through here, runs its long jobs without.
2. The errors a busy database raises (``busy_of``) become one answer (``busy_response``):
   503, ``Retry-After``, the API's error body with code ``busy`` and the reason. The
   middleware does it for plain views, the API's exception handler for its operations.

Nothing is half-written: each ingest service writes in one transaction, which the error
rolls back, and ingest is idempotent on the client's ids, so the retry stores it once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db import Error as DjangoDbError
from django.http import HttpRequest, HttpResponse

from lastmile.core.errors import ErrorCode

logger = logging.getLogger("lastmile.backpressure")

MACHINE_PATHS = ("/api/", "/v1/", "/hooks/")  # JSON answers (as lastmile.core.middleware's)
# Unsafe methods on these come from outside: integrations, clients, providers, customers.
INGEST_PATHS = (*MACHINE_PATHS, "/portal/", "/feedback/r/")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Busy:
    """Why the database could not answer in time, and when to try again."""

    reason: str  # lock_timeout, database_locked, statement_timeout, deadlock, ...
    detail: str
    retry_after: int  # seconds


# PostgreSQL SQLSTATEs (Appendix A) a client should retry after a pause.
SQLSTATES = {
    "55P03": Busy("lock_timeout", "a row or table it needs is locked by other work", 1),
    "57014": Busy("statement_timeout", "a statement ran past the time allowed", 5),
    "40P01": Busy("deadlock", "it was chosen to break a deadlock", 1),
    "40001": Busy("serialization_failure", "it conflicted with a concurrent transaction", 1),
    "53300": Busy("too_many_connections", "the database has no free connection", 5),
    "53000": Busy("insufficient_resources", "the database is out of resources", 5),
    "57P03": Busy("database_starting", "the database is starting or shutting down", 5),
    "57P01": Busy("database_unavailable", "the database was shut down", 5),
}
SQLITE_LOCKED = Busy("database_locked", "another writer holds the database's write lock", 1)
UNAVAILABLE = Busy("database_unavailable", "the database cannot be reached", 5)
SQLITE_BUSY_TEXTS = ("database is locked", "database table is locked", "database is busy")


def busy_of(exc: BaseException) -> Busy | None:
    """The reason to answer 503 for this database error, or None (a bug: a 500).

    Django wraps the driver's error and keeps it as ``__cause__``: psycopg's carries a
    SQLSTATE; one without (connection refused, closed by the server) failed to connect."""
    if not isinstance(exc, DjangoDbError):
        return None
    cause = exc.__cause__
    if isinstance(cause, sqlite3.OperationalError):
        text = str(cause).lower()
        return SQLITE_LOCKED if any(t in text for t in SQLITE_BUSY_TEXTS) else None
    try:
        import psycopg
    except ImportError:  # SQLite only
        return None
    if not isinstance(cause, psycopg.Error):
        return None
    state = getattr(cause, "sqlstate", None)
    if state in SQLSTATES:
        return SQLSTATES[state]
    if state is not None and state.startswith("08"):  # connection exception class
        return UNAVAILABLE
    if state is None and isinstance(cause, psycopg.OperationalError | psycopg.InterfaceError):
        return UNAVAILABLE
    return None


def busy_response(request: HttpRequest, busy: Busy) -> HttpResponse:
    """503 with Retry-After: the API's error body on machine paths, a short page otherwise."""
    logger.warning(
        "database busy (%s) on %s %s: answered 503", busy.reason, request.method, request.path
    )
    detail = (
        f"the database is busy: {busy.detail}; nothing was stored, retry after {busy.retry_after} s"
    )
    if request.path.startswith(MACHINE_PATHS):
        body = {
            "code": ErrorCode.BUSY,
            "detail": detail,
            "errors": [{"index": None, "field": "database", "reason": busy.reason}],
        }
        response = HttpResponse(json.dumps(body), status=503, content_type="application/json")
    else:
        page = (
            "<!doctype html><title>Busy, try again</title>"
            f"<h1>Busy, try again in a moment</h1><p>{escape(detail)}.</p>"
        )
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(busy.retry_after)
    return response


def is_ingest(request: HttpRequest) -> bool:
    return request.method in WRITES and request.path.startswith(INGEST_PATHS)


# --- the timeouts ---------------------------------------------------------------------


def _pg_apply(conn: object, lock_ms: int, statement_ms: int) -> None:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "SELECT set_config('lock_timeout', %s, false), "
            "set_config('statement_timeout', %s, false)",
            [f"{lock_ms}ms", f"{statement_ms}ms"],
        )


def _pg_reset(conn: object) -> None:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "SELECT set_config(name, reset_val, false) FROM pg_settings "
            "WHERE name IN ('lock_timeout', 'statement_timeout')"
        )


class _Timeouts:
    """Short timeouts on the request's connection while it serves an ingest request.

    PostgreSQL: session settings, kept on a connection between ingest requests (a round
    trip saved on each) and taken off before a request of another kind uses it. The
    connection object is remembered with the values, so a connection reopened since
    gets them again. Inside a transaction (a test's) they are set and reset every time,
    since its rollback would undo them behind the record's back.
    SQLite: the busy timeout, set for the request and put back after it (no round trip).
    """

    MARK = "_lastmile_ingest_timeouts"
    SQLITE_MARK = "_lastmile_busy_timeout"

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.conn = connections[alias]

    def enter(self, ingest: bool) -> Callable[[], None] | None:
        """Apply (or take off) the timeouts; the callable undoes what must not outlive
        the request."""
        conn = self.conn
        if conn.vendor == "postgresql":
            return self._postgresql(ingest)
        if conn.vendor == "sqlite" and ingest:
            return self._sqlite()
        return None

    def _postgresql(self, ingest: bool) -> Callable[[], None] | None:
        conn = self.conn
        mark = getattr(conn, self.MARK, None)
        if not ingest:
            if mark is not None and conn.connection is mark[0]:
                setattr(conn, self.MARK, None)
                _pg_reset(conn)
            return None
        lock_ms = settings.LASTMILE_DB_LOCK_TIMEOUT_MS
        statement_ms = settings.LASTMILE_DB_STATEMENT_TIMEOUT_MS
        conn.close_if_health_check_failed()  # a dead kept connection: reopen it first
        conn.ensure_connection()
        if conn.in_atomic_block:
            setattr(conn, self.MARK, None)  # the reset below takes them off again
            _pg_apply(conn, lock_ms, statement_ms)
            return lambda: _quietly(lambda: _pg_reset(conn))
        if mark != (conn.connection, lock_ms, statement_ms):
            _pg_apply(conn, lock_ms, statement_ms)
            setattr(conn, self.MARK, (conn.connection, lock_ms, statement_ms))
        return None

    def _sqlite(self) -> Callable[[], None] | None:
        conn = self.conn
        lock_ms = settings.LASTMILE_DB_LOCK_TIMEOUT_MS
        if lock_ms <= 0:  # 0: the connection's own busy timeout (settings.py)
            return None
        conn.ensure_connection()
        raw = conn.connection
        # On the driver's connection, not through a Django cursor: a third of the cost. The
        # connection's own timeout is read once (it is put back after every request).
        mark = getattr(conn, self.SQLITE_MARK, None)
        if mark is None or mark[0] is not raw:
            mark = (raw, int(raw.execute("PRAGMA busy_timeout").fetchone()[0]))
            setattr(conn, self.SQLITE_MARK, mark)
        before = mark[1]
        raw.execute(f"PRAGMA busy_timeout = {int(lock_ms)}")

        def restore() -> None:
            if conn.connection is raw:
                raw.execute(f"PRAGMA busy_timeout = {before}")

        return lambda: _quietly(restore)


def _quietly(undo: Callable[[], None]) -> None:
    # An aborted transaction (its rollback undoes the setting) or a lost connection (the
    # next one starts with the defaults): nothing left to undo.
    with contextlib.suppress(DatabaseError, sqlite3.Error):
        undo()


class BackpressureMiddleware:
    """Ingest requests get the short timeouts; a busy database anywhere gets 503.

    ``process_exception`` covers plain views (Segment, /hooks/, the portal, the console);
    the API's operations answer through ``lastmile.api.api``'s handler, which calls
    ``busy_of`` and ``busy_response`` the same way."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            undo = _Timeouts().enter(is_ingest(request))
        except DjangoDbError as exc:  # no connection to be had (refused, too many)
            busy = busy_of(exc)
            if busy is None:
                raise
            return busy_response(request, busy)
        try:
            return self.get_response(request)
        finally:
            if undo is not None:
                undo()

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        busy = busy_of(exc)
        return busy_response(request, busy) if busy is not None else None

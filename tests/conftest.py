from __future__ import annotations

import compileall
import os
import socket
import sys
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink

from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.people.factories import AgentFactory, TeamFactory
from tests.webhooks.receiver import Receiver

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop


def _bytecode_cached() -> None:
    """Compiled modules are kept (``__pycache__``, which git ignores) even where
    PYTHONDONTWRITEBYTECODE is set. Without them every run compiles the test modules again
    (pytest's rewritten asserts: 13 of a run's 20 s of collection on one core), and every
    ``lastmile`` subprocess a test starts (serve, worker, smtpd, the CLI's commands) compiles
    from source the ~230 modules of its Django setup: 0.3 of its 1.3 s. The package was
    imported before this file (pytest-django's setup), so it is compiled here, once: later
    runs only compare timestamps. Subprocesses read what is written, whatever their flag."""
    import lastmile

    sys.dont_write_bytecode = False
    compileall.compile_dir(Path(lastmile.__file__).parent, quiet=2)


_bytecode_cached()

pytest_plugins = ["tests.portal.fixtures", "tests.funnels.events", "tests.demo_snapshot"]


def require(variant: str) -> bool:
    """CI sets LASTMILE_REQUIRE_<VARIANT>=1: a missing service must fail, not skip."""
    return os.environ.get(f"LASTMILE_REQUIRE_{variant.upper()}") == "1"


REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data(relative: str) -> Path:
    """A file of ../shared/data, beside the repository's root (not the cwd). Missing, the
    test is skipped, or fails under LASTMILE_REQUIRE_DATA=1 (CI, whose clone has shared/
    beside it)."""
    path = REPO_ROOT.parent / "shared" / "data" / relative
    if not path.exists():
        message = f"{path} not found (../shared/data beside the repository)"
        if require("data"):
            pytest.fail(f"LASTMILE_REQUIRE_DATA=1: {message}")
        pytest.skip(message)
    return path


# A test marked with one of these runs only on that database; on the other it is skipped
# here, with the reason, instead of each test checking the vendor itself. The SQLite pass
# skipping postgres_only tests is fine: scripts/test.sh runs the PostgreSQL pass too (and
# fails under LASTMILE_REQUIRE_POSTGRES=1 when it could not).
VENDOR_MARKERS = {"postgres_only": "postgresql", "sqlite_only": "sqlite"}
# A test marked ``own_database`` uses none of the run's databases (its own SQLite in a
# temporary directory, DuckDB, ClickHouse, or none): the PostgreSQL pass would run it
# unchanged a second time, so it runs in the SQLite pass only.
OWN_DATABASE_REASON = "own_database: uses no database of the run; runs in the SQLite pass only"


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    # The tests that drive Chromium run last, in their order: one Chromium (the `chromium`
    # fixture, for the session) then serves them all, and the event loop Playwright's sync
    # API keeps running in this thread never meets the tests that call asyncio or
    # async_to_sync themselves.
    items[:] = [i for i in items if "chromium" not in i.fixturenames] + [
        i for i in items if "chromium" in i.fixturenames
    ]
    for item in items:
        if item.get_closest_marker("own_database") and connection.vendor != "sqlite":
            item.add_marker(pytest.mark.skip(reason=OWN_DATABASE_REASON))
        for marker, vendor in VENDOR_MARKERS.items():
            if item.get_closest_marker(marker) and connection.vendor != vendor:
                item.add_marker(
                    pytest.mark.skip(
                        reason=f"{marker}: needs {vendor}, runs on {connection.vendor}"
                    )
                )


# What post_migrate makes again after every flush, the same rows each time.
KEPT_BY_FLUSH = frozenset({"django_content_type", "auth_permission"})


@pytest.fixture(scope="session", autouse=True)
def _fast_flush() -> Iterator[None]:
    """After each transactional test (live_server, transaction=True) the test database is
    flushed. On PostgreSQL Django's flush is one TRUNCATE of every table, which makes new
    files for each table and index: 3 to 5 s a test on a busy machine, most of the
    PostgreSQL run's extra time over SQLite's. Emptying the tables with DELETE (the foreign
    keys deferred to the commit, so in any order) leaves the same empty tables in
    milliseconds. Flushes that reset sequences or cascade keep Django's statements.

    On both databases the content types and permissions stay, so the flush's post_migrate,
    whose only receivers make those rows again (a query per app and model: 0.1 to 0.5 s a
    flush), is not sent either; no test changes them."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.contenttypes.management import create_contenttypes
    from django.core.management.commands import flush
    from django.db.models.signals import post_migrate

    receivers = {
        ref() if isinstance(ref, weakref.ReferenceType) else ref
        for _, ref, *_async in post_migrate.receivers
    }
    unexpected = receivers - {create_permissions, create_contenttypes}
    assert not unexpected, f"post_migrate has receivers a flush must not skip: {unexpected}"
    emit = flush.emit_post_migrate_signal
    # (each backend's operations through its base module, which imports them in order)
    from django.db.backends.sqlite3 import base as sqlite

    patched = [(sqlite.DatabaseOperations, sqlite.DatabaseOperations.sql_flush)]
    try:
        from django.db.backends.postgresql import base as postgresql
    except ImportError:  # no psycopg: SQLite only
        pass
    else:
        patched.append((postgresql.DatabaseOperations, postgresql.DatabaseOperations.sql_flush))

    def fast(original):  # type: ignore[no-untyped-def]
        def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):  # type: ignore[no-untyped-def]
            if reset_sequences or allow_cascade:
                return original(
                    self,
                    style,
                    tables,
                    reset_sequences=reset_sequences,
                    allow_cascade=allow_cascade,
                )
            tables = [t for t in tables if t not in KEPT_BY_FLUSH]
            if self.connection.vendor != "postgresql" or not tables:
                return original(self, style, tables)
            # One statement, one round trip: DELETE FROM each table (names as literals).
            names = ", ".join(f"'{self.quote_name(table)}'" for table in tables)
            return [
                "SET CONSTRAINTS ALL DEFERRED;",
                "DO $$ DECLARE t text; BEGIN FOREACH t IN ARRAY ARRAY["
                + names
                + "] LOOP EXECUTE 'DELETE FROM ' || t; END LOOP; END $$;",
            ]

        return sql_flush

    for ops, original in patched:
        ops.sql_flush = fast(original)  # type: ignore[method-assign]
    flush.emit_post_migrate_signal = lambda *args, **kwargs: None  # type: ignore[assignment]
    yield
    flush.emit_post_migrate_signal = emit  # type: ignore[assignment]
    for ops, original in patched:
        ops.sql_flush = original  # type: ignore[method-assign]


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def _live_server_sends_at_once() -> Iterator[None]:
    """The live server writes a response's head and body apart: on a kept-alive connection
    (Chromium's, the schemathesis session's) Nagle's algorithm holds the body until the
    client's delayed ACK, about 40 ms a response, unless the server's sockets send at once."""
    from django.test.testcases import QuietWSGIRequestHandler

    QuietWSGIRequestHandler.disable_nagle_algorithm = True
    yield


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    """Debian's headless Chromium under Playwright's sync API, started once for the session
    (each test gets its own context: cookies and storage are not shared). Missing, the
    browser tests are skipped, or fail under LASTMILE_REQUIRE_BROWSER=1 (CI)."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            reason = "the playwright package is not installed"
    if reason:
        if require("browser"):
            pytest.fail(f"LASTMILE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def browser(chromium):  # type: ignore[no-untyped-def]
    """The session's Chromium (the name the browser tests know it by)."""
    return chromium


@pytest.fixture
def now() -> datetime:
    # A Monday, 10:00 UTC.
    return datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def frozen_clock(now):
    """The clock stands at ``now``: for pages and services that read it. A module asks for
    it with ``pytestmark = pytest.mark.usefixtures("frozen_clock")``."""
    with time_machine.travel(now, tick=False):
        yield


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The environment for running ``lastmile`` as a subprocess on this test's database."""
    from django.db import connection

    env = dict(os.environ)
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        env["LASTMILE_DATABASE_URL"] = f"sqlite:///{s['NAME']}"
    else:
        env["LASTMILE_DATABASE_URL"] = f"postgres://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
    return env


@pytest.fixture
def team(db):
    return TeamFactory(name="Front office", slug="front")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Back office", slug="back")


@pytest.fixture
def alice(team):
    """Agent in the team that owns the work."""
    return AgentFactory(user__username="alice", teams=[team]).user


@pytest.fixture
def bob(team):
    """Alice's teammate."""
    return AgentFactory(user__username="bob", teams=[team]).user


@pytest.fixture
def charlie(other_team):
    """An agent of another team: an outsider to the front office's work."""
    return AgentFactory(user__username="charlie", teams=[other_team]).user


@pytest.fixture
def admin_user(db):
    return AgentFactory(user__username="boss", role="admin").user


@pytest.fixture
def staff(client, admin_user):
    """The test client, logged in as the admin with the staff and superuser flags, as
    agent_create makes admins: for the Django admin's pages."""
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    return client


@pytest.fixture
def customer(db, now):
    return CustomerFactory()


@pytest.fixture
def case(customer, team, now):
    return CaseFactory(customer=customer, team=team)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The real hasher costs ~0.5 s per user; tests of login pages don't need its strength.
    # The default hasher stays in the list to check passwords that subprocesses stored.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


@pytest.fixture
def webhooks_to_loopback(settings):
    """Webhook targets on this machine allowed, as LASTMILE_WEBHOOK_ALLOWED_NETWORKS does:
    the tests' receivers listen on 127.0.0.1 (refused by default as an internal address)."""
    settings.LASTMILE_WEBHOOK_ALLOWED_NETWORKS = ("127.0.0.0/8", "::1/128")


class Recorder(Sink):
    """An SMTP server that keeps what it is sent (the outbound side's far end)."""

    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_sink(settings):
    """A local SMTP server that Django's mail is sent to; its ``envelopes`` are what came."""
    handler = Recorder()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    yield handler
    controller.stop()


@pytest.fixture
def receiver():
    """An HTTP server on 127.0.0.1 that records what is posted to it (tests/webhooks/receiver.py)."""
    r = Receiver()
    yield r
    r.close()

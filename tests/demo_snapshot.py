"""One seeded demo for the whole run, copied into each test module that reads it.

Seeding the demo (its stories, 13 weeks of history and every app's extension) costs tens
of seconds; a copy of its rows costs a fraction of one. The `demo_snapshot` fixture seeds
once per run, inside a transaction it rolls back, and keeps every model table's rows as the
seed left them (the rows the migrations seed included, seeded again first in case a
transactional test emptied them). `demo_restore` empties those tables and writes the rows
back inside the caller's transaction (a module fixture's ``transaction.atomic()``, rolled
back at the module's end, as a seed of its own was): the module sees the database a fresh
seed gives, whatever earlier tests left. Content types and permissions stay as they are.

Only the models' own columns are copied: the database's own (PostgreSQL's generated
``tsvector`` columns, SQLite's FTS5 tables, filled by triggers) are rebuilt by the
database as the rows go back in. Foreign keys are deferred to the commit on both engines,
so tables go back in any order. On PostgreSQL every value travels as text and is cast back
by the column's type; the sequences are moved past the copied ids afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from importlib import import_module
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.management.color import no_style
from django.db import connection, transaction
from django.test import override_settings

# A Wednesday evening: the bank story's tasks then sit across a working day boundary.
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)
# Website events for the funnels: a few hundred instead of the 350 a customer the seed makes
# by default (4,200 for 12 customers, most of a seed's time).
FUNNEL_EVENTS = 200
# The rows a migration seeds, which a transactional test's flush takes away.
MIGRATION_SEEDS = (
    "lastmile.channels.migrations.0004_contact_rules_seed",
    "lastmile.recovery.migrations.0002_contact_rule_seed",
)
FAST_HASHER = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])


# Made by migrate and the post-migrate signal, with ids that cached objects remember.
KEPT = {"django_content_type", "auth_permission"}


@dataclass
class Table:
    name: str
    pk: str
    columns: list[str]
    model: Any


@dataclass
class Snapshot:
    report: Any
    out: list[str]
    tables: list[Table] = field(default_factory=list)
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)


def _tables() -> Iterator[Table]:
    seen: set[str] = set()
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.proxy or not opts.managed or opts.db_table in seen or opts.db_table in KEPT:
            continue
        seen.add(opts.db_table)
        columns = [f.column for f in opts.local_concrete_fields]
        yield Table(opts.db_table, opts.pk.column, columns, model)


def _rows(table: Table) -> list[tuple[Any, ...]]:
    qn = connection.ops.quote_name
    if connection.vendor == "postgresql":
        select = ", ".join(f"CAST({qn(c)} AS text)" for c in table.columns)
    else:
        select = ", ".join(qn(c) for c in table.columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM {qn(table.name)}")
        return [tuple(map(_stored, row)) for row in cursor.fetchall()]


def _stored(value: Any) -> Any:
    """SQLite's driver reads dates, times and decimals back as Python objects (Django's
    converters) but writes none of them: the text SQLite stored instead."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, time):
        return connection.ops.adapt_timefield_value(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def demo_seed_snapshot(**seed_kwargs: Any) -> Snapshot:
    """Seed the demo in a transaction, keep every table's rows, roll it back."""
    from lastmile.demo.seed import seed_demo

    out: list[str] = []
    with transaction.atomic():
        for seed in MIGRATION_SEEDS:
            import_module(seed).seed(apps, None)
        with FAST_HASHER:
            report = seed_demo(out=out.append, **seed_kwargs)
        snapshot = Snapshot(report=report, out=out, tables=list(_tables()))
        snapshot.rows = {t.name: _rows(t) for t in snapshot.tables}
        transaction.set_rollback(True)
    return snapshot


def demo_restore(snapshot: Snapshot) -> None:
    """Put the database in the snapshot's state; call it inside the transaction that should
    hold it (its rollback puts back what was there)."""
    assert connection.in_atomic_block, "restore the demo inside a transaction"
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in snapshot.tables:
            cursor.execute(f"DELETE FROM {qn(table.name)}")
        for table in snapshot.tables:
            if rows := snapshot.rows[table.name]:
                columns = ", ".join(qn(c) for c in table.columns)
                marks = ", ".join(["%s"] * len(table.columns))
                sql = f"INSERT INTO {qn(table.name)} ({columns}) VALUES ({marks})"
                cursor.executemany(sql, rows)
        if connection.vendor == "postgresql":
            models = [t.model for t in snapshot.tables if snapshot.rows[t.name]]
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)
    # The foreign keys of every row written, checked now, once, in the caller's transaction.
    # Left deferred, PostgreSQL checks them at each test's teardown instead (Django's
    # TestCase checks the constraints before rolling back its savepoint, and the rollback
    # puts the checks back in the queue): about half a second a test.
    connection.check_constraints()


@pytest.fixture(scope="session")
def demo_snapshot(django_db_setup, django_db_blocker) -> Snapshot:  # type: ignore[no-untyped-def]
    """The demo as `make demo` seeds it (seed 7, 12 customers, at NOW), seeded once per run."""
    with django_db_blocker.unblock():
        return demo_seed_snapshot(seed=7, customers=12, now=NOW, funnel_events=FUNNEL_EVENTS)


@contextmanager
def demo_restored(snapshot: Snapshot, django_db_blocker: Any) -> Iterator[SimpleNamespace]:
    """For a module fixture: the demo's rows in a transaction rolled back on leaving."""
    with django_db_blocker.unblock(), transaction.atomic():
        demo_restore(snapshot)
        yield SimpleNamespace(report=snapshot.report, out=snapshot.out)
        transaction.set_rollback(True)

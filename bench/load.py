"""Bulk loading straight into lastmile's tables (SQLite executemany, PostgreSQL COPY).

The bench needs a million rows in seconds, so it writes them with SQL rather than through
the services. To stay honest about the schema it reads the table's real columns and
refuses to load when a NOT NULL column has no value here (a migration added one): the
error names it. Secondary indexes are dropped during the load and re-created from their
own definitions afterwards (faster than maintaining them row by row), and on SQLite the
triggers that only keep an FTS5 index of the table current (search's) are dropped too and
the index rebuilt from the table once; the result is the same schema and the same index
the migrations and triggers make.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from common import Database, say

CHUNK = 50_000


def ts(db: Database, dt: datetime) -> Any:
    """A datetime as lastmile stores it: SQLite keeps naive UTC text (Django's format)."""
    if db.vendor == "sqlite":
        return str(dt.astimezone(UTC).replace(tzinfo=None))
    return dt


def js(value: Any) -> str:
    return json.dumps(value)


def boolean(db: Database, value: bool) -> Any:
    return int(value) if db.vendor == "sqlite" else value


def table_columns(conn: Any, db: Database, table: str) -> dict[str, bool]:
    """{column: required} where required means NOT NULL without a database default."""
    if db.vendor == "sqlite":
        rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
        return {
            name: bool(notnull) and default is None and not pk
            for _, name, _, notnull, default, pk in rows
        }
    rows = conn.execute(
        "SELECT column_name, is_nullable, column_default, is_identity FROM information_schema.columns "
        "WHERE table_name = %s AND table_schema = current_schema()",
        (table,),
    ).fetchall()
    return {
        name: nullable == "NO" and default is None and identity != "YES"
        for name, nullable, default, identity in rows
    }


def check_columns(conn: Any, db: Database, table: str, columns: list[str]) -> None:
    real = table_columns(conn, db, table)
    if not real:
        raise RuntimeError(f"table {table} not found: did the migrations change?")
    unknown = [c for c in columns if c not in real]
    missing = [c for c, required in real.items() if required and c not in columns]
    if unknown or missing:
        raise RuntimeError(
            f"{table}: the bench loader is out of date with the schema "
            f"(columns it fills that do not exist: {unknown}; NOT NULL columns it does not fill: {missing})"
        )


def _secondary_indexes(conn: Any, db: Database, table: str) -> list[tuple[str, str]]:
    if db.vendor == "sqlite":
        return conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        ).fetchall()
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND schemaname = current_schema() "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        (table, table),
    ).fetchall()


def _fts_triggers(conn: Any, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The triggers on ``table`` that only keep an FTS5 external-content index of it current,
    and those indexes (SQLite): a load drops the triggers and rebuilds the indexes from the
    table once (FTS5's ``'rebuild'``), several times faster than a trigger per row and the
    same index. A table with any other trigger keeps all of them."""
    fts = [
        name
        for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).fetchall()
        if "fts5" in sql.lower()
        and re.search(rf"content\s*=\s*['\"]?{re.escape(table)}['\"]?[\s,)]", sql, re.IGNORECASE)
    ]
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    ).fetchall()
    if not fts or not triggers:
        return [], []
    body = re.compile(r"\bBEGIN\b(.*)\bEND\b", re.IGNORECASE | re.DOTALL)
    for _, sql in triggers:
        found = body.search(sql)
        statements = [x for x in (found.group(1) if found else "").split(";") if x.strip()]
        if not statements or not all(
            re.match(rf"\s*INSERT\s+INTO\s+({'|'.join(map(re.escape, fts))})\b", x, re.I)
            for x in statements
        ):
            return [], []
    return triggers, fts


def bulk_insert(
    db: Database, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) in one transaction; returns the count."""
    t = time.perf_counter()
    conn = db.connect()
    count = 0
    try:
        check_columns(conn, db, table, columns)
        indexes = _secondary_indexes(conn, db, table)
        cols = ", ".join(columns)
        it: Iterator[tuple[Any, ...]] = iter(rows)
        if db.vendor == "sqlite":
            triggers, fts = _fts_triggers(conn, table)
            conn.execute("BEGIN IMMEDIATE")
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            for name, _ in triggers:
                conn.execute(f'DROP TRIGGER "{name}"')
            sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))})"
            while chunk := list(islice(it, CHUNK)):
                conn.executemany(sql, chunk)
                count += len(chunk)
            for _, create in indexes:
                conn.execute(create)
            for name in fts:
                conn.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")
            for _, create in triggers:
                conn.execute(create)
            conn.execute("COMMIT")
        else:
            # The rows are consistent by construction (ids made here); skipping the
            # foreign-key triggers during the COPY saves a per-row lookup per reference.
            conn.execute("SET session_replication_role = replica")
            with conn.transaction():
                for name, _ in indexes:
                    conn.execute(f'DROP INDEX "{name}"')
                with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in it:
                        copy.write_row(row)
                        count += 1
            conn.execute("SET session_replication_role = DEFAULT")
            # As pg_restore advises for a bulk load: room to sort in memory while building
            # the indexes (a GIN full-text index over a million rows builds in a fraction
            # of the time it takes in the default 64 MB).
            conn.execute("SET maintenance_work_mem = '256MB'")
            for _, create in indexes:
                conn.execute(create)
            if "id" in columns:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            # Autovacuum would analyse a table that grew this much within a minute or so;
            # do it now so the planner sees what production would see.
            conn.execute(f"ANALYZE {table}")
    finally:
        conn.close()
    say(
        f"  loaded {count:,} rows into {table} ({time.perf_counter() - t:.1f}s, {len(indexes)} indexes rebuilt)"
    )
    return count

"""Plain multi-row writes for hot paths (the sweeper, the outbox).

Django's ``bulk_update`` builds one ``CASE WHEN`` per field over every row (quadratic in
the database, costly in Python) and ``bulk_create`` spends most of its time building SQL
and model instances. These take plain rows (mappings of attribute name to value, or model
instances), convert each value the way the ORM stores it, and write:

- on PostgreSQL with ``COPY`` for a plain insert, else (conflicts skipped, keys returned,
  updates) with one statement over ``unnest`` of one array per column, so the query text
  and its parameter count stay small however many rows there are;
- on SQLite with one ``executemany`` (in-process: a prepared statement is the cheapest).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import itemgetter
from typing import Any, cast

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models

Row = Mapping[str, Any] | models.Model
_MISSING = object()
ZERO = timedelta(0)


def _sqlite_datetime(v: Any) -> Any:
    # What DatabaseOperations.adapt_datetimefield_value stores (naive UTC, str()), without
    # its per-value settings lookups; anything unusual goes through Django's own code.
    if v is None:
        return None
    if v.tzinfo is UTC or v.utcoffset() == ZERO:
        return str(v.replace(tzinfo=None))
    return str(v.astimezone(UTC).replace(tzinfo=None))


def _column_converter(field: Any, conn: Any) -> Callable[[list[Any]], list[Any]] | None:
    """How to convert a whole column of ``field`` as the ORM stores it; None: as it is.

    Per column, with one list comprehension each, because the sweeper converts tens of
    thousands of values a batch: datetimes in UTC on SQLite as ``str`` of the naive time
    (an aware UTC value's ISO form less its ``+00:00``; a value the column repeats, as a
    batch's ``created_at``, once), JSON with one encoding each. A value of any other kind
    goes through the field's own conversion."""
    if isinstance(field, models.DateTimeField):
        if conn.vendor == "postgresql":
            return None  # adapt_datetimefield_value hands the value to psycopg as it is
        if conn.vendor == "sqlite" and conn.timezone_name == "UTC":
            return _sqlite_datetimes
        adapt = conn.ops.adapt_datetimefield_value
        return lambda col: [None if v is None else adapt(v) for v in col]
    if isinstance(field, models.JSONField):
        dumps = _json_dumps if field.encoder is None else partial(json.dumps, cls=field.encoder)
        prep = field.get_db_prep_save
        return lambda col: [
            v if v is None else dumps(v) if v.__class__ in _PLAIN_JSON else prep(v, conn)
            for v in col
        ]
    if isinstance(field, models.DecimalField | models.DateField | models.UUIDField):
        prep = field.get_db_prep_save
        return lambda col: [prep(v, conn) for v in col]
    return None  # text, numbers, booleans, foreign-key ids: stored as they are


def _sqlite_datetimes(col: list[Any]) -> list[Any]:
    slow = _sqlite_datetime
    # Equal datetimes store the same text (naive UTC), whatever their time zones.
    distinct = dict.fromkeys(col)
    if len(distinct) * 2 <= len(col):
        stored = {v: slow(v) for v in distinct}
        return list(map(stored.__getitem__, col))
    return [
        v
        if v is None
        else v.isoformat(" ")[:-6]
        if v.__class__ is datetime and v.tzinfo is UTC
        else slow(v)
        for v in col
    ]


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default arguments, without building a new C encoder for
    every value as ``JSONEncoder.encode`` does (a third of its time on a small dict)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.dumps
    plain = json.JSONEncoder()
    markers: dict[int, Any] = {}
    encode = make(
        markers,
        plain.default,
        json.encoder.encode_basestring_ascii,
        None,
        plain.key_separator,
        plain.item_separator,
        False,
        False,
        True,
    )

    def dumps(value: Any) -> str:
        try:
            return "".join(encode(value, 0))
        except BaseException:
            markers.clear()  # the containers it was inside when it raised
            raise

    return dumps


_json_dumps = _json_encoder()


# JSON values that json.dumps writes as JSONField.get_db_prep_save would (lazy strings and
# expressions are left to it).
_PLAIN_JSON = frozenset({dict, list, str, int, float, bool})


def _raw_values(rows: Sequence[Row], f: Any, mappings: bool) -> list[Any]:
    """The field's value in each row, ``_MISSING`` where a mapping leaves it out."""
    if not mappings:
        return [
            _lookup(row, f) if isinstance(row, Mapping) else getattr(row, f.attname) for row in rows
        ]
    maps = cast(Sequence[Mapping[str, Any]], rows)
    values = [row.get(f.attname, _MISSING) for row in maps]
    if f.name != f.attname and _MISSING in values:
        values = [_lookup(row, f) for row in maps]
    return values


def _lookup(row: Mapping[str, Any], f: Any) -> Any:
    value = row.get(f.attname, _MISSING)
    return row.get(f.name, _MISSING) if value is _MISSING else value


def _column_values(rows: Sequence[Row], fields: Sequence[Any], conn: Any) -> list[list[Any]]:
    """One list per field, in field order; a mapping may leave out fields with defaults.

    Column by column with list comprehensions, the row kind checked once per row, not per
    value: the sweeper converts tens of thousands of values per batch. Rows that are dicts
    of the same keys (one writer's rows) are read with ``itemgetter``, a column none of
    them holds is its default throughout."""
    kinds = set(map(type, rows))
    if kinds == {dict} and len(keys := set(map(tuple, cast(Sequence[dict[str, Any]], rows)))) == 1:
        return _uniform_columns(cast(Sequence[dict[str, Any]], rows), set(*keys), fields, conn)
    mappings = all(isinstance(row, Mapping) for row in rows)
    out = []
    for f in fields:
        convert = _column_converter(f, conn)
        # Missing: the field's default as Model() would give it ("" for text). None: the
        # default only where the field declares one (a nullable column keeps its NULL).
        fallback = f.get_default()
        declared = f.has_default()
        column = _raw_values(rows, f, mappings)
        if declared:
            column = [fallback if v is _MISSING or v is None else v for v in column]
        elif _MISSING in column:
            column = [fallback if v is _MISSING else v for v in column]
        out.append(column if convert is None else convert(column))
    return out


def _uniform_columns(
    rows: Sequence[dict[str, Any]], keys: set[str], fields: Sequence[Any], conn: Any
) -> list[list[Any]]:
    """``_column_values`` of dicts that all hold ``keys``: the same values, with no
    per-value look-up of a missing key."""
    out = []
    for f in fields:
        convert = _column_converter(f, conn)
        fallback = f.get_default()
        key = f.attname if f.attname in keys else f.name if f.name in keys else None
        if key is None:
            column = [fallback] * len(rows)
        else:
            column = list(map(itemgetter(key), rows))
            if f.has_default() and None in column:
                column = [fallback if v is None else v for v in column]
        out.append(column if convert is None else convert(column))
    return out


def _execute_binary(cursor: Any, sql: str, params: list[Any]) -> list[int]:
    # Django's psycopg cursors bind parameters client-side, quoting every array element as
    # text; a server-side-binding cursor sends the arrays in binary instead.
    import psycopg

    with cursor.db.wrap_database_errors, psycopg.Cursor(cursor.db.connection) as raw:
        raw.execute(sql, params)
        return [r[0] for r in raw.fetchall()] if raw.description else []


def _copy_rows(cursor: Any, table: str, names: list[str], columns: list[list[Any]]) -> None:
    # COPY costs the server a third of an INSERT … SELECT FROM unnest(…) of the same rows
    # (no arrays to build and take apart); in text, so each value is read as its column's
    # type as an INSERT would (a JSON document as text, a datetime with its offset).
    import psycopg
    from psycopg import sql

    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    with (
        cursor.db.wrap_database_errors,
        psycopg.Cursor(cursor.db.connection) as raw,
        raw.copy(copy) as out,
    ):
        for row in zip(*columns, strict=True):
            out.write_row(row)


def _array_casts(fields: Sequence[Any], conn: Any) -> list[str]:
    return [f"%b::{f.cast_db_type(conn)}[]" for f in fields]


def _insert_parts(
    model: type[models.Model], rows: Sequence[Row]
) -> tuple[Any, Any, list[Any], list[list[Any]], str]:
    """(connection, meta, fields, one list of values per field, ``INSERT INTO t (cols) ``)
    for inserting ``rows``: every concrete field but an auto primary key."""
    conn: Any = connections[DEFAULT_DB_ALIAS]
    qn = conn.ops.quote_name
    meta: Any = model._meta
    fields = [f for f in meta.concrete_fields if not isinstance(f, models.AutoField)]
    columns = _column_values(rows, fields, conn)
    head = "INSERT INTO {} ({}) ".format(qn(meta.db_table), ", ".join(qn(f.column) for f in fields))
    return conn, meta, fields, columns, head


def rows_insert(
    model: type[models.Model],
    rows: Sequence[Row],
    *,
    ignore_conflicts: bool = False,
    returning: bool = False,
) -> list[int]:
    """Insert every row (the database assigns the primary key); ``ignore_conflicts`` skips
    rows that would break a unique constraint (``ON CONFLICT DO NOTHING``). With
    ``returning`` the new primary keys come back in row order (as ``bulk_create`` relies on)."""
    if not rows:
        return []
    conn, meta, fields, columns, head = _insert_parts(model, rows)
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    back = f" RETURNING {conn.ops.quote_name(meta.pk.column)}" if returning else ""
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql" and not (returning or ignore_conflicts):
            _copy_rows(cursor, meta.db_table, [f.column for f in fields], columns)
            return []
        if conn.vendor == "postgresql":
            arrays = ", ".join(_array_casts(fields, conn))
            return _execute_binary(
                cursor, f"{head}SELECT * FROM unnest({arrays}){tail}{back}", columns
            )
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        values = list(zip(*columns, strict=True))
        if not returning:
            cursor.executemany(f"{head}VALUES {one}{tail}", values)
            return []
        # One multi-row statement per chunk, within SQLite's limit of 32,766 variables.
        ids: list[int] = []
        step = max(1, 32_000 // len(fields))
        for i in range(0, len(values), step):
            chunk = values[i : i + step]
            cursor.execute(
                f"{head}VALUES {', '.join([one] * len(chunk))}{tail}{back}",
                [v for row in chunk for v in row],
            )
            ids.extend(r[0] for r in cursor.fetchall())
        return ids


def rows_insert_new(model: type[models.Model], rows: Sequence[Row]) -> int:
    """Insert every row but those that would break a unique constraint (``ON CONFLICT DO
    NOTHING``); how many were inserted. What ``rows_insert(..., ignore_conflicts=True,
    returning=True)`` counts, without reading the keys back: on SQLite one ``executemany``
    of a prepared statement (a multi-row statement of thousands of variables costs SQLite
    more to compile than the rows to insert), on PostgreSQL the ``unnest`` insert without
    ``RETURNING``."""
    if not rows:
        return 0
    conn, _meta, fields, columns, head = _insert_parts(model, rows)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            import psycopg

            arrays = ", ".join(_array_casts(fields, conn))
            sql = f"{head}SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING"
            with cursor.db.wrap_database_errors, psycopg.Cursor(cursor.db.connection) as raw:
                raw.execute(sql, columns)
                return max(raw.rowcount, 0)
        one = "(" + ", ".join(["%s"] * len(fields)) + ")"
        cursor.executemany(
            f"{head}VALUES {one} ON CONFLICT DO NOTHING", list(zip(*columns, strict=True))
        )
        return max(cursor.rowcount, 0)


def rows_update(model: type[models.Model], rows: Sequence[Row], fields: Sequence[str]) -> None:
    """Set ``fields`` of each row (which carries its primary key as ``pk`` or ``id``)."""
    if not rows:
        return
    conn: Any = connections[DEFAULT_DB_ALIAS]
    qn = conn.ops.quote_name
    meta: Any = model._meta
    pk = meta.pk
    assert pk is not None
    targets: list[Any] = [meta.get_field(name) for name in fields]
    columns = _column_values(rows, targets, conn)
    keys = [r.get("pk", r.get(pk.attname)) if isinstance(r, Mapping) else r.pk for r in rows]
    table = qn(meta.db_table)
    with conn.cursor() as cursor:
        if conn.vendor == "postgresql":
            names = [f"c{i}" for i in range(len(targets))]
            sql = "UPDATE {t} SET {sets} FROM unnest({arrays}) AS v({names}, pk) WHERE {t}.{pkc} = v.pk".format(
                t=table,
                sets=", ".join(
                    f"{qn(f.column)} = v.{n}" for f, n in zip(targets, names, strict=True)
                ),
                arrays=", ".join(_array_casts([*targets, pk], conn)),
                names=", ".join(names),
                pkc=qn(pk.column),
            )
            _execute_binary(cursor, sql, [*columns, keys])
        else:
            sql = "UPDATE {} SET {} WHERE {} = %s".format(
                table, ", ".join(f"{qn(f.column)} = %s" for f in targets), qn(pk.column)
            )
            cursor.executemany(sql, list(zip(*columns, keys, strict=True)))


@contextmanager
def custom_plans(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """On PostgreSQL, plan the statements run inside for their parameters every time.

    Connections prepare the queries they run again (settings: ``prepare_threshold``), and
    after five runs PostgreSQL may keep one generic plan for every parameter. That is what
    makes a page of a dozen small joins cheap; for a query whose best plan depends on its
    values (a full-text search's words, a name's letters, a sweep's due time) a generic plan
    can be many times slower. Such a read asks for custom plans here. The setting is put
    back when the block ends (and a rolled-back transaction undoes it anyway)."""
    conn = connections[using]
    if conn.vendor != "postgresql":
        yield
        return
    with conn.cursor() as cur:
        cur.execute("SET plan_cache_mode = force_custom_plan")
    try:
        yield
    finally:
        try:
            with conn.cursor() as cur:
                cur.execute("RESET plan_cache_mode")
        except DatabaseError:  # an aborted transaction: its rollback undoes the SET
            pass


@contextmanager
def unprepared(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """On PostgreSQL, run the statements inside without preparing them (as before the
    settings' ``prepare_threshold``): for a batch job whose many queries differ in their
    values (the sweeper), where preparing saves no planning and a generic plan can cost."""
    conn = connections[using]
    conn.ensure_connection()
    raw = conn.connection
    if conn.vendor != "postgresql" or not hasattr(raw, "prepare_threshold"):
        yield
        return
    before = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        yield
    finally:
        if conn.connection is raw:  # not closed and reopened inside
            raw.prepare_threshold = before

"""The analytics engine at scale: the columnar copy of the events in ClickHouse, and the
same funnels as the embedded DuckDB engine answered in ClickHouse's SQL.

Two ways to reach a ClickHouse, behind one small ``Session``:

- ``clickhouse://[user[:password]@]host[:8123]/db[?secure=1]``: a ClickHouse server over
  HTTP, through the official ``clickhouse-connect`` client.
- ``chdb://<dir>``: ClickHouse embedded in this process (``chdb``, installed by the
  ``dev`` extra), its tables under ``<dir>``; the tests use it (no ClickHouse server recent
  enough installs from the package registries here), and so can a single machine.

Exactly once without transactions: each ``append`` is a batch with a random id. Its rows go
into ``events`` first, tagged with that id; then one row in ``marks`` (the batch id and the
event-store ids ``first..last`` it covers) makes the batch complete. Readers and the
high-water mark see only batches with a mark, so a copy killed during or after the rows'
insert, before the mark, leaves rows nobody reads: the next copy starts again from the
last mark with a new batch id, and ``discard_unfinished`` deletes the orphans once they
are older than any live copy could be. Copies racing from the same mark are settled as the
DuckDB engine settles them: per ``first`` the widest batch wins, and a batch overlapping
one chosen before it is ignored.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from lastmile.funnels.definitions import BREAKDOWN_BUCKETS, FunnelDefinition, Matcher
from lastmile.funnels.engines import Engine
from lastmile.funnels.engines.duckdb import DuckDBEngine, EventRow, RawEvent
from lastmile.funnels.results import (
    NO_EVENT,
    US,
    DropoffCursor,
    DropoffPage,
    FunnelResult,
    TrendPoint,
    dropoff_page,
    funnel_result,
    micros,
    step_results,
)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
NUMBER_TYPES = "('Int64', 'UInt64', 'Double')"
# An orphan batch (rows without a mark) younger than this may belong to a copy still
# writing it; ``discard_unfinished`` leaves it for a later copy.
ORPHAN_GRACE_SECONDS = 3600
EVENT_COLUMNS = {
    "batch": "UInt64",
    "event_id": "Int64",
    "customer_id": "Int64",
    "ts_us": "Int64",
    "kind": "LowCardinality(String)",
    "name": "LowCardinality(String)",
    "props": "String",
    "source": "Nullable(String)",  # the Segment context.campaign.source (first touch)
    "channel": "Nullable(String)",  # the event store's channel: "web" or "app"
}
# Columns added after the first tables were made: added to an older table on start, NULL
# in its rows from before.
ADDED_COLUMNS = ("channel",)
MARK_COLUMNS = {"batch": "UInt64", "first": "Int64", "last": "Int64", "events": "UInt64"}
PEOPLE_COLUMNS = {"customer_id": "Int64", "person": "Int64"}
MOVED_COLUMNS = {"event_id": "Int64", "customer_id": "Int64"}
# customer id -> when the first team touched them (µs) and that team's slug
TEAM_COLUMNS = {"customer_id": "Int64", "at_us": "Int64", "team": "String"}
MAPS = {"people": PEOPLE_COLUMNS, "moved": MOVED_COLUMNS, "teams": TEAM_COLUMNS}


# --- sessions ---------------------------------------------------------------------------


class Session(Protocol):
    """What the engine needs of a ClickHouse: statements and queries with bound
    parameters (``{name:Type}`` in the SQL), and a bulk insert."""

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None: ...

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

    def insert(self, table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows`` (values in the order of ``columns``: name -> ClickHouse type)."""
        ...


class ConnectSession:
    """A ClickHouse server through ``clickhouse-connect`` (HTTP). Parameters travel apart
    from the SQL text (server-side binding), in the request body rather than the URL, so
    a long list of batch ids does not meet the server's URL limit."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def connect(
        cls, *, host: str, port: int, username: str, password: str, secure: bool
    ) -> ConnectSession:
        import clickhouse_connect

        client = clickhouse_connect.get_client(
            host=host,
            port=port,
            username=username,
            password=password,
            secure=secure,
            form_encode_query_params=True,
            autogenerate_session_id=False,
        )
        return cls(client)

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.client.command(sql, parameters=params or None)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.client.query(sql, parameters=params or None).result_rows]

    def insert(self, table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> None:
        # One synchronous insert: it returns once the server committed the rows.
        self.client.insert(
            table, [list(r) for r in rows], column_names=list(columns), settings={"async_insert": 0}
        )


def literal(text: str) -> str:
    """A SQL string literal of text the engine wrote itself (column structures)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- the engine -------------------------------------------------------------------------


class Params:
    """Named, typed query parameters (``{p0:Int64}``), so values never enter the SQL."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any, kind: str | None = None) -> str:
        if kind is None:
            if isinstance(value, bool):
                kind = "Bool"
            elif isinstance(value, int):
                kind = "Int64"
            elif isinstance(value, float):
                kind = "Float64"
            elif isinstance(value, str):
                kind = "String"
            else:
                raise TypeError(f"no ClickHouse type for {type(value).__name__}")
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{kind}}}"


class ClickHouseEngine:
    """The copy (``append``, ``mark``, ``people_write``) and the queries, in the ClickHouse
    database ``database`` (created with its tables when missing)."""

    def __init__(self, session: Session, *, database: str = "lastmile") -> None:
        if not IDENTIFIER.match(database):
            raise ValueError(f"database name {database!r}: letters, digits and _ only")
        self.session = session
        self.database = database
        self._schema()

    def _t(self, table: str) -> str:
        return f"`{self.database}`.`{table}`"

    def _schema(self) -> None:
        s = self.session
        s.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        cols = ", ".join(f"{n} {t}" for n, t in EVENT_COLUMNS.items())
        s.command(
            f"CREATE TABLE IF NOT EXISTS {self._t('events')} ({cols},"
            " copied_at DateTime DEFAULT now())"
            " ENGINE = MergeTree ORDER BY (customer_id, ts_us, event_id)"
        )
        for name in ADDED_COLUMNS:
            s.command(
                f"ALTER TABLE {self._t('events')} ADD COLUMN IF NOT EXISTS"
                f" {name} {EVENT_COLUMNS[name]}"
            )
        cols = ", ".join(f"{n} {t}" for n, t in MARK_COLUMNS.items())
        # A retried insert of the same mark collapses into one row; readers take DISTINCT.
        s.command(
            f"CREATE TABLE IF NOT EXISTS {self._t('marks')} ({cols})"
            " ENGINE = ReplacingMergeTree ORDER BY batch"
        )
        for table, columns in MAPS.items():
            cols = ", ".join(f"{n} {t}" for n, t in columns.items())
            key = next(iter(columns))
            s.command(
                f"CREATE TABLE IF NOT EXISTS {self._t(table)} ({cols})"
                f" ENGINE = MergeTree ORDER BY {key}"
            )

    # --- the copy -------------------------------------------------------------------

    def clear(self) -> None:
        """Forget everything copied, so the next copy starts from the first event."""
        for table in ("events", "marks", *MAPS):
            self.session.command(f"TRUNCATE TABLE {self._t(table)}")

    def drop(self) -> None:
        """Remove the database and its tables."""
        self.session.command(f"DROP DATABASE IF EXISTS `{self.database}`")

    def batches(self) -> list[tuple[int, int, int]]:
        """The complete batches a reader uses, as (first, last, batch id) in id order."""
        found = self.session.rows(
            f"SELECT DISTINCT first, last, batch FROM {self._t('marks')}"
            " ORDER BY first, last DESC, batch"
        )
        chosen: list[tuple[int, int, int]] = []
        for first, last, batch in found:
            if not chosen or first > chosen[-1][1]:
                chosen.append((first, last, batch))
        return chosen

    def mark(self) -> int:
        """The high-water mark: every event-store id up to it is copied (0: none)."""
        return max((last for _, last, _ in self.batches()), default=0)

    def discard_unfinished(self, *, grace_seconds: int = ORPHAN_GRACE_SECONDS) -> int:
        """Delete the rows of batches that never got their mark (a copy killed before it),
        once ``grace_seconds`` old, and staging tables a killed ``people_write`` left; how
        many rows. Younger orphans may be a live copy's, still between rows and mark."""
        where = (
            f"batch NOT IN (SELECT batch FROM {self._t('marks')})"
            f" AND copied_at <= now() - {int(grace_seconds)}"
        )
        [(n,)] = self.session.rows(f"SELECT count() FROM {self._t('events')} WHERE {where}")
        if n:
            self.session.command(f"DELETE FROM {self._t('events')} WHERE {where}")
        stale = self.session.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}"
            " AND startsWith(name, 'staged_')"
            " AND metadata_modification_time <= now() - {grace:Int64}",
            {"db": self.database, "grace": int(grace_seconds)},
        )
        for (name,) in stale:
            if IDENTIFIER.match(name):
                self.session.command(f"DROP TABLE IF EXISTS {self._t(name)}")
        return int(n)

    def append(self, rows: Sequence[EventRow], *, first: int, last: int) -> int:
        """Insert the events of event-store ids ``first..last`` (the rows may be fewer: not
        every id is an event) as one batch, visible once its mark is written; how many."""
        if not 0 < first <= last or any(not first <= r.event_id <= last for r in rows):
            raise ValueError(f"rows outside the batch's ids {first}..{last}")
        batch = secrets.randbits(63) or 1
        if rows:
            self._rows_insert(batch, rows)
        self.session.insert(self._t("marks"), MARK_COLUMNS, [(batch, first, last, len(rows))])
        return len(rows)

    def append_raw(self, rows: Sequence[RawEvent], *, first: int, last: int) -> int:
        """As ``append``, from the event store's rows as stored, parsed in Python."""
        from lastmile.funnels.selectors import event_rows

        return self.append(event_rows(list(rows)), first=first, last=last)

    def compact(self, *, min_pieces: int = 2) -> int:
        """Nothing to do: ClickHouse merges a table's parts by itself, and the marks of
        many batches cost one small row each."""
        return 0

    def _rows_insert(self, batch: int, rows: Sequence[EventRow]) -> None:
        self.session.insert(
            self._t("events"),
            EVENT_COLUMNS,
            [
                (
                    batch,
                    r.event_id,
                    r.customer_id,
                    r.ts_us,
                    r.kind,
                    r.name,
                    r.props or "{}",
                    r.source,
                    r.channel,
                )
                for r in rows
            ],
        )

    def people_write(
        self, *, merged: Iterable[tuple[int, int]], moved: Iterable[tuple[int, int]] = ()
    ) -> None:
        """Replace the map of merged customers to the live customer they now are, and the
        customer of each event an undone merge moved back (copied while it stood). Each is
        written to a staging table swapped in at once (EXCHANGE TABLES)."""
        self._map_write("people", list(merged))
        self._map_write("moved", list(moved))

    def teams_write(self, *, touches: Iterable[tuple[int, int, str]]) -> None:
        """Replace the map of first-touch teams: (customer id, when the team first touched
        them in µs, the team's slug), one row per customer; a merged customer's touch
        counts for the person they became (``definitions``: the first-touch team)."""
        self._map_write("teams", [(int(c), int(t), str(team)) for c, t, team in touches])

    def _map_write(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Replace a map's rows: written to a staging table swapped in at once."""
        staged = f"staged_{table}_{secrets.token_hex(8)}"
        self.session.command(f"CREATE TABLE {self._t(staged)} AS {self._t(table)}")
        try:
            if rows:
                self.session.insert(self._t(staged), MAPS[table], rows)
            self.session.command(f"EXCHANGE TABLES {self._t(table)} AND {self._t(staged)}")
        finally:
            self.session.command(f"DROP TABLE IF EXISTS {self._t(staged)}")

    # --- queries --------------------------------------------------------------------

    def _visible(self, p: Params) -> str | None:
        """The CTE ``visible``: the events of complete batches, ``person`` being the live
        customer; None when nothing was copied yet. The maps of merged and moved-back
        customers are joined only when they hold rows (each join is planned again for
        every mention of the CTE)."""
        ids = [b for _, _, b in self.batches()]
        if not ids:
            return None
        [(people, moved)] = self.session.rows(
            f"SELECT (SELECT count() FROM {self._t('people')}),"
            f" (SELECT count() FROM {self._t('moved')})"
        )
        customer = "e.customer_id"
        joins = ""
        if moved:
            customer = "if(b.event_id = 0, e.customer_id, b.customer_id)"
            joins += f" LEFT JOIN {self._t('moved')} AS b ON b.event_id = e.event_id"
        person = customer
        if people:
            person = f"if(m.customer_id = 0, {customer}, m.person)"
            joins += f" LEFT JOIN {self._t('people')} AS m ON m.customer_id = {customer}"
        return (
            f"visible AS (SELECT e.event_id AS event_id, {person} AS person,"
            f" e.ts_us AS ts_us, e.kind AS kind, e.name AS name, e.props AS props,"
            f" e.source AS source, e.channel AS channel FROM {self._t('events')} AS e{joins}"
            f" WHERE e.batch IN {p(ids, 'Array(UInt64)')})"
        )

    def _teams_sql(self) -> str:
        """A query of the first-touch team map under the person each customer now is:
        (person, customer_id, at_us, team)."""
        return (
            "SELECT if(m.customer_id = 0, t.customer_id, m.person) AS person,"
            " t.customer_id AS customer_id, t.at_us AS at_us, t.team AS team"
            f" FROM {self._t('teams')} AS t LEFT JOIN {self._t('people')} AS m"
            " ON m.customer_id = t.customer_id"
        )

    def funnel(self, d: FunnelDefinition) -> FunnelResult:
        """Counts, conversions and times from the previous step for each step; with the
        definition's breakdown, the same for each bucket of people."""
        p = Params()
        visible = self._visible(p)
        if visible is None:
            return FunnelResult(
                steps=step_results(d, {}), breakdown=[] if d.breakdown is not None else None
            )
        figures = "count(), quantileExactInclusive(0.5)(gap), quantileExactInclusive(0.9)(gap)"
        sql = _counted_sql(d, p, visible)
        if d.breakdown is None:
            found = self.session.rows(
                sql + f"SELECT step, {figures} FROM counted GROUP BY step", p.values
            )
            return FunnelResult(steps=step_results(d, {int(r[0]): r[1:] for r in found}))
        sql += _bucketed_sql(d, p, teams=self._teams_sql()) + (
            f"SELECT CAST(NULL AS Nullable(String)), toUInt8(0), step, {figures},"
            f" toUInt64(0) FROM counted GROUP BY step UNION ALL"
            f" SELECT bucket, toUInt8(other), step, {figures}, toUInt64(r) FROM bucketed"
            f" GROUP BY bucket, other, step, r"
        )
        return funnel_result(d, self.session.rows(sql, p.values))

    def trend(
        self, d: FunnelDefinition, *, interval: Literal["day", "week"] = "day"
    ) -> list[TrendPoint]:
        """Per UTC day or ISO week of the people's entry: entered (counted at step 1) and
        converted (counted at the last step), periods with nobody left out."""
        if interval not in ("day", "week"):
            raise ValueError("interval: day or week")
        p = Params()
        visible = self._visible(p)
        if visible is None:
            return []
        last = len(d.steps) - 1
        sql = _counted_sql(d, p, visible) + (
            f"SELECT intDiv(e.entry_ts, {86_400 * US}) AS day, countIf(c.step = 0),"
            f" countIf(c.step = {last}) FROM counted AS c INNER JOIN entry AS e"
            f" ON e.person = c.person WHERE c.step IN (0, {last}) GROUP BY day"
        )
        periods: dict[date, list[int]] = {}
        for day, entered, converted in self.session.rows(sql, p.values):
            start = date(1970, 1, 1) + timedelta(days=int(day))
            if interval == "week":
                start -= timedelta(days=start.weekday())
            period = periods.setdefault(start, [0, 0])
            period[0] += int(entered)
            period[1] += int(converted)
        return [
            TrendPoint(start=k, entered=v[0], converted=v[1]) for k, v in sorted(periods.items())
        ]

    def dropoffs(
        self,
        d: FunnelDefinition,
        *,
        step: int,
        after: int | None = None,
        limit: int = 100,
        now: datetime | None = None,
        newest_first: bool = False,
        cursor: DropoffCursor | None = None,
    ) -> DropoffPage:
        """The people counted at the last required step before ``step`` (0-based) and not
        at ``step``, ``limit`` at a time: in id order after the id ``after``, or with
        ``newest_first`` by their last event, latest first (ties by id), after ``cursor``.
        Each with their last event at or before ``now`` and whether their window is still
        open then (None without ``now``: the last event is then their latest of all)."""
        prev = d.required_before(step)
        if prev is None:
            raise ValueError("step 1 has no drop-offs")
        p = Params()
        visible = self._visible(p)
        if visible is None:
            return DropoffPage(people=[], next_after=None)
        now_us = micros(now) if now is not None else None
        cut = p(now_us if now_us is not None else 2**62)
        sql = _counted_sql(d, p, visible) + (
            f", dropped AS (SELECT person, e.last_ts AS last_ts FROM per INNER JOIN entry AS e"
            f" ON e.person = per.person WHERE {_counted_at(d, prev)} AND NOT {_counted_at(d, step)})"
        )
        if newest_first:
            # Every person's latest event by now, in one pass over the copy: a filter by
            # the dropped people would plan the funnel again (ClickHouse inlines CTEs).
            sql += (
                f" SELECT dr.person AS person, dr.last_ts, ifNull(l.ts, {p(NO_EVENT)}) AS k"
                f" FROM dropped AS dr LEFT JOIN (SELECT person, toNullable(max(ts_us)) AS ts"
                f" FROM visible WHERE ts_us <= {cut} GROUP BY person) AS l"
                f" ON l.person = dr.person"
            )
            if cursor is not None:
                k, who = p(cursor.last_us), p(cursor.person)
                sql += f" WHERE k < {k} OR (k = {k} AND person > {who})"
            sql += f" ORDER BY k DESC, person LIMIT {int(limit) + 1}"
        else:
            sql += (
                f" SELECT person, last_ts, 0 FROM dropped"
                f" WHERE person > {p(after if after is not None else -1)}"
                f" ORDER BY person LIMIT {int(limit) + 1}"
            )
        found = [(int(a), int(b), int(c)) for a, b, c in self.session.rows(sql, p.values)]
        more = len(found) > limit
        found = found[:limit]
        people = [person for person, _, _ in found]
        last: dict[int, tuple[str, int]] = {}
        if people:
            p = Params()
            visible = self._visible(p)
            assert visible is not None
            sql = (
                f"WITH {visible} SELECT person, argMax(name, (ts_us, event_id)), max(ts_us)"
                f" FROM visible WHERE person IN {p(people, 'Array(Int64)')}"
                f" AND ts_us <= {p(now_us if now_us is not None else 2**62)} GROUP BY person"
            )
            last = {int(a): (b, int(c)) for a, b, c in self.session.rows(sql, p.values)}
        return dropoff_page(d, found, last, more=more, now_us=now_us, newest_first=newest_first)


# --- SQL ----------------------------------------------------------------------------------


def _matcher_sql(m: Matcher, p: Params) -> str:
    """A boolean SQL expression: the event matches ``m`` (semantics in definitions).
    ``JSONType`` tells the property's JSON type ('Null' when missing); a property name is
    a String parameter, so it is a key, never a path."""
    parts = [f"kind = {p(m.kind)}", f"name = {p(m.name)}"]
    for f in m.where:
        key = p(f.property)
        jtype = f"JSONType(props, {key})"
        v = f.value
        if f.op == "is_set":
            parts.append(f"{jtype} != 'Null'")
            continue
        if f.op in ("gt", "lt"):
            assert isinstance(v, int | float)  # the definition checked it
            cmp = ">" if f.op == "gt" else "<"
            parts.append(
                f"({jtype} IN {NUMBER_TYPES} AND JSONExtractFloat(props, {key}) {cmp} {p(float(v))})"
            )
            continue
        if f.op == "contains":
            parts.append(
                f"({jtype} = 'String' AND position(lowerUTF8(JSONExtractString(props, {key})),"
                f" {p(str(v).lower())}) > 0)"
            )
            continue
        if isinstance(v, bool):
            eq = f"{jtype} = 'Bool' AND JSONExtractBool(props, {key}) = {p(int(v), 'UInt8')}"
        elif isinstance(v, int | float):
            eq = f"{jtype} IN {NUMBER_TYPES} AND JSONExtractFloat(props, {key}) = {p(float(v))}"
        else:
            eq = f"{jtype} = 'String' AND JSONExtractString(props, {key}) = {p(v)}"
        parts.append(f"({eq})" if f.op == "equals" else f"NOT ({eq})")
    return "(" + " AND ".join(parts) + ")"


def _json_text(key: str, props: str = "props") -> str:
    """A property as text: a JSON string as itself, another value as its JSON text, JSON
    null or missing as NULL (the breakdown's buckets)."""
    jtype = f"JSONType({props}, {key})"
    return (
        f"multiIf({jtype} = 'Null', CAST(NULL AS Nullable(String)), {jtype} = 'String',"
        f" JSONExtractString({props}, {key}), JSONExtractRaw({props}, {key}))"
    )


def _bucketed_sql(d: FunnelDefinition, p: Params, *, teams: str) -> str:
    """``bucketed(step, person, gap, bucket, other, r)``: counted, with each person's
    bucket; the buckets past the first ``BREAKDOWN_BUCKETS`` (by people at step 1, ties
    by value, the null bucket last) merged into one with ``other``; ``r`` orders them.
    ``tuple(...)``: argMin keeps a NULL value as any other (a null bucket). ``teams``:
    a query of (person, customer_id, at_us, team), the first-touch team map."""
    assert d.breakdown is not None
    if d.breakdown.property is not None:
        of = "SELECT person, bv AS bucket FROM entry"
    elif d.breakdown.first_touch == "team":
        of = (
            "SELECT person, CAST(argMin(team, (at_us, customer_id)) AS Nullable(String))"
            f" AS bucket FROM ({teams}) WHERE person IN (SELECT person FROM counted"
            " WHERE step = 0) GROUP BY person"
        )
    else:
        if d.breakdown.first_touch == "channel":
            touch = "channel"
        else:
            touch = f"coalesce(source, {_json_text(p('utm_source'))})"
        of = (
            f"SELECT person, argMin(tuple({touch}), (ts_us, event_id)).1 AS bucket"
            f" FROM visible WHERE person IN (SELECT person FROM counted WHERE step = 0)"
            f" GROUP BY person"
        )
    top = int(BREAKDOWN_BUCKETS)
    return (
        f", pb AS ({of}),"
        f" cb AS (SELECT c.step AS step, c.person AS person, c.gap AS gap, pb.bucket AS bucket"
        f" FROM counted AS c LEFT JOIN pb ON pb.person = c.person),"
        f" sizes AS (SELECT bucket, row_number() OVER (ORDER BY count() DESC,"
        f" bucket ASC NULLS LAST) AS r FROM cb WHERE step = 0 GROUP BY bucket),"
        f" bucketed AS (SELECT cb.step AS step, cb.person AS person, cb.gap AS gap,"
        f" if(s.r <= {top}, cb.bucket, NULL) AS bucket, s.r > {top} AS other,"
        f" least(s.r, {top + 1}) AS r FROM cb INNER JOIN sizes AS s"
        f" ON isNull(cb.bucket) = isNull(s.bucket) AND ifNull(cb.bucket, '') = ifNull(s.bucket, '')) "
    )


def _base_sql(d: FunnelDefinition, p: Params, visible: str) -> str:
    """``ev``: the events of people with an event in range that can start a chain, from
    ``from`` to ``to`` + window, with their position in the person's order, one match flag
    per step (``m0``...) and exclusion (``x0``...), and for each exclusion the position of
    the person's last excluded event before this one (``xp0``..., 0: none)."""
    lo = int(d.from_.timestamp() * US)
    hi = int(d.to.timestamp() * US)
    w = d.window_seconds * US
    flags = [f"{_matcher_sql(s, p)} AS m{k}" for k, s in enumerate(d.steps)]
    flags += [f"{_matcher_sql(x, p)} AS x{i}" for i, x in enumerate(d.exclusions)]
    lo_p, hi_p, end_p = p(lo), p(hi), p(hi + w)
    starters = d.steps if d.mode == "unordered" else d.steps[:1]
    first = "(" + " OR ".join(_matcher_sql(s, p) for s in starters) + ")"
    if d.breakdown is not None and d.breakdown.property is not None:
        flags.append(f"{_json_text(p(d.breakdown.property))} AS bv")
    n = len(d.steps)
    starts = "m0" if d.mode != "unordered" else "(" + " OR ".join(f"m{k}" for k in range(n)) + ")"
    ev0 = (
        f"ev0 AS (SELECT person, event_id, ts_us AS ts,"
        f" row_number() OVER (PARTITION BY person ORDER BY ts_us, event_id) AS pos,"
        f" {', '.join(flags)} FROM visible"
        f" WHERE ts_us BETWEEN {lo_p} AND {end_p} AND person IN"
        f" (SELECT person FROM visible WHERE ts_us BETWEEN {lo_p} AND {hi_p} AND {first}))"
    )
    last_x = "".join(
        f", max(if(x{i}, pos, 0)) OVER (PARTITION BY person ORDER BY pos"
        f" ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS xp{i}"
        for i in range(len(d.exclusions))
    )
    bv = ", argMin(tuple(bv), (ts, event_id)).1 AS bv" if "AS bv" in ev0 else ""
    return (
        f"WITH {visible}, {ev0},"
        f" ev AS (SELECT *{last_x}, {starts} AND ts BETWEEN {lo_p} AND {hi_p} AS st FROM ev0),"
        f" entry AS (SELECT person, min(ts) AS entry_ts, max(ts) AS last_ts{bv}"
        f" FROM ev WHERE st GROUP BY person)"
    )


def _ordered_sql(d: FunnelDefinition, p: Params) -> str:
    """One CTE per step: ``s<k>`` holds each event that can end a chain as step k, with
    the latest start of such a chain (the latest start leaves the most room for the
    window, so it is all later steps need) and the shortest time from the previous step
    (``gap``). An exclusion between a and b: its last event before b is after a."""
    lo, hi = int(d.from_.timestamp() * US), int(d.to.timestamp() * US)
    w = p(d.window_seconds * US)
    ctes = [
        f"s0 AS (SELECT person, pos, ts, ts AS start, CAST(NULL AS Nullable(Int64)) AS gap"
        f" FROM ev WHERE m0 AND ts BETWEEN {p(lo)} AND {p(hi)})"
    ]
    for k in range(1, len(d.steps)):
        step = d.steps[k]
        joins = []
        for j in d.predecessors(k):
            on = ["b.person = a.person"]
            cond = [f"b.m{k}", f"b.ts - a.start <= {w}"]
            if d.mode == "strict":
                on.append("b.pos = a.pos + 1")
            else:
                cond.append("b.pos > a.pos")
            if step.within_seconds is not None:
                cond.append(f"b.ts - a.ts <= {p(step.within_seconds * US)}")
            if step.min_gap_seconds is not None:
                cond.append(f"b.ts - a.ts >= {p(step.min_gap_seconds * US)}")
            for i, x in enumerate(d.exclusions):
                first, last = d.exclusion_spans(x)
                if first <= j and k <= last:
                    cond.append(f"b.xp{i} <= a.pos")
            joins.append(
                f"SELECT b.person AS person, b.pos AS pos, b.ts AS ts, a.start AS start,"
                f" toNullable(b.ts - a.ts) AS gap FROM ev AS b INNER JOIN s{j} AS a"
                f" ON {' AND '.join(on)} WHERE {' AND '.join(cond)}"
            )
        ctes.append(
            f"s{k} AS (SELECT person, pos, ts, max(start) AS start, min(gap) AS gap FROM"
            f" ({' UNION ALL '.join(joins)}) GROUP BY person, pos, ts)"
        )
    reach = " UNION ALL ".join(
        f"SELECT toUInt32({k}) AS step, person, min(gap) AS gap FROM s{k} GROUP BY person"
        for k in range(len(d.steps))
    )
    return ", " + ", ".join(ctes) + f", reach AS ({reach})"


def _unordered_sql(d: FunnelDefinition, p: Params) -> str:
    """For each event, the time of the next event (this one included) matching each step
    (``n<k>``); an event in range matching any step starts an attempt, which reaches step k
    when each step wanted with k comes within the window."""
    lo, hi = int(d.from_.timestamp() * US), int(d.to.timestamp() * US)
    w = p(d.window_seconds * US)
    nxt = ", ".join(
        f"min(if(m{k}, ts, NULL)) OVER (PARTITION BY person ORDER BY pos"
        f" ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS n{k}"
        for k in range(len(d.steps))
    )
    lo_p, hi_p = p(lo), p(hi)
    anchor = " OR ".join(f"m{j}" for j in range(len(d.steps)))
    parts = []
    for k in range(len(d.steps)):
        wanted = [j for j in range(k) if not d.steps[j].optional] + [k]
        within = " AND ".join(f"n{j} - ts <= {w}" for j in wanted)
        parts.append(
            f"SELECT DISTINCT toUInt32({k}) AS step, person,"
            f" CAST(NULL AS Nullable(Int64)) AS gap FROM nx WHERE"
            f" ts BETWEEN {lo_p} AND {hi_p} AND ({anchor}) AND {within}"
        )
    return f", nx AS (SELECT *, {nxt} FROM ev), reach AS ({' UNION ALL '.join(parts)})"


def _counted_at(d: FunnelDefinition, k: int) -> str:
    """SQL over ``per``: the person is counted at step ``k``, that is (the recursion
    unrolled) reached it and every required step before it."""
    wanted = [j for j in range(k) if not d.steps[j].optional] + [k]
    return f"hasAll(arrayMap(x -> x.1, r), [{', '.join(map(str, wanted))}])"


def _counted_sql(d: FunnelDefinition, p: Params, visible: str) -> str:
    """``per(person, r)``: the steps each person reached, as (step, gap) pairs, and
    ``counted(step, person, gap)``: the people counted at each step. One pass over
    ``reach`` grouped by person, since ClickHouse inlines each mention of a CTE."""
    body = _base_sql(d, p, visible)
    body += _unordered_sql(d, p) if d.mode == "unordered" else _ordered_sql(d, p)
    cases = " ".join(f"WHEN {k} THEN {_counted_at(d, k)}" for k in range(len(d.steps)))
    return body + (
        ", per AS (SELECT person, groupArray((step, gap)) AS r FROM reach GROUP BY person),"
        " counted AS (SELECT t.1 AS step, person, t.2 AS gap FROM per ARRAY JOIN r AS t"
        f" WHERE CASE t.1 {cases} END) "
    )


# --- configuration --------------------------------------------------------------------------


def engine_from_url(url: str, var_dir: Path) -> Engine:
    """The analytics engine ``LASTMILE_ANALYTICS_URL`` names: empty for DuckDB under
    ``<var dir>/analytics``; ``clickhouse://[user[:password]@]host[:port]/db[?secure=1]``
    for a ClickHouse server (one engine per URL and process: its client's connection
    pool is kept); ``chdb://<dir>`` (relative to the var dir unless absolute,
    ``?database=`` optional) for ClickHouse embedded."""
    url = url.strip()
    if not url:
        return DuckDBEngine(var_dir / "analytics")
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "clickhouse":
        return _server_engine(url)
    if parts.scheme == "chdb":
        from lastmile.funnels.engines.chdb_session import ChdbSession

        raw = unquote(url[len("chdb://") :].split("?", 1)[0])
        path = Path(raw) if raw else Path("clickhouse")
        if not path.is_absolute():
            path = var_dir / path
        return ClickHouseEngine(ChdbSession.open(path), database=query.get("database", "lastmile"))
    raise ValueError(f"LASTMILE_ANALYTICS_URL: unknown engine {parts.scheme!r}")


@functools.cache
def _server_engine(url: str) -> ClickHouseEngine:
    parts = urlsplit(url)
    secure = parse_qs(parts.query).get("secure", [""])[-1].lower() in ("1", "true", "yes")
    session = ConnectSession.connect(
        host=parts.hostname or "localhost",
        port=parts.port or (8443 if secure else 8123),
        username=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        secure=secure,
    )
    return ClickHouseEngine(session, database=parts.path.strip("/") or "default")

"""The embedded analytics engine: a columnar copy of the events as Parquet segments under
the var dir, and funnels answered over it by DuckDB.

Why Parquet segments rather than one ``.duckdb`` file: a DuckDB database file takes one
read-write process at a time, while the worker copies events and any web process asks
funnels. Immutable segments are read by any number of processes, each opening its own
in-memory DuckDB, and written by the copy alone.

Exactly once: a segment covers the event-store ids ``first..last`` and appears under its
final name only by an atomic rename once fully written; the high-water mark is the
largest ``last`` among the segments, so it moves in the same step as the rows it covers.
A copy killed before the rename leaves a temporary file (ignored, removed by the next
copy) and copies that batch again; killed after it, the next copy starts after it.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from lastmile.funnels.definitions import FunnelDefinition, Matcher
from lastmile.funnels.results import DropoffPage, FunnelResult, StepResult, rate

US = 1_000_000
SEGMENT = re.compile(r"^events-(\d{12})-(\d{12})\.parquet$")
PEOPLE = "people.parquet"  # merged customer id -> the live customer it was merged into
MOVED = "moved.parquet"  # event id -> its customer, for events an undone merge moved back
TMP_PREFIX = ".tmp-"
COLUMNS = {
    "event_id": "BIGINT",
    "customer_id": "BIGINT",
    "ts_us": "BIGINT",
    "kind": "VARCHAR",
    "name": "VARCHAR",
    "props": "JSON",
}
NUMBER_TYPES = "('BIGINT', 'UBIGINT', 'DOUBLE')"


class EventRow(NamedTuple):
    """One event as copied: ``props`` is its properties as JSON text (an object)."""

    event_id: int
    customer_id: int
    ts_us: int
    kind: str
    name: str
    props: str


class Params:
    """Named query parameters, so values never enter the SQL text."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


class DuckDBEngine:
    """The copy (``append``, ``mark``, ``people_write``) and the queries over it."""

    def __init__(self, directory: Path, *, threads: int | None = None) -> None:
        self.directory = directory
        # DuckDB's default is one thread per core; tiny queries (tests) run faster on one.
        self.threads = threads or os.cpu_count() or 1
        directory.mkdir(parents=True, exist_ok=True)

    # --- the copy -------------------------------------------------------------------

    def segments(self) -> list[tuple[int, int, Path]]:
        """The segments a reader uses, in id order. Two copies racing from the same mark
        write segments with the same ``first``; the wider one wins and the other is
        ignored, so no event is read twice."""
        found = []
        for p in self.directory.iterdir():
            m = SEGMENT.match(p.name)
            if m:
                found.append((int(m[1]), int(m[2]), p))
        found.sort(key=lambda s: (s[0], -s[1]))
        chosen: list[tuple[int, int, Path]] = []
        for first, last, p in found:
            if not chosen or first > chosen[-1][1]:
                chosen.append((first, last, p))
        return chosen

    def mark(self) -> int:
        """The high-water mark: every event-store id up to it is copied (0: none)."""
        return max((last for _, last, _ in self.segments()), default=0)

    def discard_unfinished(self) -> int:
        """Remove temporary files a killed copy left; how many."""
        n = 0
        for p in self.directory.glob(TMP_PREFIX + "*"):
            p.unlink(missing_ok=True)
            n += 1
        return n

    def append(self, rows: Sequence[EventRow], *, first: int, last: int) -> Path:
        """Write the events of event-store ids ``first..last`` (the rows may be fewer: not
        every id is an event) as one segment, visible all at once."""
        if not 0 < first <= last or any(not first <= r.event_id <= last for r in rows):
            raise ValueError(f"rows outside the segment's ids {first}..{last}")
        tag = uuid.uuid4().hex
        ndjson = self.directory / f"{TMP_PREFIX}{tag}.ndjson"
        staged = self.directory / f"{TMP_PREFIX}{tag}.parquet"
        final = self.directory / f"events-{first:012d}-{last:012d}.parquet"
        with ndjson.open("w", encoding="utf-8") as out:
            for r in rows:
                out.write(
                    f'{{"event_id":{r.event_id},"customer_id":{r.customer_id},'
                    f'"ts_us":{r.ts_us},"kind":{json.dumps(r.kind)},'
                    f'"name":{json.dumps(r.name)},"props":{r.props or "{}"}}}\n'
                )
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
        with duckdb.connect(config={"threads": self.threads}) as con:
            con.execute(
                f"COPY (SELECT * FROM read_json({_quote(ndjson)}, format='newline_delimited',"
                f" columns={columns}) ORDER BY customer_id, ts_us, event_id)"
                f" TO {_quote(staged)} (FORMAT parquet)"
            )
        ndjson.unlink()
        os.replace(staged, final)
        return final

    def people_write(
        self, *, merged: Iterable[tuple[int, int]], moved: Iterable[tuple[int, int]] = ()
    ) -> None:
        """Replace the map of merged customers to the live customer they now are, and the
        customer of each event an undone merge moved back (copied while it stood)."""
        for name, pairs, columns in (
            (PEOPLE, list(merged), ("customer_id", "person")),
            (MOVED, list(moved), ("event_id", "customer_id")),
        ):
            staged = self.directory / f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet"
            with duckdb.connect(config={"threads": self.threads}) as con:
                con.execute(
                    f"CREATE TABLE t AS SELECT unnest($a::BIGINT[]) AS {columns[0]},"
                    f" unnest($b::BIGINT[]) AS {columns[1]}",
                    {"a": [a for a, _ in pairs], "b": [b for _, b in pairs]},
                )
                con.execute(f"COPY t TO {_quote(staged)} (FORMAT parquet)")
            os.replace(staged, self.directory / name)

    # --- queries --------------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection | None:
        """An in-memory DuckDB with the view ``events`` (person = live customer), or None
        when nothing was copied yet."""
        files = [p for _, _, p in self.segments()]
        if not files:
            return None
        con = duckdb.connect(config={"threads": self.threads})
        source = "read_parquet([" + ", ".join(_quote(p) for p in files) + "])"
        customer = "e.customer_id"
        joins = ""
        moved = self.directory / MOVED
        if moved.exists():
            customer = "coalesce(b.customer_id, e.customer_id)"
            joins += f" LEFT JOIN read_parquet({_quote(moved)}) b ON b.event_id = e.event_id"
        people = self.directory / PEOPLE
        person = customer
        if people.exists():
            person = f"coalesce(m.person, {customer})"
            joins += f" LEFT JOIN read_parquet({_quote(people)}) m ON m.customer_id = {customer}"
        con.execute(
            f"CREATE VIEW events AS SELECT e.event_id, {person} AS person, e.ts_us, e.kind,"
            f" e.name, e.props FROM {source} e{joins}"
        )
        return con

    def funnel(self, d: FunnelDefinition) -> FunnelResult:
        """Counts, conversions and times from the previous step for each step."""
        n = len(d.steps)
        rows: dict[int, tuple[int, float | None, float | None]] = {}
        con = self._connect()
        if con is not None:
            with con:
                p = Params()
                sql = _counted_sql(d, p)
                select = (
                    "SELECT step, count(*), quantile_cont(gap, 0.5), quantile_cont(gap, 0.9)"
                    " FROM counted GROUP BY step"
                )
                for step, count, median, p90 in con.execute(sql + select, p.values).fetchall():
                    rows[step] = (count, median, p90)
        counts = [rows.get(k, (0, None, None))[0] for k in range(n)]
        steps = []
        for k, step in enumerate(d.steps):
            _, median, p90 = rows.get(k, (0, None, None))
            steps.append(
                StepResult(
                    index=k,
                    label=step.name,
                    count=counts[k],
                    conversion_from_first=rate(counts[k], counts[0]),
                    conversion_from_previous=rate(counts[k], counts[k - 1] if k else counts[k]),
                    median_seconds_from_previous=median / US if k and median is not None else None,
                    p90_seconds_from_previous=p90 / US if k and p90 is not None else None,
                )
            )
        return FunnelResult(steps=steps)

    def dropoffs(
        self, d: FunnelDefinition, *, step: int, after: int | None = None, limit: int = 100
    ) -> DropoffPage:
        """The people counted at the last required step before ``step`` (0-based) and not
        at ``step``, in id order, ``limit`` after the id ``after``."""
        prev = d.required_before(step)
        if prev is None:
            raise ValueError("step 1 has no drop-offs")
        con = self._connect()
        if con is None:
            return DropoffPage(people=[], next_after=None)
        with con:
            p = Params()
            sql = _counted_sql(d, p) + (
                f"SELECT person FROM counted WHERE step = {prev}"
                f" AND person > {p(after if after is not None else -1)}"
                f" AND person NOT IN (SELECT person FROM counted WHERE step = {step})"
                f" ORDER BY person LIMIT {p(limit + 1)}"
            )
            people = [r[0] for r in con.execute(sql, p.values).fetchall()]
        more = len(people) > limit
        people = people[:limit]
        return DropoffPage(people=people, next_after=people[-1] if more else None)


# --- SQL ----------------------------------------------------------------------------------


def _matcher_sql(m: Matcher, p: Params) -> str:
    """A boolean SQL expression: the event matches ``m`` (semantics in definitions)."""
    parts = [f"kind = {p(m.kind)}", f"name = {p(m.name)}"]
    for f in m.where:
        path = p(f'$."{f.property}"')
        jtype = f"json_type(props, {path})"
        v = f.value
        if f.op == "is_set":
            parts.append(f"coalesce({jtype} <> 'NULL', false)")
            continue
        if f.op in ("gt", "lt"):
            assert isinstance(v, int | float)  # the definition checked it
            cmp = ">" if f.op == "gt" else "<"
            parts.append(
                f"coalesce({jtype} IN {NUMBER_TYPES} AND"
                f" TRY_CAST(json_extract_string(props, {path}) AS DOUBLE) {cmp} {p(float(v))}, false)"
            )
            continue
        if f.op == "contains":
            parts.append(
                f"coalesce({jtype} = 'VARCHAR' AND contains(lower(json_extract_string("
                f"props, {path})), {p(str(v).lower())}), false)"
            )
            continue
        if isinstance(v, bool):
            eq = f"{jtype} = 'BOOLEAN' AND json_extract_string(props, {path}) = {p(str(v).lower())}"
        elif isinstance(v, int | float):
            eq = (
                f"{jtype} IN {NUMBER_TYPES} AND"
                f" TRY_CAST(json_extract_string(props, {path}) AS DOUBLE) = {p(float(v))}"
            )
        else:
            eq = f"{jtype} = 'VARCHAR' AND json_extract_string(props, {path}) = {p(v)}"
        parts.append(f"coalesce({eq}, false)" if f.op == "equals" else f"NOT coalesce({eq}, false)")
    return "(" + " AND ".join(parts) + ")"


def _base_sql(d: FunnelDefinition, p: Params) -> str:
    """``ev``: the events of people with an event in range that can start a chain, from ``from`` to
    ``to`` + window (nothing else can take part in a chain), with their position in the
    person's order and one match flag per step (``m0``...) and exclusion (``x0``...)."""
    lo = int(d.from_.timestamp() * US)
    hi = int(d.to.timestamp() * US)
    w = d.window_seconds * US
    flags = [f"{_matcher_sql(s, p)} AS m{k}" for k, s in enumerate(d.steps)]
    flags += [f"{_matcher_sql(x, p)} AS x{i}" for i, x in enumerate(d.exclusions)]
    lo_p, hi_p, end_p = p(lo), p(hi), p(hi + w)
    # What can start a chain: step 1, or in unordered mode any step.
    starters = d.steps if d.mode == "unordered" else d.steps[:1]
    first = "(" + " OR ".join(_matcher_sql(s, p) for s in starters) + ")"
    return (
        f"WITH ev AS (SELECT person, event_id, ts_us AS ts,"
        f" row_number() OVER (PARTITION BY person ORDER BY ts_us, event_id) AS pos,"
        f" {', '.join(flags)} FROM events"
        f" WHERE ts_us BETWEEN {lo_p} AND {end_p} AND person IN"
        f" (SELECT person FROM events WHERE ts_us BETWEEN {lo_p} AND {hi_p} AND {first}))"
    )


def _ordered_sql(d: FunnelDefinition, p: Params) -> str:
    """One CTE per step: ``s<k>`` holds each event that can end a chain as step k, with
    the latest start of such a chain (``start``: the latest start leaves the most room
    for the window, so it is all later steps need) and the shortest time from the
    previous step (``gap``)."""
    lo, hi = int(d.from_.timestamp() * US), int(d.to.timestamp() * US)
    w = p(d.window_seconds * US)
    ctes = [
        f"s0 AS (SELECT person, pos, ts, ts AS start, NULL::BIGINT AS gap FROM ev"
        f" WHERE m0 AND ts BETWEEN {p(lo)} AND {p(hi)})"
    ]
    for k in range(1, len(d.steps)):
        step = d.steps[k]
        joins = []
        for j in d.predecessors(k):
            cond = ["b.person = a.person", f"b.ts - a.start <= {w}"]
            cond.append("b.pos = a.pos + 1" if d.mode == "strict" else "b.pos > a.pos")
            if step.within_seconds is not None:
                cond.append(f"b.ts - a.ts <= {p(step.within_seconds * US)}")
            if step.min_gap_seconds is not None:
                cond.append(f"b.ts - a.ts >= {p(step.min_gap_seconds * US)}")
            for i, x in enumerate(d.exclusions):
                first, last = d.exclusion_spans(x)
                if first <= j and k <= last:
                    cond.append(
                        f"NOT EXISTS (SELECT 1 FROM ev x WHERE x.person = b.person AND x.x{i}"
                        f" AND x.pos > a.pos AND x.pos < b.pos)"
                    )
            joins.append(
                f"SELECT b.person, b.pos, b.ts, a.start, b.ts - a.ts AS gap"
                f" FROM ev b JOIN s{j} a ON {' AND '.join(cond)} WHERE b.m{k}"
            )
        ctes.append(
            f"s{k} AS (SELECT person, pos, ts, max(start) AS start, min(gap) AS gap FROM"
            f" ({' UNION ALL '.join(joins)}) GROUP BY person, pos, ts)"
        )
    reach = " UNION ALL ".join(
        f"SELECT {k} AS step, person, min(gap) AS gap FROM s{k} GROUP BY person"
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
        f"min(CASE WHEN m{k} THEN ts END) OVER (PARTITION BY person ORDER BY pos"
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
            f"SELECT DISTINCT {k} AS step, person, NULL::BIGINT AS gap FROM nx WHERE"
            f" ts BETWEEN {lo_p} AND {hi_p} AND ({anchor}) AND {within}"
        )
    return f", nx AS (SELECT *, {nxt} FROM ev), reach AS ({' UNION ALL '.join(parts)})"


def _counted_sql(d: FunnelDefinition, p: Params) -> str:
    """``counted(step, person, gap)``: reached, and counted at the required step before."""
    body = _base_sql(d, p)
    body += _unordered_sql(d, p) if d.mode == "unordered" else _ordered_sql(d, p)
    counted = []
    for k in range(len(d.steps)):
        prev = d.required_before(k)
        name = f"c{k}"
        if prev is None:
            counted.append(f"{name} AS (SELECT step, person, gap FROM reach WHERE step = {k})")
        else:
            counted.append(
                f"{name} AS (SELECT step, person, gap FROM reach WHERE step = {k}"
                f" AND person IN (SELECT person FROM c{prev}))"
            )
    union = " UNION ALL ".join(f"SELECT * FROM c{k}" for k in range(len(d.steps)))
    return body + ", " + ", ".join(counted) + f", counted AS ({union}) "

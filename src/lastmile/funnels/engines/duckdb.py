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

Layout, for speed: each segment's rows are sorted by event name, then customer, time
and id, so a funnel's scan reads only the row groups holding its steps' names (Parquet
min/max statistics) and its joins and aggregates by person meet each person's rows
together (a fifth less CPU than time order over 10M events); ``compact`` merges the copy's many small segments (one per batch) into
large ones, where that pruning works. Ordered funnels need no per-event numbering: "e2
after e1" is (time, id) order; only strict mode numbers a person's events.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb

from lastmile.funnels.definitions import BREAKDOWN_BUCKETS, FunnelDefinition, Matcher
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

SEGMENT = re.compile(r"^events-(\d{12})-(\d{12})\.parquet$")
PEOPLE = "people.parquet"  # merged customer id -> the live customer it was merged into
MOVED = "moved.parquet"  # event id -> its customer, for events an undone merge moved back
# customer id -> when the first team touched them and that team's slug (first-touch team)
TEAMS = "teams.parquet"
TEAM_COLUMNS = {"customer_id": "BIGINT", "at_us": "BIGINT", "team": "VARCHAR"}
TMP_PREFIX = ".tmp-"
NL = "\n"
COMPACT_BYTES = 256 * 1024 * 1024  # segments past this size are left as they are
ROW_GROUP = 122_880  # DuckDB's default: one row group per thread's share of a scan
COLUMNS = {
    "event_id": "BIGINT",
    "customer_id": "BIGINT",
    "ts_us": "BIGINT",
    "kind": "VARCHAR",
    "name": "VARCHAR",
    "props": "JSON",
    "source": "VARCHAR",  # the Segment context.campaign.source (first touch), if any
    # The event store's channel ("web", "app"); NULL in segments written before it was.
    "channel": "VARCHAR",
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
    source: str | None = None
    channel: str | None = None  # the event store's channel: "web" or "app"


class RawEvent(NamedTuple):
    """One event-store row as stored: ``occurred_at`` as the database writes a timestamp
    (naive text is UTC), ``data`` the Segment message as JSON text. The engine keeps the
    track, page and screen calls (the funnel events) and parses them itself."""

    event_id: int
    customer_id: int
    occurred_at: str
    data: str | None
    channel: str | None = None  # the event store's channel: "web" or "app"


FUNNEL_TYPES = ("track", "page", "screen")  # identify, group and alias are not actions
# A raw row as a segment's row: the message parsed once, by DuckDB (``from_json`` takes
# what fits the shape and leaves the rest NULL), not by Python (the copy's cost).
MESSAGE = json.dumps(
    {
        "type": "VARCHAR",
        "event": "VARCHAR",
        "name": "VARCHAR",
        "properties": "JSON",
        "context": {"campaign": {"source": "VARCHAR"}},
    }
)
RAW_SELECT = (
    "SELECT event_id, customer_id, epoch_us(occurred_at::TIMESTAMPTZ) AS ts_us, m.type AS kind,"
    " coalesce(CASE WHEN m.type = 'track' THEN m.event ELSE m.name END, '') AS name,"
    " CASE WHEN json_type(m.properties) = 'OBJECT' THEN m.properties ELSE '{}'::JSON END"
    " AS props, m.context.campaign.source AS source, channel"
    f" FROM (SELECT *, from_json(data, '{MESSAGE}') AS m FROM raw)"
    f" WHERE m.type IN {FUNNEL_TYPES}"
)


# One open DuckDB per copy directory: (the files it was opened on, the database, threads).
_OPEN: dict[Path, tuple[tuple[str, ...], duckdb.DuckDBPyConnection, int]] = {}
_OPEN_LOCK = threading.Lock()
OPEN_MAX = 4


class Params:
    """Values as SQL literals, each quoted as DuckDB reads it back: a string between single
    quotes with its quotes doubled (DuckDB gives a backslash no meaning there), a number as
    a cast of its text. Not bound parameters: DuckDB skips Parquet row groups by comparing
    constants with their statistics, which it does not do for parameters (a tenth of the
    CPU of a 10M-event funnel). ``values`` stays empty; it is passed to ``execute``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(int(value))
        if isinstance(value, float):
            return f"CAST('{value!r}' AS DOUBLE)"
        text = str(value)
        if "\x00" in text:
            raise ValueError("a NUL character cannot be in a funnel's text")
        return "'" + text.replace("'", "''") + "'"


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

    def compact(
        self,
        *,
        min_pieces: int = 2,
        max_bytes: int = COMPACT_BYTES,
        grace_seconds: float = 60,
    ) -> int:
        """Merge each run of at least ``min_pieces`` consecutive segments smaller than
        ``max_bytes`` into one segment; how many segments were merged.

        The merged segment covers the ids of its pieces, so it is named with the first
        piece's ``first`` and the last one's ``last``: once renamed into place, readers
        take it and skip the pieces (``segments``), and the mark is unchanged. A compaction
        killed before its rename leaves a temporary file; killed after it, pieces that no
        reader uses. Those pieces are removed ``grace_seconds`` after the merged segment
        appeared, by a later compaction, so a reader that listed them just before still
        finds them. Run it where the copy runs (under its lock): the copy's
        ``discard_unfinished`` removes any temporary file.
        """
        chosen = self.segments()
        in_use = {p for _, _, p in chosen}
        now = time.time()
        for p in self.directory.iterdir():
            m = SEGMENT.match(p.name)
            if not m or p in in_use:
                continue
            cover = next((c for a, b, c in chosen if a <= int(m[1]) and int(m[2]) <= b), None)
            if cover is not None and now - cover.stat().st_mtime >= grace_seconds:
                p.unlink(missing_ok=True)
        runs: list[list[tuple[int, int, Path]]] = [[]]
        for seg in chosen:
            if seg[2].stat().st_size < max_bytes:
                runs[-1].append(seg)
            elif runs[-1]:
                runs.append([])
        merged = 0
        for run in runs:
            if len(run) < min_pieces:
                continue
            files = ", ".join(_quote(p) for _, _, p in run)
            self._publish(
                f"SELECT * FROM read_parquet([{files}], union_by_name = true)",
                run[0][0],
                run[-1][1],
            )
            merged += len(run)
        return merged

    def append(self, rows: Sequence[EventRow], *, first: int, last: int) -> int:
        """Write the events of event-store ids ``first..last`` (the rows may be fewer: not
        every id is an event) as one segment, visible all at once; how many events."""
        if not 0 < first <= last or any(not first <= r.event_id <= last for r in rows):
            raise ValueError(f"rows outside the segment's ids {first}..{last}")
        ndjson = self.directory / f"{TMP_PREFIX}{uuid.uuid4().hex}.ndjson"
        with ndjson.open("w", encoding="utf-8") as out:
            for r in rows:
                out.write(
                    f'{{"event_id":{r.event_id},"customer_id":{r.customer_id},'
                    f'"ts_us":{r.ts_us},"kind":{json.dumps(r.kind)},'
                    f'"name":{json.dumps(r.name)},"props":{r.props or "{}"},'
                    f'"source":{json.dumps(r.source)},"channel":{json.dumps(r.channel)}}}\n'
                )
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
        try:
            return self._publish(
                f"SELECT * FROM read_json({_quote(ndjson)}, format='newline_delimited',"
                f" columns={columns})",
                first,
                last,
            )
        finally:
            ndjson.unlink(missing_ok=True)

    def append_raw(self, rows: Sequence[RawEvent], *, first: int, last: int) -> int:
        """As ``append``, from the event store's rows as they are: DuckDB parses the
        messages and keeps the funnel events (``RAW_SELECT``); how many it kept."""
        if not 0 < first <= last or any(not first <= r.event_id <= last for r in rows):
            raise ValueError(f"rows outside the segment's ids {first}..{last}")
        tag = uuid.uuid4().hex
        ndjson = self.directory / f"{TMP_PREFIX}{tag}.ndjson"
        with ndjson.open("w", encoding="utf-8") as out:
            # The message is JSON already: it goes in as it is (a newline can only be
            # whitespace between its tokens, and one line holds one row).
            out.writelines(
                f'{{"event_id":{r.event_id},"customer_id":{r.customer_id},'
                f'"occurred_at":"{r.occurred_at}","channel":{json.dumps(r.channel)},'
                f'"data":{(r.data or "null").replace(NL, " ")}}}\n'
                for r in rows
            )
        columns = (
            "{'event_id': 'BIGINT', 'customer_id': 'BIGINT', 'occurred_at': 'VARCHAR',"
            " 'channel': 'VARCHAR', 'data': 'JSON'}"
        )
        source = (
            f"(SELECT * FROM read_json({_quote(ndjson)}, format='newline_delimited',"
            f" columns={columns}))"
        )
        try:
            return self._publish(RAW_SELECT.replace("FROM raw", f"FROM {source}"), first, last)
        finally:
            ndjson.unlink(missing_ok=True)

    def append_select(self, select: str, *, first: int, last: int) -> int:
        """As ``append``, from a DuckDB ``SELECT`` giving a segment's columns (``COLUMNS``):
        bulk loads that never were in the event store, such as the bench's synthetic
        events. The SQL is run as given: never build it from user input."""
        return self._publish(select, first, last)

    def _publish(self, select: str, first: int, last: int) -> int:
        """Write ``select``'s rows (a segment's columns) sorted as readers want them, as the
        segment of ids ``first..last``, made visible by one atomic rename; how many rows."""
        staged = self.directory / f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet"
        final = self.directory / f"events-{first:012d}-{last:012d}.parquet"
        with duckdb.connect(config={"threads": self.threads}) as con:
            con.execute("SET TimeZone = 'UTC'")
            # Segments written before a column existed lack it: compacted, it is NULL.
            have = {r[0] for r in con.execute(f"DESCRIBE {select}").fetchall()}
            cols = ", ".join(
                f"{k}::{v} AS {k}" if k in have else f"NULL::{v} AS {k}" for k, v in COLUMNS.items()
            )
            written = con.execute(
                f"COPY (SELECT {cols} FROM ({select}) ORDER BY name, customer_id, ts_us, event_id)"
                f" TO {_quote(staged)} (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP})"
            ).fetchone()
        os.replace(staged, final)
        return int(written[0]) if written else 0

    def people_write(
        self, *, merged: Iterable[tuple[int, int]], moved: Iterable[tuple[int, int]] = ()
    ) -> None:
        """Replace the map of merged customers to the live customer they now are, and the
        customer of each event an undone merge moved back (copied while it stood)."""
        for name, pairs, columns in (
            (PEOPLE, list(merged), ("customer_id", "person")),
            (MOVED, list(moved), ("event_id", "customer_id")),
        ):
            tag = uuid.uuid4().hex
            csv = self.directory / f"{TMP_PREFIX}{tag}.csv"
            staged = self.directory / f"{TMP_PREFIX}{tag}.parquet"
            # Through a file: binding Python lists makes DuckDB import pandas (2 s).
            csv.write_text("".join(f"{a},{b}\n" for a, b in pairs))
            types = f"{{'{columns[0]}': 'BIGINT', '{columns[1]}': 'BIGINT'}}"
            with duckdb.connect(config={"threads": self.threads}) as con:
                con.execute(
                    f"COPY (SELECT * FROM read_csv({_quote(csv)}, header = false, delim = ',', auto_detect = false,"
                    f" columns = {types})) TO {_quote(staged)} (FORMAT parquet)"
                )
            csv.unlink()
            os.replace(staged, self.directory / name)

    def teams_write(self, *, touches: Iterable[tuple[int, int, str]]) -> None:
        """Replace the map of first-touch teams: (customer id, when the team first touched
        them in µs, the team's slug), one row per customer; a merged customer's touch
        counts for the person they became (``definitions``: the first-touch team)."""
        tag = uuid.uuid4().hex
        ndjson = self.directory / f"{TMP_PREFIX}{tag}.ndjson"
        staged = self.directory / f"{TMP_PREFIX}{tag}.parquet"
        with ndjson.open("w", encoding="utf-8") as out:
            out.writelines(
                f'{{"customer_id":{int(c)},"at_us":{int(t)},"team":{json.dumps(team)}}}\n'
                for c, t, team in touches
            )
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in TEAM_COLUMNS.items()) + "}"
        try:
            with duckdb.connect(config={"threads": self.threads}) as con:
                con.execute(
                    f"COPY (SELECT * FROM read_json({_quote(ndjson)}, format='newline_delimited',"
                    f" columns={columns})) TO {_quote(staged)} (FORMAT parquet)"
                )
            os.replace(staged, self.directory / TEAMS)
        finally:
            ndjson.unlink(missing_ok=True)
            staged.unlink(missing_ok=True)

    # --- queries --------------------------------------------------------------------

    def _connect(self) -> duckdb.DuckDBPyConnection | None:
        """A cursor on an in-memory DuckDB with the view ``events`` (person = live
        customer), or None when nothing was copied yet.

        The database is kept per directory while the copy's files stay the same (same
        segments, same maps), so a warm process answers without opening DuckDB, listing
        Parquet schemas and reading footers again; each question gets its own cursor
        (DuckDB's way to use one database from several threads)."""
        files = [p for _, _, p in self.segments()]
        if not files:
            return None
        maps = [self.directory / MOVED, self.directory / PEOPLE, self.directory / TEAMS]
        key = tuple(str(p) for p in files) + tuple(_stamp(p) for p in maps)
        with _OPEN_LOCK:
            cached = _OPEN.get(self.directory)
            if cached is None or cached[0] != key or cached[2] != self.threads:
                # The one it replaces is not closed: a question still running on a cursor
                # of it (another thread) finishes; DuckDB frees it with its last cursor.
                cached = (key, self._open(files), self.threads)
                _OPEN.pop(self.directory, None)
                while len(_OPEN) >= OPEN_MAX:  # the oldest goes (tests make many)
                    _OPEN.pop(next(iter(_OPEN)))
                _OPEN[self.directory] = cached
            return cached[1].cursor()

    def _open(self, files: list[Path]) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={"threads": self.threads})
        con.execute("SET parquet_metadata_cache = true")
        source = "read_parquet([" + ", ".join(_quote(p) for p in files) + "], union_by_name = true)"
        customer = "e.customer_id"
        joins = ""
        moved = self.directory / MOVED
        if _rows(con, moved):
            customer = "coalesce(b.customer_id, e.customer_id)"
            joins += f" LEFT JOIN read_parquet({_quote(moved)}) b ON b.event_id = e.event_id"
        people = self.directory / PEOPLE
        person = customer
        merged = _rows(con, people)
        if merged:
            person = f"coalesce(m.person, {customer})"
            joins += f" LEFT JOIN read_parquet({_quote(people)}) m ON m.customer_id = {customer}"
        # ``teams``: each touched customer's first team, under the person they now are.
        teams = self.directory / TEAMS
        if _rows(con, teams):
            con.execute(
                "CREATE VIEW teams AS SELECT"
                f" {'coalesce(m.person, t.customer_id)' if merged else 't.customer_id'} AS person,"
                f" t.customer_id, t.at_us, t.team FROM read_parquet({_quote(teams)}) t"
                + (
                    f" LEFT JOIN read_parquet({_quote(people)}) m ON m.customer_id = t.customer_id"
                    if merged
                    else ""
                )
            )
        else:
            con.execute(
                "CREATE VIEW teams AS SELECT NULL::BIGINT AS person, NULL::BIGINT AS customer_id,"
                " NULL::BIGINT AS at_us, NULL::VARCHAR AS team WHERE false"
            )
        # A column no segment has yet (all written before it existed) reads as NULL;
        # union_by_name fills it in when only some segments lack it.
        have = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        channel = "e.channel" if "channel" in have else "NULL::VARCHAR AS channel"
        con.execute(
            f"CREATE VIEW events AS SELECT e.event_id, {person} AS person, e.ts_us, e.kind,"
            f" e.name, e.props, e.source, {channel} FROM {source} e{joins}"
        )
        return con

    def funnel(self, d: FunnelDefinition) -> FunnelResult:
        """Counts, conversions and times from the previous step for each step; with the
        definition's breakdown, the same for each bucket of people."""
        con = self._connect()
        if con is None:
            return FunnelResult(
                steps=step_results(d, {}),
                breakdown=[] if d.breakdown is not None else None,
            )
        with con:
            p = Params()
            sql = _counted_sql(d, p)
            if d.breakdown is None:
                select = (
                    "SELECT step, count(*), quantile_cont(gap, 0.5), quantile_cont(gap, 0.9)"
                    " FROM counted GROUP BY step"
                )
                rows = {r[0]: r[1:] for r in con.execute(sql + select, p.values).fetchall()}
                return FunnelResult(steps=step_results(d, rows))
            sql += _bucketed_sql(d, p)
            select = (
                "SELECT NULL AS bucket, false AS other, step, count(*),"
                " quantile_cont(gap, 0.5), quantile_cont(gap, 0.9), 0 AS r FROM counted"
                " GROUP BY step UNION ALL SELECT bucket, other, step, count(*),"
                " quantile_cont(gap, 0.5), quantile_cont(gap, 0.9), r + 1 FROM bucketed"
                " GROUP BY bucket, other, step, r"
            )
            found = con.execute(sql + select, p.values).fetchall()
        return funnel_result(d, found)

    def trend(
        self, d: FunnelDefinition, *, interval: Literal["day", "week"] = "day"
    ) -> list[TrendPoint]:
        """Per UTC day or ISO week of the people's entry: entered (counted at step 1) and
        converted (counted at the last step), periods with nobody left out."""
        if interval not in ("day", "week"):
            raise ValueError("interval: day or week")
        con = self._connect()
        if con is None:
            return []
        with con:
            p = Params()
            last = len(d.steps) - 1
            sql = _counted_sql(d, p) + (
                f"SELECT date_trunc('{interval}', make_timestamp(e.ts))::DATE AS period,"
                f" count(*) FILTER (WHERE c.step = 0), count(*) FILTER (WHERE c.step = {last})"
                f" FROM counted c JOIN entry e USING (person) WHERE c.step IN (0, {last})"
                f" GROUP BY period ORDER BY period"
            )
            found = con.execute(sql, p.values).fetchall()
        return [TrendPoint(start=day, entered=n, converted=m) for day, n, m in found]

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
        con = self._connect()
        if con is None:
            return DropoffPage(people=[], next_after=None)
        now_us = micros(now) if now is not None else None
        with con:
            p = Params()
            cut = p(now_us if now_us is not None else 2**62)
            sql = _counted_sql(d, p) + (
                f", dropped AS (SELECT c.person, e.last_ts FROM counted c JOIN entry e"
                f" USING (person) WHERE c.step = {prev}"
                f" AND c.person NOT IN (SELECT person FROM counted WHERE step = {step}))"
            )
            if newest_first:
                sql += (
                    f", latest AS (SELECT person, max(ts_us) AS ts FROM events"
                    f" WHERE person IN (SELECT person FROM dropped) AND ts_us <= {cut}"
                    f" GROUP BY person),"
                    f" keyed AS (SELECT d.person, d.last_ts, coalesce(l.ts, {p(NO_EVENT)}) AS k"
                    f" FROM dropped d LEFT JOIN latest l USING (person))"
                    f" SELECT person, last_ts, k FROM keyed"
                )
                if cursor is not None:
                    k, who = p(cursor.last_us), p(cursor.person)
                    sql += f" WHERE k < {k} OR (k = {k} AND person > {who})"
                sql += f" ORDER BY k DESC, person LIMIT {p(limit + 1)}"
            else:
                sql += (
                    f" SELECT person, last_ts, 0 FROM dropped"
                    f" WHERE person > {p(after if after is not None else -1)}"
                    f" ORDER BY person LIMIT {p(limit + 1)}"
                )
            found = con.execute(sql, p.values).fetchall()
            more = len(found) > limit
            found = found[:limit]
            people = [r[0] for r in found]
            last = {
                person: (name, ts)
                for person, name, ts in con.execute(
                    "SELECT person, arg_max(name, (ts_us, event_id)), max(ts_us) FROM events"
                    # ints from the query above, in the text: a bound list imports pandas
                    f" WHERE person IN ({', '.join(map(str, people)) or 'NULL'})"
                    " AND ts_us <= $now GROUP BY person",
                    {"now": now_us if now_us is not None else 2**62},
                ).fetchall()
            }
        return dropoff_page(d, found, last, more=more, now_us=now_us, newest_first=newest_first)


def _stamp(path: Path) -> str:
    """What tells one version of a map file from the next (each is a new file, renamed
    into place: a new inode, and most often another time and size)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "-"
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def _rows(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """The rows of a map file (0 when missing): an empty map costs no join."""
    try:
        found = con.execute(f"SELECT count(*) FROM read_parquet({_quote(path)})").fetchone()
    except duckdb.IOException:
        return 0
    return int(found[0]) if found else 0


# --- SQL ----------------------------------------------------------------------------------


def _json_text(path: str, props: str = "props") -> str:
    """A property as text: a JSON string as itself, another value as its JSON text, JSON
    null or missing as NULL (the breakdown's buckets)."""
    return f"json_extract_string({props}, {path})"


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


def _after(b: str, a: str, *, strict: bool) -> str:
    """SQL: event ``b`` comes after event ``a`` in the person's order (time, then id);
    in strict mode, right after (positions)."""
    if strict:
        return f"{b}.pos = {a}.pos + 1"
    return f"({b}.ts > {a}.ts OR ({b}.ts = {a}.ts AND {b}.event_id > {a}.event_id))"


def _between(x: str, a: str, b: str, *, strict: bool) -> str:
    """SQL: event ``x`` lies strictly between ``a`` and ``b``."""
    if strict:
        return f"{x}.pos > {a}.pos AND {x}.pos < {b}.pos"
    return f"{_after(x, a, strict=False)} AND {_after(b, x, strict=False)}"


def _base_sql(d: FunnelDefinition, p: Params) -> str:
    """``ev``: the events that can take part in a chain (those from ``from`` to ``to`` +
    window matching a step or an exclusion; in strict mode every event of the people who
    can start one, as any event between two steps breaks a chain), with one match flag per
    step (``m0``...) and exclusion (``x0``...), ``st`` (can begin a chain: an entry
    candidate), and the breakdown property's text (``bv``) when asked. ``entry``: per
    person, the first (``ts``) and last (``last_ts``) entry candidate."""
    lo, hi = micros(d.from_), micros(d.to)
    w = d.window_seconds * US
    lo_p, hi_p, end_p = p(lo), p(hi), p(hi + w)
    flags = [f"{_matcher_sql(s, p)} AS m{k}" for k, s in enumerate(d.steps)]
    flags += [f"{_matcher_sql(x, p)} AS x{i}" for i, x in enumerate(d.exclusions)]
    n = len(d.steps)
    starts = "m0" if d.mode != "unordered" else "(" + " OR ".join(f"m{k}" for k in range(n)) + ")"
    extra = ""
    if d.breakdown is not None and d.breakdown.property is not None:
        path = p('$."' + d.breakdown.property + '"')
        extra = f", {_json_text(path)} AS bv"
    names = sorted({m.name for m in [*d.steps, *d.exclusions]})
    if d.mode == "strict":
        first = "(" + " OR ".join(_matcher_sql(s, p) for s in d.steps[:1]) + ")"
        where = (
            f"ts_us BETWEEN {lo_p} AND {end_p} AND person IN (SELECT person FROM events"
            f" WHERE ts_us BETWEEN {lo_p} AND {hi_p} AND {first})"
        )
        pos = ", row_number() OVER (PARTITION BY person ORDER BY ts_us, event_id) AS pos"
    else:
        # Only events a step or an exclusion names can take part: the name test is
        # pushed into the Parquet scan, the flags computed on what is left.
        where = f"ts_us BETWEEN {lo_p} AND {end_p} AND name IN ({', '.join(map(p, names))})"
        pos = ""
    return (
        f"WITH fl AS (SELECT person, event_id, ts_us AS ts{pos}, {', '.join(flags)}{extra}"
        f" FROM events WHERE {where}),"
        f" ev AS (SELECT *, {starts} AND ts BETWEEN {lo_p} AND {hi_p} AS st FROM fl),"
        f" entry AS (SELECT person, min(ts) AS ts, max(ts) AS last_ts"
        f"{', arg_min_null(bv, (ts, event_id)) AS bv' if extra else ''}"
        f" FROM ev WHERE st GROUP BY person)"
    )


def _ordered_sql(d: FunnelDefinition, p: Params) -> str:
    """One CTE per step: ``s<k>`` holds each event that can end a chain as step k, with
    the latest start of such a chain (``start``: the latest start leaves the most room
    for the window, so it is all later steps need) and the shortest time from the
    previous step (``gap``)."""
    strict = d.mode == "strict"
    w = p(d.window_seconds * US)
    cols = "person, event_id, ts" + (", pos" if strict else "")
    ctes = [f"s0 AS (SELECT {cols}, ts AS start, NULL::BIGINT AS gap FROM ev WHERE st)"]
    for k in range(1, len(d.steps)):
        step = d.steps[k]
        joins = []
        for j in d.predecessors(k):
            cond = [
                "b.person = a.person",
                f"b.ts - a.start <= {w}",
                _after("b", "a", strict=strict),
            ]
            if step.within_seconds is not None:
                cond.append(f"b.ts - a.ts <= {p(step.within_seconds * US)}")
            if step.min_gap_seconds is not None:
                cond.append(f"b.ts - a.ts >= {p(step.min_gap_seconds * US)}")
            for i, x in enumerate(d.exclusions):
                first, last = d.exclusion_spans(x)
                if first <= j and k <= last:
                    cond.append(
                        f"NOT EXISTS (SELECT 1 FROM ev x WHERE x.person = b.person AND x.x{i}"
                        f" AND {_between('x', 'a', 'b', strict=strict)})"
                    )
            joins.append(
                f"SELECT {', '.join('b.' + c for c in cols.split(', '))}, a.start,"
                f" b.ts - a.ts AS gap FROM ev b JOIN s{j} a ON {' AND '.join(cond)} WHERE b.m{k}"
            )
        ctes.append(
            f"s{k} AS (SELECT {cols}, max(start) AS start, min(gap) AS gap FROM"
            f" ({' UNION ALL '.join(joins)}) GROUP BY {cols})"
        )
    reach = " UNION ALL ".join(
        f"SELECT {k} AS step, person, min(gap) AS gap FROM s{k} GROUP BY person"
        if k
        else "SELECT DISTINCT 0 AS step, person, NULL::BIGINT AS gap FROM s0"
        for k in range(len(d.steps))
    )
    return ", " + ", ".join(ctes) + f", counted AS ({reach}) "


def _unordered_sql(d: FunnelDefinition, p: Params) -> str:
    """For each event, the time of the next event (this one included) matching each step
    (``n<k>``); an entry candidate starts an attempt, which reaches step k when each step
    wanted with k comes within the window. Counted: reached, and counted at the required
    step before."""
    w = p(d.window_seconds * US)
    nxt = ", ".join(
        f"min(CASE WHEN m{k} THEN ts END) OVER (PARTITION BY person ORDER BY ts, event_id"
        f" ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS n{k}"
        for k in range(len(d.steps))
    )
    ctes = [f"nx AS (SELECT *, {nxt} FROM ev)"]
    for k in range(len(d.steps)):
        wanted = [j for j in range(k) if not d.steps[j].optional] + [k]
        within = " AND ".join(f"n{j} - ts <= {w}" for j in wanted)
        prev = d.required_before(k)
        counted = f" AND person IN (SELECT person FROM c{prev})" if prev is not None else ""
        ctes.append(
            f"c{k} AS (SELECT DISTINCT {k} AS step, person, NULL::BIGINT AS gap FROM nx"
            f" WHERE st AND {within}{counted})"
        )
    union = " UNION ALL ".join(f"SELECT * FROM c{k}" for k in range(len(d.steps)))
    return ", " + ", ".join(ctes) + f", counted AS ({union}) "


def _counted_sql(d: FunnelDefinition, p: Params) -> str:
    """``counted(step, person, gap)``: the people counted at each step (in ordered and
    strict modes reaching is being counted) with their shortest time from the previous
    step; ``entry(person, ts, last_ts[, bv])`` beside it."""
    body = _base_sql(d, p)
    return body + (_unordered_sql(d, p) if d.mode == "unordered" else _ordered_sql(d, p))


def _bucketed_sql(d: FunnelDefinition, p: Params) -> str:
    """``bucketed(step, person, gap, bucket, other, r)``: counted, with each person's
    bucket; the buckets past the first ``BREAKDOWN_BUCKETS`` (by people at step 1, ties
    by value, the null bucket last) merged into one with ``other``; ``r`` orders them."""
    assert d.breakdown is not None
    if d.breakdown.property is not None:
        of = "SELECT person, bv AS bucket FROM entry"
    elif d.breakdown.first_touch == "team":
        of = (
            "SELECT person, arg_min(team, (at_us, customer_id)) AS bucket FROM teams"
            " WHERE person IN (SELECT person FROM counted WHERE step = 0) GROUP BY person"
        )
    else:
        if d.breakdown.first_touch == "channel":
            touch = "channel"
        else:
            utm = _json_text(p('$."utm_source"'))
            touch = f"coalesce(source, {utm})"
        of = (
            f"SELECT person, arg_min_null({touch}, (ts_us, event_id)) AS bucket FROM events"
            f" WHERE person IN (SELECT person FROM counted WHERE step = 0) GROUP BY person"
        )
    top = p(BREAKDOWN_BUCKETS)
    return (
        f", pb AS ({of}),"
        f" cb AS (SELECT c.*, pb.bucket FROM counted c LEFT JOIN pb USING (person)),"
        f" sizes AS (SELECT bucket, row_number() OVER (ORDER BY count(*) DESC,"
        f" bucket ASC NULLS LAST) AS r FROM cb WHERE step = 0 GROUP BY bucket),"
        f" bucketed AS (SELECT cb.step, cb.person, cb.gap,"
        f" CASE WHEN s.r <= {top} THEN cb.bucket END AS bucket, s.r > {top} AS other,"
        f" least(s.r, {top} + 1) AS r"
        f" FROM cb JOIN sizes s ON cb.bucket IS NOT DISTINCT FROM s.bucket) "
    )

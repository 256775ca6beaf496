"""Shared plumbing for the bench: databases, the lastmile command, a real gunicorn, timing.

Nothing here imports Django: the orchestrator talks to lastmile only through its commands
(``django-admin migrate``, ``lastmile token create``), HTTP and the database itself, so one
run can benchmark SQLite and then PostgreSQL with fresh processes for each.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
WORK = BENCH_DIR / "_work"
PG_ADMIN_URL = os.environ.get(
    "LASTMILE_BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# The bench database, created and dropped by the bench (another name for a second checkout).
PG_DB = os.environ.get("LASTMILE_BENCH_PG_DB", "lastmile_bench")

# Child processes (the sweep) stamp their progress from the same start as run.py.
_T0 = float(os.environ.setdefault("LASTMILE_BENCH_T0", str(time.time())))


def say(msg: str) -> None:
    """Progress on stdout, stamped with seconds since the run started."""
    print(f"[{time.time() - _T0:7.1f}s] {msg}", flush=True)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank, as latency reports usually mean it)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100), at least 1
    return ordered[int(rank) - 1]


@dataclass
class Database:
    """One bench database: a fresh SQLite file or the PostgreSQL database ``lastmile_bench``."""

    vendor: str  # "sqlite" | "postgresql"
    var_dir: Path
    sqlite_path: Path | None = None

    @property
    def url(self) -> str:
        if self.vendor == "sqlite":
            return f"sqlite:///{self.sqlite_path}"
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_DB

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            LASTMILE_VAR_DIR=str(self.var_dir),
            LASTMILE_DATABASE_URL=self.url,
            LASTMILE_QUEUE_URL=f"sqlite:///{self.var_dir / 'queue.sqlite3'}",
            LASTMILE_DEBUG="0",  # DEBUG would keep every query in memory
            LASTMILE_LOG_LEVEL="WARNING",
            DJANGO_SETTINGS_MODULE="lastmile.settings",
            PYTHONUNBUFFERED="1",
        )
        return env

    def connect(self):  # type: ignore[no-untyped-def]
        """A raw DB-API connection (sqlite3 or psycopg), for bulk loads and floors."""
        if self.vendor == "sqlite":
            conn = sqlite3.connect(str(self.sqlite_path), isolation_level=None, timeout=60)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        import psycopg

        return psycopg.connect(self.url, autocommit=True)


def pg_reachable() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:  # any failure means: skip PostgreSQL, say why
        return (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )


def pg_recreate() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {PG_DB}")


def pg_drop() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


def fresh_database(vendor: str, name: str) -> Database:
    """A new, migrated, empty database with its own LASTMILE_VAR_DIR under bench/_work/."""
    var_dir = WORK / f"{vendor}-{name}"
    shutil.rmtree(var_dir, ignore_errors=True)
    var_dir.mkdir(parents=True)
    db = Database(vendor=vendor, var_dir=var_dir)
    if vendor == "sqlite":
        db.sqlite_path = var_dir / "lastmile.sqlite3"
    else:
        pg_recreate()
    t = time.perf_counter()
    run_quiet(
        [sys.executable, "-m", "django", "migrate", "--settings=lastmile.settings", "-v", "0"],
        db.env(),
    )
    say(f"  {vendor}: migrated a fresh database ({time.perf_counter() - t:.1f}s)")
    return db


def run_quiet(cmd: list[str], env: dict[str, str]) -> str:
    """Run a command; its stdout, or a RuntimeError carrying its output."""
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


def token_create(db: Database, name: str = "bench") -> str:
    """An integration token, made the way an operator makes one: ``lastmile token create``."""
    lastmile = Path(sys.executable).with_name("lastmile")
    cmd = [str(lastmile)] if lastmile.exists() else [sys.executable, "-m", "lastmile.cli"]
    out = run_quiet([*cmd, "token", "create", name], db.env())
    token = out.strip().splitlines()[-1].strip()
    if not token or " " in token:
        raise RuntimeError(f"lastmile token create printed {out!r}, not a token")
    return token


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gunicorn(db: Database, *, workers: int = 2, threads: int = 2) -> Iterator[str]:
    """A real gunicorn serving lastmile on a free loopback port; stopped whatever happens."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "lastmile.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
    ]
    with _serving(db, cmd, port, f"gunicorn ({workers} workers x {threads} threads)") as base:
        yield base


@contextlib.contextmanager
def lastmile_serve(db: Database) -> Iterator[str]:
    """``lastmile serve --port N``: the command ``make demo`` runs and the README recommends,
    with its own defaults (gunicorn's workers and threads, access log), so the figures are
    those of the server as shipped. It execs gunicorn, so the pid stays the server's."""
    port = free_port()
    with _serving(
        db, [*lastmile_cmd(), "serve", "--port", str(port)], port, "lastmile serve"
    ) as base:
        yield base


def lastmile_cmd() -> list[str]:
    """The ``lastmile`` command of this interpreter's environment."""
    lastmile = Path(sys.executable).with_name("lastmile")
    return [str(lastmile)] if lastmile.exists() else [sys.executable, "-m", "lastmile.cli"]


def server_shape(pid: int) -> str:
    """ "N workers x M threads" as the running gunicorn master was started (its command line)."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    value = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--workers", "--threads")}
    return f"{value.get('--workers', '?')} workers x {value.get('--threads', '?')} threads"


@contextlib.contextmanager
def _serving(db: Database, cmd: list[str], port: int, label: str) -> Iterator[str]:
    """Run a server command on ``port``; yield its base URL once /healthz answers.

    It runs in its own session so that stopping it (SIGINT to its process group: master
    and workers) touches nothing else, also when the bench itself is interrupted.
    """
    log_path = db.var_dir / "gunicorn.log"
    # Ctrl-C while Popen is forking would leave a server nobody knows the pid of: hold
    # SIGINT until the pid is recorded, then act on it.
    deferred: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: deferred.append(signum))
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd,
                env=db.env(),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _SERVERS.append(proc)
    finally:
        signal.signal(signal.SIGINT, previous)
    base = f"http://127.0.0.1:{port}"
    try:
        if deferred:
            raise KeyboardInterrupt
        _wait_ready(proc, base, log_path)
        say(f"  {label}: pid {proc.pid} serving {base} ({server_shape(proc.pid)})")
        yield base
    finally:
        _SERVERS.remove(proc)
        _stop(proc)


_SERVERS: list[subprocess.Popen[bytes]] = []


def stop_servers() -> None:
    """Stop every server this run started that is still up (a last line of defence)."""
    while _SERVERS:
        _stop(_SERVERS.pop())


def _wait_ready(
    proc: subprocess.Popen[bytes], base: str, log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited {proc.returncode}:\n{_tail(log_path)}")
        try:
            if requests.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)  # polling a condition (the server answering), bounded by the deadline
    raise RuntimeError(
        f"gunicorn did not answer /healthz within {timeout:.0f}s:\n{_tail(log_path)}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (gunicorn's quick shutdown) to the server's own process group, then SIGKILL.

    The group is signalled even after the master has gone, so that no worker outlives it.
    """
    for sig, wait in ((signal.SIGINT, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGINT:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def proc_cpu() -> list[tuple[int, int, str, float]]:
    """(pid, process group, name, CPU seconds used so far: user + system) of every process."""
    tick = os.sysconf("SC_CLK_TCK")
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the process ended while we looked
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        # fields[2] is the process group (field 5 of stat); 11, 12 are utime, stime.
        out.append(
            (
                int(stat.parent.name),
                int(fields[2]),
                name,
                (int(fields[11]) + int(fields[12])) / tick,
            )
        )
    return out


def busy_besides(
    before: list[tuple[int, int, str, float]],
    after: list[tuple[int, int, str, float]],
    wall_s: float,
    *,
    ours: set[int],
    skip: frozenset[str] = frozenset(),
    top: int = 4,
    least: float = 0.05,
) -> list[str]:
    """The processes outside ``ours`` (process groups) that used the most CPU between two
    ``proc_cpu()`` snapshots, as "share of one core: command line"; PostgreSQL's processes
    count as one entry (they serve the bench and anything else using that server); process
    names in ``skip`` are left out (reported on their own), and so is anything that used
    less than ``least`` of a core."""
    start = {pid: cpu for pid, _, _, cpu in before}
    used: dict[str, float] = {}
    for pid, group, name, cpu in after:
        if group in ours or pid == os.getpid() or name in skip:
            continue
        delta = cpu - start.get(pid, 0.0)
        if delta <= 0:
            continue
        label = "postgres (all its processes)" if name == "postgres" else _cmdline(pid, name)
        used[label] = used.get(label, 0.0) + delta
    ranked = sorted(used.items(), key=lambda kv: -kv[1])[:top]
    return [
        f"{100 * cpu / wall_s:.0f} % of a core: {label}"
        for label, cpu in ranked
        if cpu >= least * wall_s
    ]


def _cmdline(pid: int, name: str) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return name
    text = " ".join(a for a in args.split("\0") if a)
    return (text[:80] + "…") if len(text) > 80 else (text or name)


def db_version(db: Database) -> str:
    conn = db.connect()
    try:
        if db.vendor == "sqlite":
            return sqlite3.sqlite_version
        return str(conn.execute("SHOW server_version").fetchone()[0])
    finally:
        conn.close()


def floor_insert(
    db: Database,
    *,
    table: str,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    sqlite_ddl: str,
    pg_ddl: str,
) -> dict[str, Any]:
    """The floor a bench is compared with: ``rows`` inserted raw into a bare table (primary
    key only) in one transaction — sqlite3 ``executemany`` on a fresh WAL file (as lastmile's
    own connections: synchronous=NORMAL), psycopg ``COPY FROM STDIN`` on PostgreSQL.

    ``*_ddl`` are the column definitions after the primary key; the table is dropped after.
    """
    cols = ", ".join(columns)
    if db.vendor == "sqlite":
        path = db.var_dir / "floor.sqlite3"
        path.unlink(missing_ok=True)
        conn = sqlite3.connect(str(path), isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY AUTOINCREMENT, {sqlite_ddl})"
            )
            t = time.perf_counter()
            conn.execute("BEGIN")
            marks = ", ".join("?" * len(columns))
            conn.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
            conn.execute("COMMIT")
            dt = time.perf_counter() - t
        finally:
            conn.close()
            path.unlink(missing_ok=True)
        method = "sqlite3 executemany, WAL, synchronous=NORMAL, one transaction"
    else:
        conn = db.connect()
        try:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(
                f"CREATE TABLE {table} (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "
                f"{pg_ddl})"
            )
            t = time.perf_counter()
            with (
                conn.transaction(),
                conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            dt = time.perf_counter() - t
            conn.execute(f"DROP TABLE {table}")
        finally:
            conn.close()
        method = "psycopg COPY FROM STDIN, one transaction"
    return {"per_s": len(rows) / dt, "wall_s": dt, "method": method}


def page_block_write(page: Path, *, begin: str, end: str, lines: list[str]) -> None:
    """Replace what stands between the ``begin`` and ``end`` marker lines of a Markdown
    page with ``lines`` (the markers themselves are kept; a page without them gets them
    appended), leaving the hand-written text around them as it is."""
    text = page.read_text(encoding="utf-8") if page.exists() else f"{begin}\n{end}\n"
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    page.write_text(head + "\n".join([begin, *lines, end]) + tail, encoding="utf-8")


def child_json(db: Database, script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` (a bench module's file) in a child process on ``db`` with ``args`` and
    ``--out FILE``, and read the JSON object it wrote there. The child's stdout goes to our
    stderr: a bench module's stdout carries only its one JSON object."""
    name = Path(script).stem
    out = db.var_dir / f"{name}-{args[0]}.json"
    proc = subprocess.run(
        [sys.executable, str(Path(script).resolve()), *args, "--out", str(out)],
        env=db.env(),
        cwd=REPO,
        stdout=sys.stderr,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench/{name}.py {args[0]} on {db.vendor} exited {proc.returncode}")
    made: dict[str, Any] = json.loads(out.read_text())
    return made


def on_each_engine(
    name: str, vendor: str, bench_one: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``bench_one(vendor)`` on SQLite and PostgreSQL (``vendor``: ``both`` or one of them),
    progress to stderr; PostgreSQL is skipped, with the reason, when it does not answer.
    Returns the results by engine and the skipped engines' reasons."""
    vendors = ["sqlite", "postgresql"] if vendor == "both" else [vendor]
    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    with contextlib.redirect_stdout(sys.stderr):
        for each in vendors:
            if each == "postgresql":
                why = pg_reachable()
                if why:
                    skipped[each] = why
                    say(f"  {name}: PostgreSQL skipped: {why}")
                    continue
            results[each] = bench_one(each)
    return results, skipped

"""The soak test (``make soak``): mixed load on two web processes and two workers (huey on
Redis) against one PostgreSQL, while a web process or a worker is SIGKILLed every 30 s and
started again, and Redis itself is SIGKILLed once, about half-way, and started again empty;
then what was accepted is counted back.

    LASTMILE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lm_x \\
        .venv/bin/python scripts/soak.py --duration 600 --port 8113

Loopback only. The database is a fresh one beside the given URL's (``<name>_soak``), created,
migrated and dropped by the script. Redis is the script's own ``redis-server`` child on
127.0.0.1 (port 6391, or a free one if that is taken), saving nothing (no RDB, no AOF), so
its restart loses every queued and scheduled task: the product must still lose nothing it
accepted, which lives in the database and is re-enqueued from there by the periodic runs.
A webhook receiver (a thread here, on the first web port + 2) takes the deliveries of a
subscription to the loops' escalations and breaches.

Load: Segment batches (each event's messageId), interaction batches (source ids), timeline and
loop-list reads, and loops opened due within seconds, which the sweep (enqueued every second by
a kicker, as each worker's scheduler does every minute) escalates and breaches, each rung an
outbox email to the team and a webhook delivery. Afterwards: accepted ids missing from the
database (lost), ids stored more than once (duplicated), loops with more than one rung event of
a kind, loops not swept, outbox messages and webhook deliveries due but not sent (stuck),
deliveries recorded as delivered that the receiver never got, and the error rate of accepted
requests (answers other than 2xx from a web process that accepted the connection).

Writes bench/SOAK.md and the soak_* keys of bench/results.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.project.fleet import Fleet, wait_for  # noqa: E402

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens or is bound there on 127.0.0.1, else a free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


class RedisChild:
    """The soak's own ``redis-server`` on loopback, saving nothing: a restart empties it."""

    def __init__(self, port: int, directory: Path, log: Path) -> None:
        self.port, self.directory, self.log = port, directory, log
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> None:
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        argv += ["--dir", str(self.directory)]
        with self.log.open("a") as log:
            log.write(f"--- start {self.starts + 1}\n")
            log.flush()
            self.proc = subprocess.Popen(
                argv,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited {self.proc.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server not answering on {self.port}; see {self.log}")
            time.sleep(0.02)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """One command's raw reply (enough for the integers and types read here)."""
        request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(request.encode())
            return s.recv(65536)

    def queued(self) -> int:
        """Items in the lists and sorted sets (huey's queue and schedule) right now."""
        total = 0
        for key in self._keys():
            kind = self.command("TYPE", key).strip().lstrip(b"+")
            if kind in (b"list", b"zset"):
                reply = self.command("LLEN" if kind == b"list" else "ZCARD", key)
                total += int(reply.strip().lstrip(b":") or 0)
        return total

    def _keys(self) -> list[str]:
        reply = self.command("KEYS", "*").split(b"\r\n")
        # *N, then $len / name pairs
        return [reply[i].decode() for i in range(2, len(reply), 2) if reply[i]]

    def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def restart(self, down: float) -> float:
        """SIGKILL it, wait ``down`` seconds, start it again on the same port; the seconds
        from the kill until it answers again."""
        killed = time.monotonic()
        self.kill()
        time.sleep(down)
        self.start()
        return time.monotonic() - killed

    def stop(self) -> None:
        self.kill()


class Receiver(ThreadingHTTPServer):
    """The webhook receiver: counts each ``X-Lastmile-Delivery`` it gets, answers 204."""

    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _ReceiverHandler)
        self.seen: Counter = Counter()
        self.lock = threading.Lock()


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.seen[self.headers.get("X-Lastmile-Delivery", "")] += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def plan(duration: float, kill_every: float, redis_at: float | None) -> list[tuple[float, str]]:
    """When, in seconds from the start, to kill a process ("kill") and restart Redis
    ("redis"): every ``kill_every`` s, and Redis once at ``redis_at``; none at or past the end."""
    steps = []
    k = 1
    while kill_every > 0 and k * kill_every < duration:
        steps.append((k * kill_every, "kill"))
        k += 1
    if redis_at is not None and 0 <= redis_at < duration:
        steps.append((redis_at, "redis"))
    return sorted(steps)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Load:
    """One client thread's mixed requests against the web processes, by turns."""

    def __init__(self, ports, token, write_key, customer_id, stop, seed) -> None:
        self.ports, self.token, self.write_key = ports, token, write_key
        self.customer_id, self.stop = customer_id, stop
        self.rng = random.Random(seed)
        self.session = requests.Session()
        self.accepted_sources: list[str] = []  # interaction source ids answered 200
        self.accepted_segment: list[str] = []  # Segment messageIds answered 200
        self.loops: list[int] = []
        self.served = 0
        self.errors: Counter = Counter()  # accepted connection, not 2xx
        self.refused: Counter = Counter()  # no connection (the process is down)
        self.latencies: list[float] = []
        self.n = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.n += 1
            port = self.ports[self.n % len(self.ports)]
            base = f"http://127.0.0.1:{port}"
            what = self.rng.choice(["segment", "batch", "batch", "read", "loop"])
            t0 = time.perf_counter()
            try:
                r, ok = self._one(what, base)
            except requests.RequestException as exc:
                self.refused[type(exc).__name__] += 1
                self.stop.wait(0.1)
                continue
            self.latencies.append(time.perf_counter() - t0)
            if 200 <= r.status_code < 300:
                self.served += 1
                ok()
            else:
                self.errors[f"{what} {r.status_code}: {r.text[:120]}"] += 1

    def _one(self, what, base):
        auth = {"Authorization": f"Bearer {self.token}"}
        now = datetime.now(UTC)
        if what == "segment":
            ids = [f"soak-{uuid.uuid4().hex}" for _ in range(20)]
            batch = [
                {
                    "type": "track",
                    "messageId": mid,
                    "userId": f"user-{self.rng.randrange(200)}",
                    "event": "Order Completed",
                    "timestamp": now.isoformat(),
                }
                for mid in ids
            ]
            r = self.session.post(
                f"{base}/v1/batch", json={"batch": batch}, auth=(self.write_key, ""), timeout=15
            )
            return r, lambda: self.accepted_segment.extend(ids)
        if what == "batch":
            ids = [f"soak-{uuid.uuid4().hex}" for _ in range(50)]
            items = [
                {
                    "source_id": sid,
                    "channel": "chat",
                    "direction": "inbound",
                    "occurred_at": now.isoformat(),
                    "customer": {"id": self.customer_id},
                    "body": "where is my order?",
                }
                for sid in ids
            ]
            r = self.session.post(
                f"{base}/api/v1/interactions/batch", json={"items": items}, headers=auth, timeout=15
            )
            return r, lambda: self.accepted_sources.extend(ids)
        if what == "read":
            path = self.rng.choice(
                [f"/api/v1/interactions?customer={self.customer_id}", "/api/v1/loops?team=front"]
            )
            r = self.session.get(f"{base}{path}", headers=auth, timeout=15)
            return r, lambda: None
        due = now + timedelta(seconds=self.rng.uniform(10, 30))
        r = self.session.post(
            f"{base}/api/v1/loops",
            json={
                "kind": "task",
                "title": "Soak call back",
                "customer": {"id": self.customer_id},
                "team": "front",
                "due_at": due.isoformat(),
            },
            headers=auth,
            timeout=15,
        )
        return r, lambda: self.loops.append(r.json()["id"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (max 600)")
    parser.add_argument("--kill-every", type=float, default=30)
    parser.add_argument(
        "--port", type=int, default=8113, help="first of two web ports; the webhook receiver +2"
    )
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument(
        "--redis-port", type=int, default=6391, help="the own redis-server's (a free one if taken)"
    )
    parser.add_argument(
        "--redis-at",
        type=float,
        default=None,
        help="seconds from the start to restart Redis (default: half-way between two kills "
        "about the middle); negative: never",
    )
    parser.add_argument(
        "--redis-down", type=float, default=5.0, help="seconds Redis stays down when restarted"
    )
    parser.add_argument(
        "--redis-backlog",
        type=float,
        default=5.0,
        help="seconds the workers are paused (SIGSTOP) before the Redis kill, so that tasks "
        "are queued in it when it dies; they go on (SIGCONT) once it is back",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write bench/ files")
    args = parser.parse_args()
    duration = min(args.duration, 600.0)
    if args.redis_at is None:
        middle = duration / 2
        if args.kill_every > 0:  # between two kills, so no process is starting meanwhile
            middle = (int(middle // args.kill_every) + 0.5) * args.kill_every
        args.redis_at = middle if middle < duration else duration / 2
    redis_at = args.redis_at if args.redis_at >= 0 else None
    base_url = os.environ.get("LASTMILE_DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        parser.error("LASTMILE_DATABASE_URL must name a PostgreSQL database")
    parsed = urlparse(base_url)
    db_name = f"{parsed.path.lstrip('/')}_soak"
    db_url = urlunparse(parsed._replace(path=f"/{db_name}"))
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    var_dir = Path(os.environ.get("LASTMILE_VAR_DIR", "/tmp/lastmile-soak")) / "soak"
    var_dir.mkdir(parents=True, exist_ok=True)
    for old in var_dir.glob("*.log"):  # this run's logs only
        old.unlink()

    import psycopg

    receiver = Receiver(args.port + 2)  # first: a port taken fails before anything exists
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    redis_dir = Path(tempfile.mkdtemp(prefix="redis-", dir=var_dir))
    redis = RedisChild(free_port(args.redis_port), redis_dir, var_dir / "redis.log")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    env = {
        **os.environ,
        "LASTMILE_DATABASE_URL": db_url,
        "LASTMILE_VAR_DIR": str(var_dir),
        "LASTMILE_QUEUE_URL": redis.url,
        "LASTMILE_QUEUE_NAME": "lastmile-soak",
        "LASTMILE_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        # The receiver is on loopback, which webhooks refuse unless allowed.
        "LASTMILE_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "lastmile.settings"
    fleet = Fleet(env=env, log_dir=var_dir)
    stop = threading.Event()
    rng = random.Random(args.seed)
    try:
        redis.start()
        print(f"soak: redis-server on 127.0.0.1:{redis.port}; migrating {db_name}", flush=True)
        subprocess.run(
            [sys.executable, "-m", "lastmile.cli", "migrate"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        import django

        django.setup()
        from django.db import connection

        from lastmile.api.services import token_create
        from lastmile.channels.models import OutboxMessage, OutboxStatus
        from lastmile.channels.segment import source_create
        from lastmile.customers.models import Customer, Interaction
        from lastmile.loops.models import Loop, LoopEvent, LoopEventKind
        from lastmile.people.models import Team
        from lastmile.webhooks.models import Delivery, DeliveryStatus
        from lastmile.webhooks.services.subscriptions import subscription_create

        now = datetime.now(UTC)
        Team.objects.create(name="Front office", slug="front", email="front@example.com")
        customer = Customer.objects.create(display_name="Soak customer", created_at=now)
        _, token = token_create(name="soak", now=now)
        _, write_key = source_create(name="soak", now=now)
        subscription_create(
            name="soak",
            url=f"http://127.0.0.1:{args.port + 2}/hook",
            events=["loop.escalated", "loop.breached"],
            now=now,
        )
        connection.close()

        webs = [fleet.add_web(f"web{n}", args.port + n) for n in (0, 1)]
        workers = [fleet.add_worker(f"worker{n}") for n in (1, 2)]
        fleet.add_kicker(interval=1.0)
        fleet.start_all()
        fleet.wait_ready(webs)
        loads = [
            Load([w.port for w in webs], token, write_key, customer.pk, stop, args.seed + i)
            for i in range(args.clients)
        ]
        threads = [threading.Thread(target=load.run, daemon=True) for load in loads]
        for t in threads:
            t.start()
        started = time.monotonic()
        kills = 0
        redis_restarts, redis_down, redis_dropped = 0, 0.0, 0
        for at, step in plan(duration, args.kill_every, redis_at):
            stop.wait(max(0.0, at - (time.monotonic() - started)))
            if step == "redis":
                paused = [w for w in workers if w.alive]
                for w in paused:
                    os.killpg(w.proc.pid, signal.SIGSTOP)
                stop.wait(args.redis_backlog)
                try:
                    redis_dropped = redis.queued()
                except OSError:
                    redis_dropped = -1
                killed = time.monotonic()
                try:
                    redis.kill()
                finally:  # the workers meet the dead Redis, as they would
                    for w in paused:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(w.proc.pid, signal.SIGCONT)
                stop.wait(args.redis_down)
                redis.start()
                redis_down = time.monotonic() - killed
                redis_restarts += 1
                print(
                    f"soak: {time.monotonic() - started:5.0f}s redis-server SIGKILLed with "
                    f"{redis_dropped} queued tasks, answering again after {redis_down:.1f} s",
                    flush=True,
                )
                continue
            victim = rng.choice(workers if kills % 2 == 0 else webs)
            fleet.kill(victim)
            fleet.start(victim)
            kills += 1
            print(f"soak: {time.monotonic() - started:5.0f}s killed {victim.name}", flush=True)
        stop.wait(max(0.0, duration - (time.monotonic() - started)))
        stop.set()
        for t in threads:
            t.join(timeout=30)
        elapsed = time.monotonic() - started

        def due_unsent() -> tuple[int, int]:
            at = datetime.now(UTC)
            return (
                OutboxMessage.objects.filter(
                    status=OutboxStatus.PENDING, next_attempt_at__lte=at
                ).count(),
                Delivery.objects.filter(
                    status=DeliveryStatus.PENDING, next_attempt_at__lte=at
                ).count(),
            )

        wait_for(
            lambda: (
                not Loop.objects.filter(kind="task", escalation_level__lt=2).exists()
                and due_unsent() == (0, 0)
            ),
            timeout=90,
            step=1,
        )

        sources = [s for load in loads for s in load.accepted_sources]
        segment_ids = [f"segment:{m}" for load in loads for m in load.accepted_segment]
        stored = Counter(
            Interaction.objects.filter(source_id__startswith="soak-").values_list(
                "source_id", flat=True
            )
        )
        stored_segment = Counter(
            Interaction.objects.filter(source_id__startswith="segment:soak-").values_list(
                "source_id", flat=True
            )
        )
        accepted_ids = sources + segment_ids
        lost = [s for s in sources if not stored[s]] + [
            s for s in segment_ids if not stored_segment[s]
        ]
        duplicated = [s for s, n in (stored + stored_segment).items() if n > 1]
        rungs = Counter(
            LoopEvent.objects.filter(
                kind__in=[LoopEventKind.ESCALATED, LoopEventKind.BREACHED]
            ).values_list("loop_id", "kind")
        )
        escalated_twice = sorted({loop for (loop, _), n in rungs.items() if n > 1})
        unswept = list(
            Loop.objects.filter(kind="task", escalation_level__lt=2).values_list("pk", flat=True)
        )
        outbox_stuck, webhooks_stuck = due_unsent()
        outbox = Counter(OutboxMessage.objects.values_list("status", flat=True))
        deliveries = Counter(Delivery.objects.values_list("status", flat=True))
        with receiver.lock:
            received = Counter(receiver.seen)
        delivered = [
            str(u)
            for u in Delivery.objects.filter(status=DeliveryStatus.DELIVERED).values_list(
                "uuid", flat=True
            )
        ]
        webhooks_missing = [u for u in delivered if not received[u]]
        served = sum(load.served for load in loads)
        errors = Counter()
        for load in loads:
            errors.update(load.errors)
        refused = Counter()
        for load in loads:
            refused.update(load.refused)
        answered = served + sum(errors.values())
        latencies = [x for load in loads for x in load.latencies]
        kicker_log = var_dir / "kicker.log"
        enqueue_failures = sum(
            line.startswith("kicker: ")
            for line in kicker_log.read_text(errors="replace").splitlines()
        )
        figures = {
            "soak_seconds": round(elapsed, 1),
            "soak_requests_served": served,
            "soak_accepted": len(accepted_ids),
            "soak_lost": len(lost),
            "soak_duplicated": len(duplicated),
            "soak_escalated_twice": len(escalated_twice),
            "soak_loops": sum(len(load.loops) for load in loads),
            "soak_loops_unswept": len(unswept),
            "soak_outbox": sum(outbox.values()),
            "soak_outbox_sent": outbox[OutboxStatus.SENT],
            "soak_outbox_failed": outbox[OutboxStatus.FAILED],
            "soak_outbox_stuck": outbox_stuck,
            "soak_webhooks": sum(deliveries.values()),
            "soak_webhooks_delivered": deliveries[DeliveryStatus.DELIVERED],
            "soak_webhooks_failed": deliveries[DeliveryStatus.FAILED],
            "soak_webhooks_stuck": webhooks_stuck,
            "soak_webhooks_missing": len(webhooks_missing),
            "soak_webhooks_repeated": sum(1 for n in received.values() if n > 1),
            "soak_error_rate": round(sum(errors.values()) / answered, 5) if answered else 0.0,
            "soak_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
            "soak_kills": kills,
            "soak_refused_while_down": sum(refused.values()),
            "soak_redis_restarts": redis_restarts,
            "soak_redis_down_s": round(redis_down, 1),
            "soak_redis_tasks_dropped": redis_dropped,
            "soak_enqueue_failures": enqueue_failures,
        }
        print(json.dumps(figures, indent=2))
        if errors:
            print("errors:", dict(errors.most_common(10)))
        bad = {
            "lost": lost,
            "duplicated": duplicated,
            "escalated twice": escalated_twice,
            "unswept": unswept,
            "webhooks missing": webhooks_missing,
        }
        if any(bad.values()):
            print(*(f"{k}: {v[:10]}" for k, v in bad.items()), sep="\n")
        if not args.no_write:
            _write(figures, args, errors)
        held = not any(bad.values()) and not any(
            figures[k]
            for k in (
                "soak_outbox_stuck",
                "soak_outbox_failed",
                "soak_webhooks_stuck",
                "soak_webhooks_failed",
            )
        )
        if not held:
            print(fleet.report())
        return 0 if held and figures["soak_error_rate"] < 0.001 else 1
    finally:
        stop.set()
        fleet.close()
        receiver.shutdown()
        receiver.server_close()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django never set up
            pass
        redis.stop()
        shutil.rmtree(redis_dir, ignore_errors=True)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def _write(figures: dict, args: argparse.Namespace, errors: Counter) -> None:
    results_path = ROOT / "bench" / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.update(figures)
    results_path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    command = (
        "LASTMILE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<db> "
        f".venv/bin/python scripts/soak.py --duration {args.duration:g} "
        f"--kill-every {args.kill_every:g} --clients {args.clients} --seed {args.seed} "
        f"--redis-down {args.redis_down:g} --redis-backlog {args.redis_backlog:g}"
    )
    restarted = figures["soak_redis_restarts"]
    redis_text = (
        [
            f"Redis (the script's own `redis-server`, saving nothing) was SIGKILLed once, at "
            f"{args.redis_at + args.redis_backlog:g} s,",
            f"the two workers paused (SIGSTOP) for the {args.redis_backlog:g} s before, so that "
            f"{figures['soak_redis_tasks_dropped']} tasks",
            "were queued in it and died with it (the workers going on at once); it was started",
            "again on the same port",
            f"after {args.redis_down:g} s: it answered again {figures['soak_redis_down_s']} s "
            f"after the kill, empty.",
            f"The kicker's enqueues failed {figures['soak_enqueue_failures']} times in the run "
            "(Redis down).",
        ]
        if restarted
        else ["Redis (the script's own `redis-server`) was not restarted."]
    )
    held = not any(
        figures[k]
        for k in (
            "soak_lost",
            "soak_duplicated",
            "soak_escalated_twice",
            "soak_loops_unswept",
            "soak_outbox_stuck",
            "soak_outbox_failed",
            "soak_webhooks_stuck",
            "soak_webhooks_failed",
            "soak_webhooks_missing",
        )
    )
    verdict = (
        [
            "Nothing accepted was lost or duplicated, and no loop, escalation email or webhook",
            "delivery was stuck (due and not done at the end)"
            + (", Redis restart included: the work is in" if restarted else "."),
            *(
                [
                    "the database, and the periodic runs (sweep, outbox, webhook deliveries)",
                    "enqueue it again from there.",
                ]
                if restarted
                else []
            ),
        ]
        if held
        else [
            "**Something was lost, duplicated or left behind** (the non-zero figures above);",
            "see the script's output for the ids.",
        ]
    )
    waiting = figures["soak_outbox"] - sum(
        figures[k] for k in ("soak_outbox_sent", "soak_outbox_failed", "soak_outbox_stuck")
    )
    if waiting:
        verdict += [
            "",
            f"{waiting} escalation emails were still pending at the end but not due: held under",
            "the outbox's 15-minute lease by a worker SIGKILLed mid-send (or waiting for a retry);",
            "after it they are sent, under the same key. Escalation emails are never capped.",
        ]
    lines = [
        "# Soak",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this 2-core machine (shared with",
        "other runs), with:",
        "",
        f"    {command}",
        "",
        "Two `lastmile serve` (1 gunicorn worker, 4 threads each) and two `lastmile worker`",
        "(huey on Redis) on one PostgreSQL; a web process or a worker SIGKILLed (its process",
        "group) and started again every "
        f"{args.kill_every:g} s, a worker and a web process by turns.",
        *redis_text,
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in figures.items()),
        "",
        "`soak_accepted`: interaction source ids and Segment messageIds answered 2xx;",
        "`soak_lost`: of those, not stored; `soak_duplicated`: stored more than once;",
        "`soak_error_rate`: non-2xx answers over all answers (a refused connection, while a",
        "process was down, is not an answer); `soak_p99_ms`: over all answers.",
        "`soak_outbox_*` (the escalation emails) and `soak_webhooks_*` (deliveries of",
        "`loop.escalated` and `loop.breached` to a receiver on loopback): `_stuck` is pending",
        "and due at the end (a message a killed worker held waits out its lease and is not",
        "counted); `soak_webhooks_missing`: recorded delivered but never received;",
        "`soak_webhooks_repeated`: received more than once (a worker killed mid-send; the",
        "receiver drops repeats by `X-Lastmile-Delivery`). `soak_redis_down_s`: from the",
        "SIGKILL until the new `redis-server` answered; `soak_redis_tasks_dropped`: items in",
        "huey's queue and schedule at the kill, lost with it; `soak_enqueue_failures`: the",
        "kicker's enqueues refused meanwhile.",
        "",
        *verdict,
        "",
        "The load: Segment batches of 20 events, interaction batches of 50, API reads (a",
        "customer's timeline, the team's loops) and loops due 10 to 30 s on, which the sweep",
        "escalates and breaches. A kicker process enqueues the sweep and both deliveries every",
        "second (what each worker's scheduler, running too, does every minute). Not in it:",
        "replies and console (HTML) reads.",
    ]
    if errors:
        lines += ["", "Errors seen:", "", *(f"- {n} × {e}" for e, n in errors.most_common(10))]
    (ROOT / "bench" / "SOAK.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

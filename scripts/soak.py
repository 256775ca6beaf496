"""The soak test (``make soak``): mixed load on two web processes and two workers (huey on
Redis) against one PostgreSQL, while a web process or a worker is SIGKILLed every 30 s and
started again; then what was accepted is counted back.

    LASTMILE_DATABASE_URL=postgres://postgres@127.0.0.1:5432/lm_x \\
        .venv/bin/python scripts/soak.py --duration 600 --port 8113

Loopback only. The database is a fresh one beside the given URL's (``<name>_soak``), created,
migrated and dropped by the script; the queue a unique name on redis://127.0.0.1:6379/15.
Load: Segment batches (each event's messageId), interaction batches (source ids), timeline and
loop-list reads, and loops opened due within seconds, which the sweep (enqueued every second by
a kicker, as each worker's scheduler does every minute) escalates and breaches. Afterwards:
accepted ids missing from the database (lost), ids stored more than once (duplicated), loops
with more than one rung event of a kind, and the error rate of accepted requests (answers
other than 2xx from a web process that accepted the connection). Redis is not restarted:
on this machine it is shared with other test runs.

Writes bench/SOAK.md and the soak_* keys of bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.project.fleet import Fleet, wait_for  # noqa: E402


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
    parser.add_argument("--port", type=int, default=8113, help="first of two web ports")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--no-write", action="store_true", help="do not write bench/ files")
    args = parser.parse_args()
    duration = min(args.duration, 600.0)
    base_url = os.environ.get("LASTMILE_DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        parser.error("LASTMILE_DATABASE_URL must name a PostgreSQL database")
    parsed = urlparse(base_url)
    db_name = f"{parsed.path.lstrip('/')}_soak"
    db_url = urlunparse(parsed._replace(path=f"/{db_name}"))
    admin_url = urlunparse(parsed._replace(path="/postgres"))
    var_dir = Path(os.environ.get("LASTMILE_VAR_DIR", "/tmp/lastmile-soak")) / "soak"
    var_dir.mkdir(parents=True, exist_ok=True)

    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        admin.execute(f'CREATE DATABASE "{db_name}"')
    env = {
        **os.environ,
        "LASTMILE_DATABASE_URL": db_url,
        "LASTMILE_VAR_DIR": str(var_dir),
        "LASTMILE_QUEUE_URL": "redis://127.0.0.1:6379/15",
        "LASTMILE_QUEUE_NAME": f"lastmile-soak-{uuid.uuid4().hex}",
        "LASTMILE_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "lastmile.settings"
    fleet = Fleet(env=env, log_dir=var_dir)
    stop = threading.Event()
    rng = random.Random(args.seed)
    try:
        print(f"soak: migrating {db_name}", flush=True)
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
        from lastmile.channels.segment import source_create
        from lastmile.customers.models import Customer, Interaction
        from lastmile.loops.models import Loop, LoopEvent, LoopEventKind
        from lastmile.people.models import Team

        now = datetime.now(UTC)
        Team.objects.create(name="Front office", slug="front", email="front@example.com")
        customer = Customer.objects.create(display_name="Soak customer", created_at=now)
        _, token = token_create(name="soak", now=now)
        _, write_key = source_create(name="soak", now=now)
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
        while time.monotonic() - started < duration:
            stop.wait(min(args.kill_every, duration - (time.monotonic() - started)))
            if time.monotonic() - started >= duration:
                break
            victim = rng.choice(workers if kills % 2 == 0 else webs)
            fleet.kill(victim)
            fleet.start(victim)
            kills += 1
            print(f"soak: {time.monotonic() - started:5.0f}s killed {victim.name}", flush=True)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        elapsed = time.monotonic() - started
        wait_for(
            lambda: not Loop.objects.filter(kind="task", escalation_level__lt=2).exists(),
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
        served = sum(load.served for load in loads)
        errors = Counter()
        for load in loads:
            errors.update(load.errors)
        refused = Counter()
        for load in loads:
            refused.update(load.refused)
        answered = served + sum(errors.values())
        latencies = [x for load in loads for x in load.latencies]
        figures = {
            "soak_seconds": round(elapsed, 1),
            "soak_requests_served": served,
            "soak_accepted": len(accepted_ids),
            "soak_lost": len(lost),
            "soak_duplicated": len(duplicated),
            "soak_escalated_twice": len(escalated_twice),
            "soak_loops": sum(len(load.loops) for load in loads),
            "soak_loops_unswept": len(unswept),
            "soak_error_rate": round(sum(errors.values()) / answered, 5) if answered else 0.0,
            "soak_p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
            "soak_kills": kills,
            "soak_refused_while_down": sum(refused.values()),
            "soak_redis_restarts": 0,
        }
        print(json.dumps(figures, indent=2))
        if errors:
            print("errors:", dict(errors.most_common(10)))
        if lost or duplicated or escalated_twice or unswept:
            print(
                "lost:",
                lost[:10],
                "duplicated:",
                duplicated[:10],
                "escalated twice:",
                escalated_twice[:10],
                "unswept:",
                unswept[:10],
            )
        if not args.no_write:
            _write(figures, args, errors)
        held = not (lost or duplicated or escalated_twice or unswept)
        return 0 if held and figures["soak_error_rate"] < 0.001 else 1
    finally:
        stop.set()
        fleet.close()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django never set up
            pass
        import redis

        client = redis.Redis.from_url(env["LASTMILE_QUEUE_URL"])
        for key in client.scan_iter(match=f"*{env['LASTMILE_QUEUE_NAME']}*"):
            client.delete(key)
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
        f"--kill-every {args.kill_every:g} --clients {args.clients} --seed {args.seed}"
    )
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
        f"{args.kill_every:g} s, a worker and a web process by turns. Redis was not restarted:",
        "it is shared with other test runs here.",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in figures.items()),
        "",
        "`soak_accepted`: interaction source ids and Segment messageIds answered 2xx;",
        "`soak_lost`: of those, not stored; `soak_duplicated`: stored more than once;",
        "`soak_error_rate`: non-2xx answers over all answers (a refused connection, while a",
        "process was down, is not an answer); `soak_p99_ms`: over all answers.",
        "",
        "The load: Segment batches of 20 events, interaction batches of 50, API reads (a",
        "customer's timeline, the team's loops) and loops due 10 to 30 s on, which the sweep",
        "escalates and breaches. Not in it: replies and console (HTML) reads; and Redis is not",
        "restarted (see above).",
    ]
    if errors:
        lines += ["", "Errors seen:", "", *(f"- {n} × {e}" for e, n in errors.most_common(10))]
    (ROOT / "bench" / "SOAK.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())

"""The soak script's own parts (scripts/soak.py): its plan of kills and the Redis restart,
its redis-server child (restarted empty on the same port) and its webhook receiver. The
soak itself is ``make soak``, minutes long, and not run here."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak_script", ROOT / "scripts" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak_script"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("soak_script", None)


def test_plan_kills_every_interval_and_restarts_redis_once(soak):
    steps = soak.plan(600, 30, 315)
    assert [at for at, what in steps if what == "redis"] == [315]
    kills = [at for at, what in steps if what == "kill"]
    assert kills == [30 * k for k in range(1, 20)]  # none at the end itself
    assert [at for at, _ in steps] == sorted(at for at, _ in steps)
    assert soak.plan(100, 30, None) == [(30, "kill"), (60, "kill"), (90, "kill")]
    assert "redis" not in {what for _, what in soak.plan(100, 30, 100)}


def test_free_port_moves_off_a_taken_one(soak):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = soak.free_port(port)
    assert other != port and other > 0


@pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server")
def test_redis_child_restarts_empty_on_the_same_port(soak, tmp_path):
    redis = soak.RedisChild(soak.free_port(6391), tmp_path, tmp_path / "redis.log")
    try:
        redis.start()
        assert redis.ping()
        redis.command("LPUSH", "huey.redis.x", "a")
        redis.command("LPUSH", "huey.redis.x", "b")
        redis.command("ZADD", "huey.schedule.x", "1", "c")
        redis.command("SET", "plain", "d")
        assert redis.queued() == 3  # the list's two and the schedule's one, not the string
        port = redis.port
        down = redis.restart(0.2)
        assert down >= 0.2
        assert redis.port == port and redis.ping()
        assert redis.queued() == 0  # nothing saved: the queue went with the process
        assert not list(tmp_path.glob("*.rdb"))
    finally:
        redis.stop()
    assert not redis.ping()


def test_receiver_counts_each_delivery_id(soak):
    receiver = soak.Receiver(soak.free_port(0))
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        for uid in ("a", "b", "a"):
            r = requests.post(url, data=b"{}", headers={"X-Lastmile-Delivery": uid}, timeout=5)
            assert r.status_code == 204
        assert receiver.seen == {"a": 2, "b": 1}
    finally:
        receiver.shutdown()
        receiver.server_close()

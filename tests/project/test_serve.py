"""Two ``lastmile serve`` processes on one machine: each answers on its own port, and each
gunicorn master has its own control socket under ``LASTMILE_VAR_DIR`` instead of sharing
gunicorn's default path (``~/.gunicorn/gunicorn.ctl`` from gunicorn 25.1 on), where the
second took the first one's over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from gunicorn.config import KNOWN_SETTINGS

from lastmile.cli import UNIX_PATH_MAX, _control_socket_args
from tests.net import free_port
from tests.project.fleet import Fleet

HAS_CONTROL_SOCKET = "control_socket" in {s.name for s in KNOWN_SETTINGS}


def _listeners(socket_path: Path) -> list[str]:
    from gunicorn.ctl.client import ControlClient

    with ControlClient(str(socket_path), timeout=10) as client:
        return [lnr["address"] for lnr in client.send_command("show listeners")["listeners"]]


def test_two_serve_processes_on_one_machine_both_answer_each_with_its_own_control_socket(
    tmp_path: Path,
):
    var, home = tmp_path / "var", tmp_path / "home"
    var.mkdir()
    home.mkdir()
    env = dict(os.environ, LASTMILE_VAR_DIR=str(var), HOME=str(home))
    env["LASTMILE_DATABASE_URL"] = f"sqlite:///{var}/db.sqlite3"
    fleet = Fleet(env=env, log_dir=tmp_path)
    webs = [fleet.add_web(f"web{n}", free_port(), threads=1) for n in (1, 2)]
    try:
        fleet.start_all()
        fleet.wait_ready(webs)
        for web in webs:
            r = requests.get(f"http://127.0.0.1:{web.port}/healthz", timeout=10)
            assert r.status_code == 200, f"{web.name}: {r.status_code}\n{fleet.report()}"
        if HAS_CONTROL_SOCKET:
            for web in webs:
                ctl = var / f"gunicorn-{web.port}.ctl"
                assert ctl.is_socket(), fleet.report()
                # what answers on it is this process: its one listener is its own port
                (listener,) = _listeners(ctl)
                assert listener.endswith(f"127.0.0.1:{web.port}"), fleet.report()
            assert not (home / ".gunicorn").exists()  # gunicorn's shared default is not used
        for web in webs:
            assert web.alive, f"{web.name} stopped:\n{fleet.report()}"
    finally:
        fleet.close()


@pytest.mark.skipif(not HAS_CONTROL_SOCKET, reason="this gunicorn has no control socket")
def test_a_var_dir_too_deep_for_a_socket_path_turns_the_control_socket_off(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert _control_socket_args(8000) == ["--control-socket", str(tmp_path / "gunicorn-8000.ctl")]
    settings.VAR_DIR = tmp_path / ("d" * UNIX_PATH_MAX)
    assert _control_socket_args(8000) == ["--no-control-socket"]

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from lastmile import settings as lm_settings


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("yes", True), ("off", False), ("", False)]
)
def test_envbool_reads_common_spellings(monkeypatch, raw, value):
    monkeypatch.setenv("LASTMILE_X", raw)
    assert lm_settings.envbool("LASTMILE_X", False) is value


def test_envbool_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("LASTMILE_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="LASTMILE_X"):
        lm_settings.envbool("LASTMILE_X", False)


def test_envint_fails_loudly_on_nonsense(monkeypatch):
    monkeypatch.setenv("LASTMILE_X", "ten")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        lm_settings.envint("LASTMILE_X", 1)


def test_the_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("LASTMILE_SECRET_KEY", raising=False)
    monkeypatch.setattr(lm_settings, "VAR_DIR", tmp_path)
    first = lm_settings._secret_key()
    assert len(first) > 40 and (tmp_path / "secret_key").read_text() == first
    assert lm_settings._secret_key() == first


def test_the_secret_key_comes_from_the_environment_when_set(monkeypatch):
    monkeypatch.setenv("LASTMILE_SECRET_KEY", "from-env")
    assert lm_settings._secret_key() == "from-env"


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000


def test_a_portal_upload_limit_over_the_body_limit_is_refused_at_start(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "LASTMILE_VAR_DIR": str(tmp_path),
        "LASTMILE_MAX_BODY_BYTES": str(5 * 1024 * 1024),
        "LASTMILE_PORTAL_UPLOAD_MAX_BYTES": str(6 * 1024 * 1024),
    }
    out = subprocess.run(
        [sys.executable, "-c", "import lastmile.settings"], env=env, capture_output=True, text=True
    )
    assert out.returncode != 0
    assert "LASTMILE_PORTAL_UPLOAD_MAX_BYTES=6291456 must stay" in out.stderr


def _import_settings(tmp_path, code: str, **env: str):  # type: ignore[no-untyped-def]
    """Import the settings in a fresh interpreter with these variables (others unset)."""
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k not in env and k != "LASTMILE_ALLOWED_HOSTS"}
    return subprocess.run(
        [sys.executable, "-c", f"import lastmile.settings as s; {code}"],
        env={**base, "LASTMILE_VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize(("raw", "value"), [("0", 0.0), ("0.25", 0.25), ("1", 1.0), ("", 0.5)])
def test_envfloat_reads_a_number_in_its_range(monkeypatch, raw, value):
    monkeypatch.setenv("LASTMILE_X", raw)
    assert lm_settings.envfloat("LASTMILE_X", 0.5, low=0, high=1) == value


@pytest.mark.parametrize(
    ("raw", "says"),
    [("high", "expected a number"), ("1.5", "between 0 and 1"), ("-0.1", "between")],
)
def test_envfloat_fails_loudly_on_nonsense(monkeypatch, raw, says):
    monkeypatch.setenv("LASTMILE_X", raw)
    with pytest.raises(ImproperlyConfigured, match=f"LASTMILE_X={raw!r}: .*{says}"):
        lm_settings.envfloat("LASTMILE_X", 0.5, low=0, high=1)


@pytest.mark.parametrize("raw", ["2", "nan", "half"])
def test_an_alert_sensitivity_out_of_range_stops_the_start(tmp_path, raw):
    out = _import_settings(tmp_path, "", LASTMILE_ALERT_SENSITIVITY=raw)
    assert out.returncode != 0
    assert f"ImproperlyConfigured: LASTMILE_ALERT_SENSITIVITY={raw!r}" in out.stderr


def test_allowed_hosts_default_to_the_loopback_names(tmp_path):
    out = _import_settings(tmp_path, "print(','.join(s.ALLOWED_HOSTS))")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "127.0.0.1,localhost,[::1]"
    out = _import_settings(
        tmp_path,
        "print(','.join(s.ALLOWED_HOSTS))",
        LASTMILE_ALLOWED_HOSTS=" a.example, b.example ",
    )
    assert out.stdout.strip() == "a.example,b.example"


@pytest.mark.django_db
def test_a_request_for_another_host_gets_400(client):
    assert client.get("/healthz", HTTP_HOST="evil.example").status_code == 400
    assert client.get("/healthz", HTTP_HOST="localhost:8000").status_code == 200
    assert client.get("/healthz", HTTP_HOST="[::1]:8000").status_code == 200


@pytest.mark.django_db
def test_the_test_clients_host_is_allowed_in_tests(client, settings):
    """pytest-django adds ``testserver`` to ALLOWED_HOSTS for the test client."""
    assert "testserver" in settings.ALLOWED_HOSTS
    assert client.get("/healthz").status_code == 200


HELPERS_MAY_READ = {"envbool", "envint", "envfloat", "envstr", "envlist", "envnetworks"}
HELPERS_MAY_READ |= {"_secret_key", "envproxies"}


def test_settings_read_the_environment_only_through_the_strict_helpers():
    """No ``os.environ[...]``, ``os.environ.get``, ``os.getenv``, ``int()`` or ``float()``
    outside the helpers: a variable parsed by hand gives a traceback, not a sentence."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(lm_settings.__file__).read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}

    def helper_of(node: ast.AST) -> str | None:
        while node in parents:
            node = parents[node]
            if isinstance(node, ast.FunctionDef):
                return node.name
        return None

    def is_environ(node: ast.AST) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "environ"
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        )

    bare = []
    for node in ast.walk(tree):
        reads = (
            (isinstance(node, ast.Subscript) and is_environ(node.value))
            or (isinstance(node, ast.Attribute) and node.attr == "get" and is_environ(node.value))
            or (isinstance(node, ast.Attribute) and node.attr == "getenv")
            or (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"int", "float"}
            )
        )
        if reads and helper_of(node) not in HELPERS_MAY_READ:
            bare.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert bare == []

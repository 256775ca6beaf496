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


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
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

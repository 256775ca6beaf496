"""The database markers are enforced by tests/conftest.py, not by each test: a test marked
`postgres_only` is skipped on SQLite (and `sqlite_only` on PostgreSQL) with the reason; one
marked `own_database` (it uses no database of the run) runs in the SQLite pass only."""

import pytest
from django.db import connection


@pytest.mark.postgres_only
def test_a_postgres_only_test_runs_only_on_postgresql():
    assert connection.vendor == "postgresql"


@pytest.mark.sqlite_only
def test_a_sqlite_only_test_runs_only_on_sqlite():
    assert connection.vendor == "sqlite"


@pytest.mark.own_database
def test_an_own_database_test_runs_in_the_sqlite_pass_only():
    assert connection.vendor == "sqlite"


# --- data beside the repository ------------------------------------------------------------


def test_shared_data_is_found_beside_the_repository_not_the_cwd(monkeypatch, tmp_path):
    from tests.conftest import REPO_ROOT, shared_data

    # CI's fresh clone has a copy of shared/ beside it: ../shared/data from the repository's
    # root, wherever pytest was started.
    monkeypatch.chdir(tmp_path)
    assert (REPO_ROOT / "pyproject.toml").exists()
    path = shared_data("tweeteval-sentiment/val_text.txt")
    assert path == REPO_ROOT.parent / "shared" / "data" / "tweeteval-sentiment" / "val_text.txt"
    assert path.is_file()


def test_missing_shared_data_skips_or_fails_under_lastmile_require_data(monkeypatch):
    from tests.conftest import shared_data

    monkeypatch.delenv("LASTMILE_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-such-set"):
        shared_data("no-such-set/file.txt")
    monkeypatch.setenv("LASTMILE_REQUIRE_DATA", "1")
    with pytest.raises(pytest.fail.Exception, match="LASTMILE_REQUIRE_DATA=1.*no-such-set"):
        shared_data("no-such-set/file.txt")

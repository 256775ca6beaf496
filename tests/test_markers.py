"""The database markers are enforced by tests/conftest.py, not by each test: a test marked
`postgres_only` is skipped on SQLite (and `sqlite_only` on PostgreSQL) with the reason."""

import pytest
from django.db import connection


@pytest.mark.postgres_only
def test_a_postgres_only_test_runs_only_on_postgresql():
    assert connection.vendor == "postgresql"


@pytest.mark.sqlite_only
def test_a_sqlite_only_test_runs_only_on_sqlite():
    assert connection.vendor == "sqlite"

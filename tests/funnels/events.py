"""Fixtures shared by the funnels' and recovery's tests (a plugin of tests/conftest.py):
Segment events recorded through the real ingest path, as the API records them, and an
analytics copy in a temporary directory. A test module's own fixture of the same name wins."""

from __future__ import annotations

import pytest

from lastmile.channels import segment
from lastmile.funnels.engines.duckdb import DuckDBEngine
from lastmile.funnels.services import analytics_copy


@pytest.fixture
def engine(tmp_path):
    return DuckDBEngine(tmp_path / "analytics", threads=1)


@pytest.fixture
def source(now):
    return segment.source_create(name="shop", now=now)[0]


@pytest.fixture
def send(source, now):
    """Record Segment messages as the API does, received at ``at`` (default: now)."""

    def send(*messages, at=None):
        at = at or now
        items = segment.request_parse(
            {"batch": list(messages)}, kind=None, received_at=at, source=source
        )
        return segment.events_record(items=items, now=at)

    return send


@pytest.fixture
def copy(engine):
    """Run the analytics copy as the worker does."""

    def copy(at):
        return analytics_copy(engine=engine, now=at)

    return copy

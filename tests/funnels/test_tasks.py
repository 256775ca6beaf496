"""The worker's analytics copy (``funnels.tasks``) and ``lastmile analytics-copy``: one copy
at a time, rows left to settle, each event copied once."""

from __future__ import annotations

import threading
from datetime import timedelta

import duckdb
import pytest
from click.testing import CliRunner
from django.db import connection

from lastmile.channels import segment
from lastmile.cli import main
from lastmile.core.clock import utcnow
from lastmile.funnels import services, tasks
from lastmile.funnels.engines.duckdb import DuckDBEngine
from lastmile.funnels.services import analytics_engine


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def send(count: int, *, at, name: str = "shop") -> list[int]:
    """``count`` track events through the Segment API's write path, recorded at ``at``."""
    source = segment.source_create(name=name, now=at)[0]
    batch = [
        {"type": "track", "event": "Product Added", "userId": f"u{i % 3}", "messageId": f"m{i}"}
        for i in range(count)
    ]
    items = segment.request_parse({"batch": batch}, kind=None, received_at=at, source=source)
    return segment.events_record(items=items, now=at)


def copied_ids(engine: DuckDBEngine) -> list[int]:
    files = [str(p) for _, _, p in engine.segments()]
    if not files:
        return []
    return [r[0] for r in duckdb.sql(f"SELECT event_id FROM read_parquet({files})").fetchall()]


@pytest.mark.django_db
def test_the_periodic_task_copies_the_new_events_and_logs_what_it_copied(var_dir, now, caplog):
    # given events recorded well before the worker's tick
    ids = send(4, at=now)

    # when the task runs (as the consumer would run it), twice
    with caplog.at_level("INFO", logger="lastmile.funnels.tasks"):
        tasks.copy_events.call_local()
        tasks.copy_events.call_local()

    # then the engine under the var dir holds each event once, and the log says so once
    assert sorted(copied_ids(analytics_engine())) == sorted(ids)
    assert [r.getMessage() for r in caplog.records] == [
        f"analytics copy: 4 events in 1 batches, up to event-store id {max(ids)}"
    ]


def test_the_task_runs_every_minute_on_the_worker():
    from huey.contrib.djhuey import HUEY

    # given the consumer's periodic tasks
    due = {t.name for t in HUEY.read_periodic(utcnow().replace(minute=7, second=0))}

    # then the copy is among those due at any minute
    assert any(name.endswith("copy_events") for name in due)


@pytest.mark.django_db
def test_rows_recorded_within_the_settle_time_wait_for_a_later_copy(var_dir, now):
    # given events recorded ten seconds before the copy
    ids = send(3, at=now)
    engine = analytics_engine()

    # when the worker copies then, and again once they are older than the settle time
    early = services.analytics_copy_locked(now=now + timedelta(seconds=10), engine=engine)
    late = services.analytics_copy_locked(
        now=now + timedelta(seconds=services.SETTLE_SECONDS + 1), engine=engine
    )

    # then the first copy left them, the second took them
    assert early is not None and early.events == 0
    assert late is not None and late.events == 3
    assert sorted(copied_ids(engine)) == sorted(ids)


@pytest.mark.django_db
def test_a_copy_finding_another_one_running_copies_nothing(var_dir, now):
    # given events and a copy in progress (holding the lock) when another starts
    send(5, at=now)
    engine = analytics_engine()
    seen = []

    def start_another(mark):
        seen.append(services.analytics_copy_locked(now=now, settle_seconds=0, engine=engine))

    # when the first copies in batches of two, trying a second copy after each batch
    report = services.analytics_copy_locked(
        now=now, settle_seconds=0, engine=engine, batch_size=2, after_batch=start_another
    )

    # then every second copy stood aside, and the lock is free again afterwards
    assert report is not None and report.events == 5
    assert seen == [None, None, None]
    with services.copy_lock(engine.directory, wait=False) as held:
        assert held


@pytest.mark.django_db(transaction=True)
def test_two_copies_started_together_copy_each_event_exactly_once(var_dir, now):
    # given 60 events and two workers' copies started at the same instant
    ids = send(60, at=now)
    engine = analytics_engine()
    start = threading.Barrier(2)
    reports: list = []
    batches: list[tuple[str, int]] = []

    def run(name: str) -> None:
        try:
            start.wait()
            reports.append(
                services.analytics_copy_locked(
                    now=now,
                    settle_seconds=0,
                    engine=DuckDBEngine(engine.directory, threads=1),
                    wait=True,
                    batch_size=7,
                    after_batch=lambda mark: batches.append((name, mark)),
                )
            )
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)

    # then one copied all 60 in batches nobody interleaved, the other found nothing left
    assert sorted(r.events for r in reports) == [0, 60]
    assert len({name for name, _ in batches}) == 1
    assert sorted(copied_ids(engine)) == sorted(ids)


def test_analytics_copy_has_help():
    result = CliRunner().invoke(main, ["analytics-copy", "--help"])
    assert result.exit_code == 0
    assert "Copy the new web and app events into the analytics engine now" in result.output
    assert "--settle-seconds" in result.output and "--no-wait" in result.output


@pytest.mark.django_db
def test_analytics_copy_command_copies_now_with_a_progress_bar(var_dir, now):
    # given events recorded at the test's now (long settled by the real clock)
    ids = send(6, at=now)

    # when an operator runs the command, then runs it again
    first = CliRunner().invoke(main, ["analytics-copy"])
    again = CliRunner().invoke(main, ["analytics-copy", "--quiet"])

    # then the first copies them all and says so, the second finds nothing new
    assert first.exit_code == 0, first.output
    assert "copying events" in first.stderr
    assert f"6 events copied in 1 batches; copied up to event-store id {max(ids)}" in first.stdout
    assert again.exit_code == 0 and again.stdout.startswith("0 events copied")
    assert sorted(copied_ids(analytics_engine())) == sorted(ids)


@pytest.mark.django_db
def test_analytics_copy_command_with_no_wait_fails_while_another_copy_runs(var_dir, now):
    send(2, at=now)
    with services.copy_lock(analytics_engine().directory, wait=True):
        result = CliRunner().invoke(main, ["analytics-copy", "--no-wait", "-q"])
    assert result.exit_code == 1
    assert "another copy is running; nothing copied" in result.output

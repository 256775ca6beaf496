"""The demo seed on a fresh database: deterministic, whatever day it is, and from the command.

Apart from tests/demo/test_seed_demo.py, whose demo is seeded once for the module and stays
open (in a transaction) until its last test: these seed their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import transaction

from lastmile.cases.models import Case
from lastmile.customers.models import Customer, Interaction
from lastmile.loops.models import LoopKind, LoopState
from tests.demo.test_seed_demo import bank_tasks, seed_quietly, story_case
from tests.demo_snapshot import (
    FAST_HASHER,
    FUNNEL_EVENTS,
    MIGRATION_SEEDS,
    NOW,
    demo_restore,
)

pytestmark = pytest.mark.django_db


# --- a fresh database ------------------------------------------------------------------------


def test_a_fresh_seed_stores_the_rows_of_the_runs_demo(demo_snapshot):
    # The run's demo (tests/demo_snapshot.py) was seeded earlier in the run, in another
    # transaction: seeded again with the same arguments, the rows are the same.
    def rows():
        return (
            list(Customer.objects.order_by("pk").values_list("display_name", flat=True)),
            list(
                # case__number last: two customers' same words at the same minute tie
                Interaction.objects.order_by(
                    "occurred_at", "channel", "body", "case__number"
                ).values_list("case__number", "body")
            ),
        )

    with transaction.atomic():
        before = transaction.savepoint()
        demo_restore(demo_snapshot)
        once = rows()
        transaction.savepoint_rollback(before)
        for seed in MIGRATION_SEEDS:  # as the snapshot's seed, in case a flush took them
            import_module(seed).seed(apps, None)
        seed_quietly(seed=7, customers=12, now=NOW, funnel_events=FUNNEL_EVENTS)
        again = rows()
        transaction.set_rollback(True)

    assert once == again and once[1]


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 11, 28, 23, 50, tzinfo=UTC),  # Saturday night
        datetime(2026, 12, 25, 10, 0, tzinfo=UTC),  # Christmas Day, then Boxing Day (observed)
        datetime(2027, 3, 29, 7, 5, tzinfo=UTC),  # Monday morning after the clocks go forward
    ],
    ids=["saturday-night", "christmas", "after-dst"],
)
def test_story_loop_states_hold_whatever_day_it_is(now, monkeypatch):
    # The core stories only: the apps' parts seed at any hour in their own tests.
    monkeypatch.setattr("lastmile.demo.seed.DEMO_EXTENSIONS", [])
    report, _ = seed_quietly(seed=42, customers=0, now=now)

    tasks = bank_tasks(report)
    rant = story_case(report, "rant").loops.get(kind=LoopKind.REPLY)
    visit = story_case(report, "visit").loops.get(kind=LoopKind.VISIT)
    assert tasks["back"].breached_at and tasks["back"].assignee.username == "back-lead"
    assert tasks["cards"].breached_at
    assert rant.state == LoopState.OPEN and rant.breached_at
    assert visit.state == LoopState.CLOSED and visit.closed_at < visit.due_at
    assert story_case(report, "visit").status == "solved"
    assert story_case(report, "hotel-membership").status == "closed"


def test_command_seeds_and_prints_the_summary(monkeypatch):
    # The core stories only (the run's demo seeds every part: tests/demo_snapshot.py)
    monkeypatch.setattr("lastmile.demo.seed.DEMO_EXTENSIONS", [])
    out = StringIO()

    with FAST_HASHER:
        call_command("seed_demo", seed=5, customers=2, stdout=out)

    assert "demo data seeded" in out.getvalue() and "stories:" in out.getvalue()
    assert Case.objects.filter(
        team__slug="back", subject__startswith="Current account opening"
    ).exists()

"""loops.0005 and loops.0006 written so that ``loops_loop`` stays open on a big installation
(``lastmile.core.migration_ops``): not atomic, the fill in batches, the indexes built
``CONCURRENTLY`` and the constraint added ``NOT VALID`` then validated on PostgreSQL. The end
state is the one the first, one-transaction forms made: the same values, indexes and
constraint (valid), on SQLite and PostgreSQL alike."""

from __future__ import annotations

import importlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, models, transaction
from django.test.utils import CaptureQueriesContext

from lastmile.core.migration_ops import AddConstraintNotValid
from lastmile.loops.services import AT_RISK_ALWAYS, at_risk_from
from tests.migrating import leaf_nodes, migrate

BEFORE = [("loops", "0004_loopevent_reassigned")]
M5 = "0005_loop_at_risk_at"
M6 = "0006_team_own_kinds_closed_indexes"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
INDEXES = {
    "loop_team_risk": ["team_id", "state", "at_risk_at"],
    "loop_team_breached": ["team_id", "state", "due_at"],
    "loop_assignee_closed": ["assignee_id", "closed_at"],
    "loop_team_closed": ["team_id", "closed_at"],
}
postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="CONCURRENTLY and NOT VALID are PostgreSQL's"
)


def module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"lastmile.loops.migrations.{name}")


@pytest.mark.django_db(transaction=True)
def test_upgrading_across_0005_and_0006_fills_every_open_loop_in_batches(monkeypatch) -> None:
    m5 = module(M5)
    monkeypatch.setattr(m5, "BATCH", 3)
    old = migrate(BEFORE, apps={"loops"})
    try:
        Team = old.get_model("people", "Team")
        Customer = old.get_model("customers", "Customer")
        Loop = old.get_model("loops", "Loop")
        team = Team.objects.create(name="Care", slug="care-online-migr")
        maya = Customer.objects.create(display_name="Maya", created_at=NOW)

        def loop(**kw):  # type: ignore[no-untyped-def]
            fields = {
                "customer": maya,
                "kind": "reply",
                "title": "a reply owed",
                "team": team,
                "opened_at": NOW,
                "clock_started_at": NOW,
                **kw,
            }
            return Loop.objects.create(**fields).pk

        expected: dict[int, datetime | None] = {}
        # Open with a deadline, not escalated: a quarter of the span before it, plus 1 µs.
        for hours in range(1, 9):
            due = NOW + timedelta(hours=hours, microseconds=hours)
            expected[loop(due_at=due)] = at_risk_from(opened_at=NOW, due_at=due, escalated=False)
        due = NOW + timedelta(hours=4)
        expected[loop(due_at=due)] = NOW + timedelta(hours=3, microseconds=1)
        # A deadline not after the opening: the deadline itself.
        expected[loop(due_at=NOW)] = NOW
        expected[loop(due_at=NOW - timedelta(hours=1))] = NOW - timedelta(hours=1)
        # Escalated, or breached: at risk whatever the time.
        expected[loop(due_at=due, escalation_level=1)] = AT_RISK_ALWAYS
        expected[loop(due_at=due - timedelta(hours=6), breached_at=NOW)] = AT_RISK_ALWAYS
        expected[loop(due_at=due, escalation_level=2, breached_at=NOW)] = AT_RISK_ALWAYS
        # No deadline, or finished: none.
        expected[loop()] = None
        expected[loop(escalation_level=1)] = None
        expected[loop(due_at=due, state="closed", closed_at=NOW)] = None
        expected[loop(due_at=due, state="cancelled", closed_at=NOW, escalation_level=1)] = None
        # A team's own loop (no customer), open with a deadline.
        expected[loop(customer=None, kind="ack", due_at=due)] = NOW + timedelta(
            hours=3, microseconds=1
        )
        fill = sum(1 for v in expected.values() if v is not None)
        assert fill == 15

        with CaptureQueriesContext(connection) as queries:
            new = migrate(leaf_nodes())
    finally:
        migrate(leaf_nodes())

    Loop = new.get_model("loops", "Loop")
    got = dict(Loop.objects.filter(pk__in=expected).values_list("pk", "at_risk_at"))
    assert got == expected
    # 15 loops 3 at a time: five batches, each one UPDATE statement run for its loops.
    updates = [q for q in queries.captured_queries if "SET at_risk_at" in q["sql"]]
    assert len(updates) == 5
    # and the upgrade over rows left the indexes and the constraint there and valid
    assert_indexes_and_constraint_valid()


@pytest.mark.django_db
def test_the_indexes_and_the_constraint_are_there_and_valid_after_the_upgrade() -> None:
    # The test database was built by running 0005 and 0006 (an upgrade from an empty
    # table); the upgrade of a database already at 0004, with rows, is checked the same
    # way at the end of the test above, which migrates back and forth anyway (a second
    # round trip here cost 15 s a pass).
    assert_indexes_and_constraint_valid()

    # The constraint holds: a loop without a customer is a team's own, never on show.
    from lastmile.loops.models import Loop
    from lastmile.people.models import Team

    team = Team.objects.create(name="Pay", slug="pay-online-migr")
    common = {"title": "t", "team": team, "opened_at": NOW, "clock_started_at": NOW}
    Loop.objects.create(kind="dispute", **common)
    with pytest.raises(IntegrityError), transaction.atomic():
        Loop.objects.create(kind="dispute", visible_to_customer=True, **common)


def assert_indexes_and_constraint_valid() -> None:
    """loops 0005's and 0006's indexes and constraint are there, on the columns they name,
    and on PostgreSQL valid and ready (built CONCURRENTLY, validated after NOT VALID)."""
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, "loops_loop")
    for name, columns in INDEXES.items():
        assert found[name]["index"] and found[name]["columns"] == columns, name
    assert found["loop_team_own"]["check"]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'loops_loop'::regclass AND conname = 'loop_team_own'"
            )
            [(_, validated, definition)] = cursor.fetchall()
            cursor.execute(
                "SELECT c.relname, i.indisvalid, i.indisready, pg_get_indexdef(i.indexrelid) "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = ANY(%s)",
                [list(INDEXES)],
            )
            indexes = {name: (valid, ready, d) for name, valid, ready, d in cursor.fetchall()}
        assert validated is True
        assert "'ack'" in definition and "'coaching'" in definition and "'dispute'" in definition
        assert all(valid and ready for valid, ready, _ in indexes.values()), indexes
        assert indexes["loop_team_breached"][2].endswith("WHERE (breached_at IS NOT NULL)")


def test_the_two_migrations_are_not_atomic() -> None:
    for name in (M5, M6):
        assert module(name).Migration.atomic is False, name
    fill = module(M5).Migration.operations[1]
    assert fill.atomic is False  # each batch its own transaction, none around them


@postgresql
@pytest.mark.django_db
def test_on_postgresql_the_indexes_build_concurrently_and_the_constraint_validates_apart() -> None:
    def sql(name: str) -> str:
        out = io.StringIO()
        call_command("sqlmigrate", "loops", name, stdout=out)
        return out.getvalue()

    m5, m6 = sql(M5), sql(M6)
    for text in (m5, m6):
        assert "BEGIN;" not in text
        assert "CREATE INDEX " not in text.replace("CREATE INDEX CONCURRENTLY", "")
    assert m5.count("CREATE INDEX CONCURRENTLY") == 2
    assert m6.count("CREATE INDEX CONCURRENTLY") == 2
    add = next(line for line in m6.splitlines() if "ADD CONSTRAINT" in line)
    assert add.endswith(" NOT VALID;")
    assert 'ALTER TABLE "loops_loop" VALIDATE CONSTRAINT "loop_team_own";' in m6
    # the old constraint goes right before the new one comes: no index build in between
    statements = [line for line in m6.splitlines() if line and not line.startswith("--")]
    drop = statements.index('ALTER TABLE "loops_loop" DROP CONSTRAINT "loop_team_own";')
    assert "ADD CONSTRAINT" in statements[drop + 1]


@postgresql
@pytest.mark.django_db
def test_add_constraint_not_valid_refuses_to_run_in_a_transaction() -> None:
    from django.apps import apps as global_apps
    from django.db.migrations.state import ProjectState

    op = AddConstraintNotValid(
        "loop", models.CheckConstraint(condition=models.Q(id__gt=0), name="loop_id_positive")
    )
    state = ProjectState.from_apps(global_apps)
    after = state.clone()
    op.state_forwards("loops", after)
    # the schema editor's own transaction, as an atomic migration's
    with pytest.raises(RuntimeError, match="atomic = False"), connection.schema_editor() as editor:
        op.database_forwards("loops", editor, state, after)


def test_add_constraint_not_valid_takes_only_check_constraints() -> None:
    with pytest.raises(TypeError, match="CheckConstraint"):
        AddConstraintNotValid(
            "loop", models.UniqueConstraint(fields=["title"], name="loop_title_unique")
        )

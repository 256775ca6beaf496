from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.core.db import rows_insert, rows_update

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def message(n: int, **kw) -> OutboxMessage:
    return OutboxMessage(
        key=f"k{n}",
        recipient=f"r{n}@example.com",
        created_at=NOW,
        next_attempt_at=NOW,
        data={"n": n, "nested": [1, "two"]},
        **kw,
    )


def test_rows_insert_stores_what_the_orm_would_read_back():
    rows_insert(OutboxMessage, [message(1), message(2)])
    got = OutboxMessage.objects.get(key="k2")
    assert got.created_at == NOW and got.data == {"n": 2, "nested": [1, "two"]}
    assert got.status == "pending" and got.attempts == 0 and got.sent_at is None


def test_rows_insert_can_skip_conflicting_rows():
    rows_insert(OutboxMessage, [message(1)])
    rows_insert(OutboxMessage, [message(1, subject="again"), message(3)], ignore_conflicts=True)
    assert sorted(OutboxMessage.objects.values_list("key", "subject")) == [("k1", ""), ("k3", "")]


def test_rows_insert_takes_plain_rows_and_fills_defaults():
    rows_insert(
        OutboxMessage,
        [
            {
                "key": "d1",
                "recipient": "x@example.com",
                "created_at": NOW,
                "next_attempt_at": NOW,
                "data": {"a": None},
            }
        ],
    )
    got = OutboxMessage.objects.get()
    assert (got.purpose, got.status, got.attempts, got.data) == (
        "notification",
        "pending",
        0,
        {"a": None},
    )


def test_rows_insert_returns_each_rows_key_also_after_the_newest_rows_were_deleted():
    from django.db import transaction

    with transaction.atomic():
        first = rows_insert(OutboxMessage, [message(1), message(2), message(3)], returning=True)
    OutboxMessage.objects.filter(pk__in=first[1:]).delete()
    with transaction.atomic():
        keys = rows_insert(OutboxMessage, [message(4), message(5)], returning=True)
    assert min(keys) > max(first)  # a deleted key is not handed out again
    assert dict(OutboxMessage.objects.values_list("pk", "key")) == {
        first[0]: "k1",
        keys[0]: "k4",
        keys[1]: "k5",
    }
    # With conflicts skipped, the keys of the rows inserted are read back instead.
    with transaction.atomic():
        kept = rows_insert(
            OutboxMessage, [message(5), message(6)], ignore_conflicts=True, returning=True
        )
    assert [OutboxMessage.objects.get(pk=k).key for k in kept] == ["k6"]


def test_rows_update_sets_fields_including_nulls():
    rows_insert(OutboxMessage, [message(n, sent_at=NOW) for n in range(7)])
    objs = list(OutboxMessage.objects.order_by("key"))
    for n, obj in enumerate(objs):
        obj.attempts = n
        obj.sent_at = None
    rows_update(OutboxMessage, objs, ["attempts", "sent_at"])
    assert list(OutboxMessage.objects.order_by("key").values_list("attempts", "sent_at")) == [
        (n, None) for n in range(7)
    ]


@pytest.mark.postgres_only
def test_postgresql_prepares_a_query_a_connection_runs_often():
    """Django turns psycopg's preparing off unless told: the settings prepare a query the
    second time a connection runs it, so PostgreSQL plans a page's queries once per
    connection, not at every request."""
    from django.db import connection

    from lastmile.people.models import Team

    for _ in range(2):
        list(Team.objects.filter(slug="prepared-probe"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"people_team"."slug" =%'],
        )
        (prepared,) = cursor.fetchone()
    assert prepared == 1


@pytest.mark.postgres_only
def test_custom_plans_holds_only_inside_its_block():
    from django.db import connection

    from lastmile.core.db import custom_plans

    def mode() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW plan_cache_mode")
            return cursor.fetchone()[0]

    with custom_plans():
        assert mode() == "force_custom_plan"
    assert mode() == "auto"


@pytest.mark.postgres_only
def test_unprepared_prepares_nothing_inside_its_block():
    from django.db import connection

    from lastmile.core.db import unprepared
    from lastmile.people.models import Team

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['%"people_team"."name" =%'],
            )
            return cursor.fetchone()[0]

    with unprepared():
        for _ in range(3):
            list(Team.objects.filter(name="unprepared-probe"))
    assert prepared() == 0
    for _ in range(2):
        list(Team.objects.filter(name="unprepared-probe"))
    assert prepared() == 1

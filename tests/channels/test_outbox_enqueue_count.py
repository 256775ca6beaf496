"""``outbox_enqueue`` counts what it queued from the one INSERT it sends: a key already
queued, or given twice in the batch, is not queued again nor counted."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_enqueue, outbox_message

pytestmark = pytest.mark.django_db

MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _messages(*keys: str) -> list[dict]:
    return [outbox_message(key=k, recipient=f"{k}@example.com", now=MON) for k in keys]


def test_the_count_is_what_was_new_in_one_statement():
    assert outbox_enqueue(_messages("a", "b")) == 2
    with CaptureQueriesContext(connection) as captured:
        new = outbox_enqueue(_messages("b", "c", "c", "d", "a"))
    assert new == 2
    touching = [q["sql"] for q in captured.captured_queries if "channels_outboxmessage" in q["sql"]]
    # No SELECT of the keys before it (SQLite's executemany is logged as "5 times: INSERT
    # …"; PostgreSQL's binary INSERT is not captured).
    statements = [re.sub(r"^\d+ times: ", "", sql) for sql in touching]
    assert not [sql for sql in statements if not sql.startswith("INSERT")], touching
    assert sorted(OutboxMessage.objects.values_list("key", flat=True)) == ["a", "b", "c", "d"]
    assert OutboxMessage.objects.get(key="c").recipient == "c@example.com"


def test_nothing_new_counts_nothing():
    outbox_enqueue(_messages("a"))
    assert outbox_enqueue(_messages("a", "a")) == 0
    assert outbox_enqueue([]) == 0

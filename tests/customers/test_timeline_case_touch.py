"""A message recorded on a case moves the case's "Updated" time (``cases_touch``), on every
write path: they all go through the timeline's one writer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.cases.models import Case
from lastmile.customers.services.timeline import (
    InteractionRow,
    interaction_record,
    interactions_write,
)
from tests.cases.factories import CaseFactory


@pytest.mark.django_db
@pytest.mark.parametrize("direction", ["inbound", "outbound", "note"])
def test_a_message_on_a_case_moves_its_updated_time(now, direction):
    # given a case last changed before now
    case = CaseFactory()
    assert case.updated_at < now

    # when a message (inbound, reply or note) is recorded on it
    interaction_record(
        customer=case.customer,
        case=case,
        channel="sms",
        direction=direction,
        occurred_at=now - timedelta(hours=1),
        now=now,
        body="Hello",
        customer_words=False,
    )

    # then the case was updated when the message was recorded
    case.refresh_from_db()
    assert case.updated_at == now


@pytest.mark.django_db
def test_a_message_never_moves_the_updated_time_back(now):
    later = now + timedelta(hours=2)
    case = CaseFactory(updated_at=later)

    interaction_record(
        customer=case.customer,
        case=case,
        channel="chat",
        direction="note",
        occurred_at=now,
        now=now,
    )

    case.refresh_from_db()
    assert case.updated_at == later


@pytest.mark.django_db
def test_a_batch_touches_its_cases_in_one_update(now):
    # given two cases and a third the batch does not name
    first, second, other = CaseFactory(), CaseFactory(), CaseFactory()
    rows = [
        InteractionRow(
            customer_id=case.customer_id,
            case_id=case.pk,
            channel="chat",
            direction="inbound",
            occurred_at=now,
            source_id=f"chat-{n}",
        )
        for n, case in enumerate([first, second, first])
    ]
    rows.append(
        InteractionRow(
            customer_id=other.customer_id, channel="chat", direction="inbound", occurred_at=now
        )
    )

    # when the batch is written
    with CaptureQueriesContext(connection) as queries:
        interactions_write(rows=rows, now=now)

    # then both cases are touched by one UPDATE, the other case not at all
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "cases_case"')]
    assert len(updates) == 1
    touched = dict(Case.objects.values_list("pk", "updated_at"))
    assert touched[first.pk] == touched[second.pk] == now
    assert touched[other.pk] < now


@pytest.mark.django_db
def test_a_message_stored_before_does_not_touch_the_case_again(now):
    case = CaseFactory()
    row = dict(customer_id=case.customer_id, case_id=case.pk, channel="sms", direction="inbound")
    interactions_write(rows=[InteractionRow(**row, occurred_at=now, source_id="m1")], now=now)

    later = now + timedelta(hours=1)
    with CaptureQueriesContext(connection) as queries:
        interactions_write(rows=[InteractionRow(**row, occurred_at=now, source_id="m1")], now=later)

    assert not [q for q in queries if q["sql"].startswith('UPDATE "cases_case"')]
    case.refresh_from_db()
    assert case.updated_at == now

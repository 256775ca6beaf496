"""The timeline's page is picked from the interactions alone, then joined: a customer with a
long history costs its page the page's rows, not the whole history joined and sorted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lastmile.customers.models import Direction, Interaction
from lastmile.customers.selectors import timeline
from lastmile.people.viewers import SYSTEM
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(customer, team, alice, now):
    """130 interactions, every third on a case, with pairs sharing an instant (the id
    breaks the tie)."""
    case = CaseFactory(customer=customer, team=team, subject="Long story")
    rows = [
        Interaction(
            customer=customer,
            case=case if i % 3 == 0 else None,
            channel="web",
            direction=Direction.INBOUND if i % 2 else Direction.OUTBOUND,
            occurred_at=now - timedelta(minutes=i // 2),
            recorded_at=now,
            actor=alice if i % 2 == 0 else None,
            body=f"message {i}",
        )
        for i in range(130)
    ]
    Interaction.objects.bulk_create(rows)
    return list(
        Interaction.objects.filter(customer=customer)
        .order_by("-occurred_at", "-id")
        .values_list("pk", flat=True)
    )


def test_pages_walk_the_whole_history_in_order(customer, history):
    seen: list[int] = []
    before = None
    pages = 0
    while True:
        page = timeline(customer=customer, viewer=SYSTEM, before=before, limit=50)
        seen += [row.pk for row in page.items]
        pages += 1
        if page.next is None:
            break
        before = page.next
    assert pages == 3
    assert seen == history


def test_page_joins_only_its_rows(customer, history, django_assert_max_num_queries):
    with CaptureQueriesContext(connection) as captured:
        page = timeline(customer=customer, viewer=SYSTEM, limit=50)
    [sql] = [q["sql"] for q in captured.captured_queries if "customers_interaction" in q["sql"]]
    # The join reads the page's ids from a limited subquery of the interactions.
    outer, _, inner = sql.partition(" IN (SELECT ")
    assert "cases_case" in outer and "auth_user" in outer
    assert inner and "cases_case" not in inner and "LIMIT 51" in inner
    # And what it loaded is what a page needs, with no query per row.
    with django_assert_max_num_queries(0):
        cases = [(row.case.team.name if row.case else None) for row in page.items]
        actors = [(row.actor.username if row.actor else None) for row in page.items]
    assert "Front office" in cases and "alice" in actors
    assert [row.pk for row in page.items] == history[:50]

"""A loop opened with a deadline of its own is explained by the reason given with it (a
visit: "the end of the window the customer chose (…)"), on the case page and in the API,
not by "deadline set when opened …"; without a reason it still says when it was set."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.loops.models import Loop
from lastmile.loops.selectors import loop_explain
from lastmile.loops.services import loop_open, loop_pause

pytestmark = pytest.mark.django_db

WHY = "due Mon 23 Nov 14:00 UTC: the end of the window the customer chose (Mon 23 Nov 12:00–14:00 UTC)"


def test_a_fixed_deadline_with_a_reason_is_explained_by_the_reason(customer, team, now):
    loop = loop_open(
        customer=customer,
        kind="visit",
        title="Visit",
        team=team,
        due_at=now + timedelta(hours=4),
        reason=WHY,
        now=now,
    )
    assert loop_explain(loop, now=now) == (
        "due Mon 23 Nov 14:00 UTC: the end of the window the customer chose "
        "(Mon 23 Nov 12:00–14:00 UTC)"
    )
    # read with its events prefetched, the same words
    fetched = Loop.objects.prefetch_related("events").get(pk=loop.pk)
    assert loop_explain(fetched, now=now) == loop_explain(loop, now=now)


def test_a_reason_that_does_not_say_when_follows_the_due_time(customer, team, now):
    loop = loop_open(
        customer=customer,
        kind="followup",
        title="Check",
        team=team,
        due_at=now + timedelta(days=2),
        reason="2 days after completion",
        now=now,
    )
    assert loop_explain(loop, now=now) == "due Wed 25 Nov 10:00 UTC: 2 days after completion"
    paused = loop_pause(loop=loop, reason="customer away", now=now + timedelta(hours=1))
    assert loop_explain(paused).endswith("; 2 days after completion")


def test_without_a_reason_it_says_when_the_deadline_was_set(customer, team, now):
    loop = loop_open(
        customer=customer,
        kind="task",
        title="x",
        team=team,
        due_at=now + timedelta(hours=1),
        now=now,
    )
    assert "deadline set when opened Mon 23 Nov 10:00 UTC" in loop_explain(loop, now=now)


def test_the_api_explains_a_visit_loop_by_its_window(client, customer, team, now):
    from lastmile.api.services import token_create
    from tests.api.client import Api

    loop = loop_open(
        customer=customer,
        kind="visit",
        title="Visit",
        team=team,
        due_at=now + timedelta(hours=4),
        reason=WHY,
        now=now,
    )
    api = Api(client, token_create(name="crm", now=now)[1])
    out = api.get(f"/loops/{loop.pk}").json()
    assert "the end of the window the customer chose" in out["explanation"]
    assert "deadline set when opened" not in out["explanation"]

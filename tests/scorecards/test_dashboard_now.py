"""The dashboard's open and overdue tiles are the snapshot the rollups took when they were
computed: the tile says when, and the list it links to is of that instant, so a loop
closed or opened since does not make the number and the list disagree."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.loops.services import loop_close, loop_open
from lastmile.scorecards.rollups import rollups_refresh
from tests.scorecards.test_dashboard import admin, tiles

pytestmark = pytest.mark.django_db


def test_the_now_tiles_and_their_lists_are_the_same_snapshot(client, team, customer, now):
    # given four open loops of the front office, two past their deadline, rolled up at now
    loops = [
        loop_open(
            customer=customer,
            kind="task",
            title=f"Open {n}",
            team=team,
            due_at=now + timedelta(hours=-2 if n < 2 else 2),
            now=now - timedelta(hours=3),
        )
        for n in range(4)
    ]
    rollups_refresh(now=now)
    # when, before the next refresh, one overdue loop is closed and another loop opened
    later = now + timedelta(minutes=5)
    loop_close(loop=loops[0], now=later)
    loop_open(customer=customer, kind="task", title="New", team=team, now=later)
    client.force_login(admin(None))
    with time_machine.travel(later + timedelta(minutes=1), tick=False):
        html = client.get("/scorecards/dashboard/").content.decode()
        front = tiles(html, "front")
        opened, overdue = front["open_loops"]["now"], front["overdue_loops"]["now"]
        # then each tile says when its snapshot was taken
        assert opened["when"] == overdue["when"] == f"At {now:%H:%M} UTC"
        assert (opened["value"], overdue["value"]) == ("4", "2")
        # and its list holds exactly the loops it counted, closed since or not
        for cell, n in ((opened, 4), (overdue, 2)):
            r = client.get(cell["link"])
            assert r.status_code == 200
            assert r.context["count"] == n and len(r.context["loops"]) == n
            assert "when the dashboard's figures were computed" in r.content.decode()
        listed = {lp.pk for lp in client.get(overdue["link"]).context["loops"]}
        assert listed == {loops[0].pk, loops[1].pk}

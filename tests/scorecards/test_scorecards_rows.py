"""The scorecard page's list of the rows behind a figure (``?rows=``): the solved cases of
first-contact resolution, the recoveries of revenue recovered, the promises made, kept or
broken; scoped like the scorecards; a bad figure is a 422 naming ``rows``; and the loops
drill-down leaves a team's own loops out when the link says ``team_own=false``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.loops.models import Loop
from lastmile.promises.models import Promise
from tests.cases.factories import CaseFactory
from tests.scorecards.rows_helpers import reply

pytestmark = pytest.mark.django_db


def test_the_promises_behind_a_count_are_listed(client, customer, team, alice, bob, now):
    made = [
        Promise.objects.create(
            customer=customer,
            text=f"call back {state}",
            channel="phone",
            team=team,
            made_by=who,
            made_by_name=who.username,
            made_at=now - timedelta(days=1),
            due_at=now,
            recorded_via="test",
            state=state,
        )
        for who, state in ((alice, "kept"), (alice, "broken"), (bob, "kept"))
    ]
    client.force_login(alice)
    html = client.get(
        "/scorecards/", {"period": "2026-11", "agent": "alice", "rows": "promises_kept"}
    ).content.decode()
    assert f'id="rows-promise-{made[0].pk}"' in html
    assert f'id="rows-promise-{made[1].pk}"' not in html
    assert f'id="rows-promise-{made[2].pk}"' not in html
    # the scorecard's cell links to that list
    assert "rows=promises_kept" in html


def test_an_agent_may_not_list_someone_elses_rows(client, alice, bob):
    client.force_login(alice)
    r = client.get("/scorecards/", {"period": "2026-11", "agent": "bob", "rows": "recovered"})
    assert r.status_code == 404


def test_an_unknown_figure_is_a_422_naming_rows(client, alice):
    client.force_login(alice)
    r = client.get("/scorecards/", {"agent": "alice", "rows": "loops_closed"})
    assert r.status_code == 422
    assert "rows" in r.content.decode()


def test_an_empty_list_says_so(client, alice):
    client.force_login(alice)
    html = client.get(
        "/scorecards/", {"period": "2026-11", "agent": "alice", "rows": "first_contact_resolution"}
    ).content.decode()
    assert 'id="rows-none"' in html


def test_first_contact_cases_are_marked(client, customer, team, alice, now):
    once = CaseFactory(customer=customer, team=team, assignee=alice, status="solved", solved_at=now)
    reply(once, now - timedelta(hours=1), alice)
    twice = CaseFactory(
        customer=customer, team=team, assignee=alice, status="solved", solved_at=now
    )
    reply(twice, now - timedelta(hours=2), alice)
    reply(twice, now - timedelta(hours=1), alice)
    client.force_login(alice)
    html = client.get(
        "/scorecards/", {"period": "2026-11", "agent": "alice", "rows": "first_contact_resolution"}
    ).content.decode()
    assert f'id="rows-case-{once.number}" data-first-contact="yes"' in html
    assert f'id="rows-case-{twice.number}" data-first-contact="no"' in html
    assert "50 % of 2" in html


def test_the_loops_drill_down_leaves_a_teams_own_loops_out(client, admin_user, customer, team, now):
    def loop(kind):  # type: ignore[no-untyped-def]
        return Loop.objects.create(
            customer=None if kind == "coaching" else customer,
            kind=kind,
            title=kind,
            team=team,
            state="closed",
            opened_at=now - timedelta(hours=2),
            clock_started_at=now - timedelta(hours=2),
            closed_at=now - timedelta(hours=1),
        )

    task, coaching = loop("task"), loop("coaching")
    client.force_login(admin_user)
    html = client.get("/scorecards/loops/", {"team": "front", "team_own": "false"}).content.decode()
    assert f'id="drill-loop-{task.pk}"' in html and f'id="drill-loop-{coaching.pk}"' not in html
    html = client.get("/scorecards/loops/", {"team": "front", "team_own": "true"}).content.decode()
    assert f'id="drill-loop-{task.pk}"' not in html and f'id="drill-loop-{coaching.pk}"' in html


def test_the_loops_api_leaves_a_teams_own_loops_out_as_the_links_ask(
    api, admin_user, customer, team, alice, now
):
    from lastmile.scorecards.selectors import loop_links, period_parse
    from tests.scorecards.test_scorecards_recount import follow

    for kind in ("task", "coaching"):
        Loop.objects.create(
            customer=None if kind == "coaching" else customer,
            kind=kind,
            title=kind,
            team=team,
            assignee=alice,
            state="closed",
            opened_at=now - timedelta(hours=2),
            clock_started_at=now - timedelta(hours=2),
            closed_at=now - timedelta(hours=1),
        )
    link = loop_links(period_parse("2026-11", now=now), assignee="alice")["loops_closed"]
    assert follow(api, link).json()["count"] == 1

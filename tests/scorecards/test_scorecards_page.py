"""The scorecard page (/scorecards/) and its drill-down (/scorecards/loops/): an agent's own
scorecard, a lead's teams', each number beside its definition and linked to its loops."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.html import escape

from lastmile.loops.services import loop_close, loop_open
from lastmile.scorecards.selectors import METRICS
from tests.people.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(customer, team, alice, bob, now):  # type: ignore[no-untyped-def]
    """Alice closed two loops on 23 November, bob one."""
    out = []
    for who in (alice, alice, bob):
        loop = loop_open(
            customer=customer,
            kind="task",
            title=f"For {who.username}",
            team=team,
            assignee=who,
            due_at=now + timedelta(hours=2),
            now=now,
        )
        out.append(loop_close(loop=loop, now=now + timedelta(hours=1)))
    return out


def test_an_agent_sees_their_own_scorecard_with_every_definition(client, alice, bob, closed):
    client.force_login(alice)
    r = client.get("/scorecards/", {"period": "2026-11"})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="agent-alice"' in html and 'id="agent-bob"' not in html
    assert "Your scorecard" in html
    for name, text in METRICS.items():
        assert f'id="def-{name}"' in html and escape(text) in html
    rows = r.context["agents"]
    assert [c["shown"] for c in rows[0]["cells"] if c["name"] == "loops_closed"] == ["2"]
    # and each column's heading carries its definition, read where the number is
    heading = f'<a href="#def-on_time_rate" title="{escape(METRICS["on_time_rate"])}">'
    assert heading in html


def test_a_count_links_to_the_page_of_exactly_its_loops(client, alice, closed):
    client.force_login(alice)
    cells = client.get("/scorecards/", {"period": "2026-11"}).context["agents"][0]["cells"]
    link = next(c["link"] for c in cells if c["name"] == "loops_closed")
    assert link.startswith("/scorecards/loops/?assignee=alice&state=closed&closed_after=")
    r = client.get(link)
    assert r.status_code == 200
    assert sorted(lp.pk for lp in r.context["loops"]) == sorted(lp.pk for lp in closed[:2])
    assert "/api/v1/loops?assignee=alice&amp;state=closed" in r.content.decode()


def test_a_lead_sees_the_team_and_its_agents(client, lena, alice, bob, closed):
    client.force_login(lena)
    html = client.get("/scorecards/", {"period": "2026-11"}).content.decode()
    assert 'id="agent-alice"' in html and 'id="agent-bob"' in html and 'id="team-front"' in html


def test_an_admin_of_no_team_sees_every_agent_row_but_not_their_own(
    client, admin_user, alice, charlie
):
    client.force_login(admin_user)
    html = client.get("/scorecards/", {"period": "2026-11"}).content.decode()
    assert 'id="agent-alice"' in html and 'id="agent-charlie"' in html
    assert 'id="agent-boss"' not in html


def test_a_user_without_an_agent_profile_gets_the_empty_state(client, db):
    client.force_login(UserFactory(username="visitor"))
    r = client.get("/scorecards/")
    assert r.status_code == 200
    assert 'id="scorecards-empty"' in r.content.decode()


def test_a_quiet_period_says_its_zeros_are_zeros(client, alice, closed):
    client.force_login(alice)
    html = client.get("/scorecards/", {"period": "2026-10"}).content.decode()
    assert 'id="scorecards-nothing"' in html


def test_a_bad_period_is_said_on_the_page_with_422(client, alice):
    client.force_login(alice)
    r = client.get("/scorecards/", {"period": "2026-13"})
    assert r.status_code == 422
    assert "bad period" in r.content.decode()


def test_the_drill_down_of_an_agent_an_outsider_may_not_see_is_a_404(client, charlie, closed):
    client.force_login(charlie)
    r = client.get("/scorecards/loops/", {"assignee": "alice", "state": "closed"})
    assert r.status_code == 404 and r.context["loops"] == []


def test_the_drill_down_of_a_team_an_outsider_may_not_see_is_a_404(
    client, charlie, alice, team, closed
):
    # given charlie works in another team than alice's
    client.force_login(charlie)
    r = client.get("/scorecards/loops/", {"team": team.slug, "state": "closed"})
    assert r.status_code == 404 and r.context["loops"] == []
    # and alice's team lists its loops to alice
    client.force_login(alice)
    r = client.get("/scorecards/loops/", {"team": team.slug, "state": "closed"})
    assert r.status_code == 200 and r.context["count"] == 3


def test_a_bad_drill_down_instant_is_a_422(client, alice):
    client.force_login(alice)
    r = client.get("/scorecards/loops/", {"closed_after": "yesterday"})
    assert r.status_code == 422


def test_the_pages_need_a_login(client, db):
    assert client.get("/scorecards/").status_code == 302
    assert client.get("/scorecards/loops/").status_code == 302


def test_an_app_above_adds_a_panel_that_sees_the_viewer_and_the_cards(
    client, alice, closed, settings, tmp_path
):  # type: ignore[no-untyped-def]
    from lastmile.scorecards import panels

    (tmp_path / "panel.html").write_text('<p id="a-panel">{{ panel.who }}: {{ panel.agents }}</p>')
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0].get("DIRS", []), tmp_path]}
    ]

    def shown(viewer, cards):  # type: ignore[no-untyped-def]
        return panels.Panel("panel.html", {"who": viewer.username, "agents": len(cards.agents)})

    panels.panel_register("test-shown", shown)
    panels.panel_register("test-hidden", lambda viewer, cards: None)
    try:
        client.force_login(alice)
        html = client.get("/scorecards/", {"period": "2026-11"}).content.decode()
        assert '<p id="a-panel">alice: 1</p>' in html
    finally:
        panels._PANELS.pop("test-shown")
        panels._PANELS.pop("test-hidden")

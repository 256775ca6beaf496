"""The dashboard (/scorecards/dashboard/): each team the viewer may see, this week's figures
as tiles linked to the loops behind them, thirteen weeks of trend as charts with their
tables, the worsening teams named by a written rule, and how fresh the figures are."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from lastmile.customers.models import Customer
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_open
from lastmile.scorecards.models import TeamWeekRollup
from lastmile.scorecards.rollups import (
    TREND_POINTS,
    rollups_rebuild,
    week_of,
    week_start,
)
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.people.factories import UserFactory, team_lead

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def closed_loops(team, week, *, on_time, late, assignee=None):  # type: ignore[no-untyped-def]
    """Customers' loops of ``team`` (and ``assignee``) closed on the Tuesday of ``week``:
    ``on_time`` before their deadline, ``late`` after it (and marked breached)."""
    at = week_start(week) + timedelta(days=1, hours=12)
    customer = Customer.objects.first() or CustomerFactory()
    rows = []
    for i in range(on_time + late):
        is_late = i >= on_time
        due = at - timedelta(hours=2) if is_late else at + timedelta(hours=2)
        rows.append(
            Loop(
                kind="task",
                customer=customer,
                title="closed",
                team=team,
                assignee=assignee,
                state="closed",
                opened_at=at - timedelta(days=1),
                clock_started_at=at - timedelta(days=1),
                closed_at=at,
                due_at=due,
                breached_at=due if is_late else None,
            )
        )
    Loop.objects.bulk_create(rows)


@pytest.fixture
def history(team, other_team, now):  # type: ignore[no-untyped-def]
    """Eight complete weeks: the front office slipping (all on time, then half late), the
    back office steady; rolled up at ``now``."""
    this = week_of(now)
    for i in range(1, 9):
        week = this - timedelta(weeks=i)
        recent = i <= 4
        closed_loops(team, week, on_time=5 if recent else 10, late=5 if recent else 0)
        closed_loops(other_team, week, on_time=9, late=1)
    rollups_rebuild(now=now)


@pytest.fixture
def open_now(customer, team, alice, now):  # type: ignore[no-untyped-def]
    """Two open loops of the front office, one three hours overdue; then rolled up."""
    late = loop_open(
        customer=customer,
        kind="task",
        title="Late one",
        team=team,
        assignee=alice,
        due_at=now - timedelta(hours=3),
        now=now - timedelta(hours=5),
    )
    fresh = loop_open(
        customer=customer,
        kind="task",
        title="Fresh one",
        team=team,
        assignee=alice,
        due_at=now + timedelta(hours=3),
        now=now - timedelta(hours=1),
    )
    rollups_rebuild(now=now)
    return late, fresh


CELL = re.compile(
    r'<div class="dashboard-tile-cell" data-when="(\w+)"(?: data-unavailable="true")?>'
    r'<a href="([^"]+)">\s*'
    r'<span class="dashboard-tile-when small muted">([^<]*)</span>\s*'
    r'<span class="dashboard-tile-value">([^<]*)</span>\s*'
    r'<span class="dashboard-tile-note small muted">([^<]*)</span>'
)


def tiles(html, team):  # type: ignore[no-untyped-def]
    """The tiles of ``team``'s section (a slug, or "none"): {figure: {when: cell}}, each
    cell {"link", "when", "value", "note"}."""
    section = re.search(rf'id="team-{team}".*?</ul>', html, re.S).group(0)
    out = {}
    for name, body in re.findall(
        r'data-figure="(\w+)">(.*?)</li>\s*(?=<li class="dashboard-tile|</ul>)', section, re.S
    ):
        out[name] = {
            key: {
                "link": link.replace("&amp;", "&"),
                "when": when,
                "value": value,
                "note": note.replace("&#x27;", "'"),
            }
            for key, link, when, value, note in CELL.findall(body)
        }
    return out


def admin(db):  # type: ignore[no-untyped-def]
    from tests.people.factories import AgentFactory

    return AgentFactory(user__username="ceo", role="admin").user


def test_an_admin_sees_every_team_with_thirteen_weeks_and_the_freshness(
    client, team, other_team, history, now
):
    client.force_login(admin(None))
    r = client.get("/scorecards/dashboard/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="team-front"' in html and 'id="team-back"' in html
    assert f"Figures as of {now:%H:%M} UTC (recomputed every 10 minutes); computed" in html
    # every chart has a table of its thirteen weeks
    for chart in ("loops", "rates", "customers", "lateness"):
        table = re.search(rf'id="chart-front-{chart}-table".*?</table>', html, re.S)
        assert table is not None, chart
        assert table.group(0).count('<th scope="row">') == 13
    # the charts' data is embedded as JSON, and no script is inline
    data = json.loads(
        re.search(
            r'<script id="dashboard-charts" type="application/json">(.*?)</script>', html, re.S
        ).group(1)
    )
    assert {c["id"] for c in data} >= {"chart-front-rates", "chart-back-rates"}
    rates = next(c for c in data if c["id"] == "chart-front-rates")
    on_time = rates["series"][0]["data"]
    assert on_time[-9:-5] == [100.0] * 4 and on_time[-5:-1] == [50.0] * 4
    assert on_time[-1] is None  # nothing closed this week yet
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_the_slipping_team_is_flagged_worsening_and_the_rule_is_written(
    client, team, other_team, history
):
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="worsening-front"' in html
    assert "on-time rate 100.0 % → 50.0 %" in html
    assert "breach rate 0.0 % → 50.0 %" in html
    assert 'id="worsening-back"' not in html
    assert f"at least {TREND_POINTS} points lower" in html
    front = re.search(r'<section class="dashboard-team" id="team-front".*?</h2>', html, re.S)
    back = re.search(r'<section class="dashboard-team" id="team-back".*?</h2>', html, re.S)
    assert 'data-worsening="true"' in front.group(0)
    assert 'data-worsening="true"' not in back.group(0)


def test_a_lead_sees_their_team_only_and_its_tiles_lead_to_the_loops(
    client, team, other_team, open_now, now
):
    lena = team_lead(team, "lena")
    client.force_login(lena)
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="team-front"' in html and 'id="team-back"' not in html
    front = tiles(html, "front")
    tile, overdue = front["open_loops"]["now"], front["overdue_loops"]["now"]
    assert tile["value"] == "2"
    assert overdue["value"] == "1"
    assert "mean 3.0 h, 95th percentile 3.0 h late" in overdue["note"]

    # the tiles' links list exactly the loops they count
    late, fresh = open_now
    opened = client.get(tile["link"]).content.decode()
    assert f'id="drill-loop-{late.pk}"' in opened and f'id="drill-loop-{fresh.pk}"' in opened
    due = client.get(overdue["link"]).content.decode()
    assert f'id="drill-loop-{late.pk}"' in due and f'id="drill-loop-{fresh.pk}"' not in due


def test_an_agent_sees_their_teams(client, team, other_team, charlie, history):
    client.force_login(charlie)
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="team-back"' in html and 'id="team-front"' not in html


def test_someone_without_a_team_sees_an_empty_state(client, team, history):
    client.force_login(UserFactory(username="visitor"))
    r = client.get("/scorecards/dashboard/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="dashboard-empty"' in html and 'id="team-front"' not in html


def test_before_the_first_rollup_the_page_says_so(client, team):
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="dashboard-nofigures"' in html
    assert "not computed yet" in html
    assert not TeamWeekRollup.objects.exists()


def test_signing_in_is_required(client):
    r = client.get("/scorecards/dashboard/")
    assert r.status_code == 302 and "login" in r["Location"]


def test_the_page_reads_the_rollups_in_as_many_queries_whatever_the_teams(
    client, team, other_team, history, now
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.people.factories import TeamFactory

    client.force_login(admin(None))
    with CaptureQueriesContext(connection) as two:
        assert client.get("/scorecards/dashboard/").status_code == 200
    for i in range(4):
        closed_loops(
            TeamFactory(slug=f"t{i}"), week_of(now) - timedelta(weeks=1), on_time=3, late=1
        )
    rollups_rebuild(now=now)
    with CaptureQueriesContext(connection) as six:
        html = client.get("/scorecards/dashboard/").content.decode()
    assert html.count('class="dashboard-team"') == 6
    assert len(six.captured_queries) == len(two.captured_queries)


@pytest.fixture
def agents_history(team, other_team, alice, bob, charlie, now):  # type: ignore[no-untyped-def]
    """Eight complete weeks: alice slipping (all on time, then half late), bob steady in the
    same team, charlie slipping in the back office; rolled up at ``now``."""
    this = week_of(now)
    for i in range(1, 9):
        week = this - timedelta(weeks=i)
        recent = i <= 4
        closed_loops(
            team, week, on_time=3 if recent else 6, late=3 if recent else 0, assignee=alice
        )
        closed_loops(team, week, on_time=6, late=0, assignee=bob)
        closed_loops(
            other_team, week, on_time=3 if recent else 6, late=3 if recent else 0, assignee=charlie
        )
    rollups_rebuild(now=now)


def test_the_worsening_agents_are_named_with_links_to_their_scorecard_and_breaches(
    client, team, other_team, alice, bob, charlie, agents_history, now
):
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    section = re.search(r'id="worsening-agents">.*?</ul>', html, re.S).group(0)
    assert 'id="worsening-agent-alice"' in section and 'id="worsening-agent-charlie"' in section
    assert 'id="worsening-agent-bob"' not in section
    assert "on-time rate 100.0 % → 50.0 %" in section
    # the links: her scorecard for the four weeks judged, and her breached loops of them
    links = re.findall(
        r'href="([^"]+)"', re.search(r'id="worsening-agent-alice">.*?</li>', section).group(0)
    )
    card, breaches = (u.replace("&amp;", "&") for u in links)
    assert card.startswith("/scorecards/?period=") and "agent=alice" in card
    r = client.get(card)
    assert r.status_code == 200 and 'id="agent-alice"' in r.content.decode()
    # (the scorecard's own list: breaches by who held the loop when it breached)
    assert "rows=breaches" in breaches and "agent=alice" in breaches
    listed = client.get(breaches).content.decode()
    assert listed.count('id="rows-loop-') == 12  # three late loops a week for four weeks


def test_a_lead_sees_only_their_teams_worsening_agents_and_an_agent_only_themselves(
    client, team, other_team, alice, bob, charlie, agents_history
):
    client.force_login(team_lead(team, "lena"))
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="worsening-agent-alice"' in html and 'id="worsening-agent-charlie"' not in html
    client.force_login(bob)
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="worsening-agent-alice"' not in html and 'id="worsening-agents-none"' in html
    client.force_login(charlie)
    html = client.get("/scorecards/dashboard/").content.decode()
    assert 'id="worsening-agent-charlie"' in html


def test_the_new_tiles_show_this_weeks_figures_and_lead_to_their_rows(
    client, team, alice, customer, now
):
    from lastmile.listening.models import WatchTerm
    from tests.scorecards.rows_helpers import recovery, recovery_rule, reply
    from tests.scorecards.test_rollups_more import alert

    # given this week: two solved cases of the front office, one at first contact; a cart
    # recovered for 129.50 EUR and one lost; six alerts
    case = CaseFactory(
        customer=customer,
        team=team,
        assignee=alice,
        status="solved",
        solved_at=now - timedelta(minutes=5),
    )
    reply(case, now - timedelta(hours=1), alice)
    other = CaseFactory(
        customer=customer, team=team, status="solved", solved_at=now - timedelta(minutes=5)
    )
    rule = recovery_rule(team, now)
    for outcome, revenue in (("recovered", "129.50"), ("lost", None)):
        loop = Loop.objects.create(
            customer=CustomerFactory(),
            kind="recovery",
            title="Cart",
            team=team,
            state="closed",
            opened_at=now - timedelta(hours=3),
            clock_started_at=now - timedelta(hours=3),
            closed_at=now - timedelta(hours=1),
        )
        recovery(
            rule,
            loop,
            outcome=outcome,
            closed_at=now - timedelta(hours=1),
            revenue=revenue,
            currency="EUR",
        )
    term = WatchTerm.objects.create(name="Acme", query="acme", kind="brand", created_at=now)
    alerts = [alert(term, team, now - timedelta(minutes=i + 1), 10 * i) for i in range(6)]
    rollups_rebuild(now=now)

    # when the admin opens the dashboard
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()

    now_ = tiles(html, "front")

    def tile(name):  # type: ignore[no-untyped-def]
        cell = now_[name]["current"]
        return f"{cell['value']} {cell['note']}"

    assert "50.0 %" in tile("first_contact_resolution") and "1 of 2 solved" in tile(
        "first_contact_resolution"
    )
    assert "50.0 %" in tile("recovery_rate") and "1 won back, 1 lost" in tile("recovery_rate")
    assert "129.50 EUR" in tile("revenue_recovered")
    # the loudest five alerts, loudest first, each a link to its room
    listed = re.findall(r'id="alert-(\d+)"><a href="/alerts/(\d+)/"', html)
    assert [int(a) for a, _ in listed] == [a.pk for a in reversed(alerts[1:])]
    # and the tiles lead to the rows they count
    rows = client.get(now_["first_contact_resolution"]["current"]["link"]).content.decode()
    assert f'id="rows-case-{case.number}" data-first-contact="yes"' in rows
    assert f'id="rows-case-{other.number}" data-first-contact="no"' in rows
    revenue = now_["revenue_recovered"]["current"]["link"]
    assert client.get(revenue).content.decode().count('id="rows-recovery-') == 1
    # and each chart has its table, the revenue's in euros
    assert re.search(r'id="chart-front-revenue-table".*?<th class="num">EUR</th>', html, re.S)
    for chart in ("resolution", "alerts", "revenue"):
        assert f'id="chart-front-{chart}-table"' in html

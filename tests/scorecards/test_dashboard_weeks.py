"""The dashboard on a Monday morning (the clock stands at Monday 23 November 2026, 10:00
UTC): every tile shows the last complete week beside the week in progress, every value on
it links to the rows behind it, and each of those lists recounts what the tile says; the
survey answers of no team have their own row; the funnel close rate comes from the
analytics engine, week by week, as the recovery page shows it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lastmile.feedback.models import Invite, Response
from lastmile.funnels import funnel_services
from lastmile.funnels.services import analytics_copy, analytics_engine
from lastmile.listening.models import WatchTerm
from lastmile.loops.models import Loop
from lastmile.promises.models import Promise
from lastmile.scorecards.rollup_models import FunnelWeekRollup, NoTeamWeekRollup
from lastmile.scorecards.rollups import rollups_rebuild, rollups_refresh, week_of, week_start
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.feedback.factories import SurveyFactory
from tests.people.factories import team_lead
from tests.recovery.conftest import CHECKOUT, track
from tests.scorecards.rows_helpers import recovery, recovery_rule
from tests.scorecards.test_dashboard import admin, closed_loops, tiles
from tests.scorecards.test_rollups_figures import answer, job, message
from tests.scorecards.test_rollups_more import alert

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def last_week(team, other_team, customer, now, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Last week's rows of the front office, one of each figure's, with the back office's
    and this week's around them; rolled up at Monday 10:00."""
    settings.VAR_DIR = tmp_path  # the recovery rule's funnel is asked of its own copy
    monday = week_start(week_of(now) - timedelta(weeks=1))
    tue = monday + timedelta(days=1, hours=12)
    closed_loops(team, week_of(tue), on_time=3, late=1)
    closed_loops(other_team, week_of(tue), on_time=1, late=1)
    # a promise broken, with its loop
    Promise.objects.create(
        customer=customer,
        text="a refund",
        channel="email",
        team=team,
        made_by_name="Ana",
        made_at=tue - timedelta(days=3),
        due_at=tue,
        recorded_via="test",
        state="broken",
        outcome_at=tue,
    )
    Loop.objects.create(
        customer=customer,
        kind="promise",
        title="a refund",
        team=team,
        state="broken",
        opened_at=tue - timedelta(days=3),
        clock_started_at=tue - timedelta(days=3),
        closed_at=tue,
        due_at=tue,
        breached_at=tue,
    )
    case = CaseFactory(customer=customer, team=team)
    theirs = CaseFactory(customer=customer, team=other_team)
    csat, nps = SurveyFactory(team=team, kind="csat"), SurveyFactory(team=team, kind="nps")
    answer(case, csat, 5, "happy", tue)
    answer(case, csat, 2, "unhappy", tue)
    answer(case, nps, 10, "promoter", tue)
    answer(case, nps, 8, "passive", tue)
    answer(case, nps, 3, "detractor", tue)
    answer(theirs, nps, 0, "detractor", tue)
    answer(case, nps, 9, "promoter", now - timedelta(hours=1))  # this week's
    for score in (0.5, -0.25, 0.05):  # a mean of 0.1, shown with two decimals
        message(case, tue, score)
    message(case, tue, 0.9, direction="outbound")  # not a customer's
    message(theirs, tue, -1.0)
    job(team, customer, ends=tue, state="completed", completed=tue - timedelta(minutes=30))
    job(team, customer, ends=tue, state="completed", completed=tue + timedelta(hours=1))
    job(team, customer, ends=tue, state="cancelled")
    job(other_team, customer, ends=tue, state="failed")
    term = WatchTerm.objects.create(name="Acme", query="acme", kind="brand", created_at=now)
    alert(term, team, tue, 12)
    alert(term, team, tue + timedelta(hours=1), 30)
    alert(term, other_team, tue, 5)
    rule = recovery_rule(team, now)
    for outcome, revenue in (("recovered", "40.00"), ("lost", None)):
        loop = Loop.objects.create(
            customer=CustomerFactory(),
            kind="recovery",
            title="Cart",
            team=team,
            state="closed",
            opened_at=tue - timedelta(hours=3),
            clock_started_at=tue - timedelta(hours=3),
            closed_at=tue,
        )
        recovery(rule, loop, outcome=outcome, closed_at=tue, revenue=revenue, currency="EUR")
    rollups_rebuild(now=now)


def test_on_a_monday_morning_each_tile_shows_last_week_beside_this_week(
    client, team, last_week, now
):
    client.force_login(team_lead(team, "lena"))
    front = tiles(client.get("/scorecards/dashboard/").content.decode(), "front")

    on_time = front["on_time_rate"]
    assert on_time["last"]["when"] == "Last week, 16 Nov–22 Nov"
    assert (on_time["last"]["value"], on_time["last"]["note"]) == ("75.0 %", "6 closed")
    # the week in progress is ten hours old: nothing closed yet, and it says so beside
    assert on_time["current"]["when"] == "This week so far"
    assert (on_time["current"]["value"], on_time["current"]["note"]) == ("—", "0 closed")
    # the broken promise and the two recoveries' loops finished too
    assert front["breach_rate"]["last"]["note"] == "2 of 7 finished"
    assert front["nps"]["last"]["value"] == "0.0" and front["nps"]["current"]["value"] == "100.0"
    assert front["sentiment"]["last"]["value"] == "0.10"
    assert front["sentiment"]["last"]["note"] == "3 messages, -1 to 1"
    assert front["deliveries_on_time"]["last"]["value"] == "50.0 %"
    assert front["recovery_rate"]["last"]["value"] == "50.0 %"
    assert front["revenue_recovered"]["last"]["value"] == "40.00 EUR"
    assert front["alerts"]["last"]["value"] == "2"
    # only the alerts' tile lists alerts, each with its id and link
    html = client.get("/scorecards/dashboard/").content.decode()
    assert html.count('<ol class="dashboard-alerts') == 1
    assert 'id="alert-"' not in html and '<a href=""' not in html
    # the open loops are a state, not a week: shown as they are now
    assert list(front["open_loops"]) == ["now"] and list(front["overdue_loops"]) == ["now"]


def _count(html: str, prefix: str) -> int:
    return html.count(f'id="{prefix}')


def _summary(html: str) -> tuple[str, int]:
    m = re.search(
        r'id="rows-summary" data-figure="\w+" data-value="([^"]*)" data-count="(\d+)"', html
    )
    assert m is not None, html[:2000]
    return m.group(1), int(m.group(2))


def test_every_tile_links_to_rows_that_recount_it(client, team, last_week):
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    front = tiles(html, "front")
    # every tile of the section is here, each value with a link
    assert len(front) == len(
        re.findall(r'data-figure="', re.search(r'id="team-front".*?</ul>', html, re.S).group(0))
    )
    for name, cells in front.items():
        assert cells, name
        for key, cell in cells.items():
            assert cell["link"].startswith("/"), (name, key)

    def get(cell):  # type: ignore[no-untyped-def]
        r = client.get(cell["link"])
        assert r.status_code == 200, cell["link"]
        return r.content.decode()

    for key in ("last", "current"):
        c = {name: cells[key] for name, cells in front.items() if key in cells}
        breached, finished = (int(x) for x in re.findall(r"\d+", c["breach_rate"]["note"]))
        assert _count(get(c["breach_rate"]), "drill-loop-") == breached
        closed = int(c["on_time_rate"]["note"].split()[0])
        assert _count(get(c["on_time_rate"]), "drill-loop-") == closed
        broken = 0 if c["promises_broken"]["value"] == "—" else int(c["promises_broken"]["value"])
        assert _count(get(c["promises_broken"]), "drill-loop-") == broken
        won, lost = (int(x) for x in re.findall(r"\d+", c["recovery_rate"]["note"]))
        recoveries = get(c["recovery_rate"])
        assert _count(recoveries, "rows-recovery-") == won + lost
        assert _summary(recoveries) == (c["recovery_rate"]["value"], won + lost)
        solved = int(re.findall(r"\d+", c["first_contact_resolution"]["note"])[1])
        assert _count(get(c["first_contact_resolution"]), "rows-case-") == solved
        recovered = get(c["revenue_recovered"])
        assert _count(recovered, "rows-recovery-") == won
        assert _summary(recovered) == (c["revenue_recovered"]["value"], won)
        # the dashboard's own rows pages: the same value, and as many rows as the note says
        for name, prefix, n in (
            ("csat", "rows-answer-", int(c["csat"]["note"].split()[0])),
            ("nps", "rows-answer-", int(c["nps"]["note"].split()[0])),
            ("sentiment", "rows-message-", int(c["sentiment"]["note"].split()[0])),
            ("deliveries_on_time", "rows-job-", int(c["deliveries_on_time"]["note"].split()[0])),
            (
                "alerts",
                "rows-alert-",
                0 if c["alerts"]["value"] == "—" else int(c["alerts"]["value"]),
            ),
        ):
            listed = get(c[name])
            assert _summary(listed) == (c[name]["value"], n), (key, name)
            assert _count(listed, prefix) == n, (key, name)
        assert _summary(get(c["funnel_close_rate"]))[0] == c["funnel_close_rate"]["value"]
    # last week's jobs by hand: the cancelled one left out, one of the other two on time
    jobs = get(front["deliveries_on_time"]["last"])
    assert jobs.count('data-on-time="yes"') == 1 and jobs.count('data-on-time="no"') == 1


def test_the_answers_of_no_team_are_counted_in_their_own_row(client, team, customer, now):
    tue = week_start(week_of(now) - timedelta(weeks=1)) + timedelta(days=1)
    nps = SurveyFactory(team=team, kind="nps")
    answer(CaseFactory(customer=customer, team=team), nps, 10, "promoter", tue)
    answer(CaseFactory(customer=customer, team=None), nps, 9, "promoter", tue)
    answer(CaseFactory(customer=customer, team=None), nps, 2, "detractor", tue)
    rollups_rebuild(weeks=2, now=now)

    row = NoTeamWeekRollup.objects.get()
    assert (row.nps_responses, row.nps_promoters, row.nps_detractors) == (2, 1, 1)
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    none = tiles(html, "none")
    assert none["nps"]["last"]["value"] == "0.0" and none["nps"]["last"]["note"] == "2 answers"
    assert none["nps"]["current"]["note"] == "0 answers"
    assert tiles(html, "front")["nps"]["last"]["value"] == "100.0"
    listed = client.get(none["nps"]["last"]["link"]).content.decode()
    assert _summary(listed) == ("0.0", 2)
    assert _count(listed, "rows-answer-") == 2
    assert "1 promoter, 1 detractor of 2 answers" in listed
    # no alert of no team: its tile says 0, as its list does (not "—")
    assert none["alerts"]["last"]["value"] == "0" == none["alerts"]["current"]["value"]
    assert _summary(client.get(none["alerts"]["last"]["link"]).content.decode())[1] == 0
    # a lead sees only their team: no "No team" row, and its rows are not theirs
    client.force_login(team_lead(team, "lena"))
    assert 'id="team-none"' not in client.get("/scorecards/dashboard/").content.decode()
    assert client.get(none["nps"]["last"]["link"]).status_code == 404


def test_a_relationship_nps_answer_counts_for_its_surveys_team(client, team, customer, now):
    # given the front office's relationship NPS: one answer about a case, two about none
    tue = week_start(week_of(now) - timedelta(weeks=1)) + timedelta(days=1)
    nps = SurveyFactory(team=team, kind="nps")
    answer(CaseFactory(customer=customer, team=team), nps, 10, "promoter", tue)
    for n, (score, band) in enumerate(((8, "passive"), (0, "detractor"))):
        caseless = Invite.objects.create(
            survey=nps,
            customer=customer,
            channel="email",
            state="answered",
            token_hash=f"caseless-{n}",
            created_at=tue - timedelta(hours=1),
            expires_at=tue + timedelta(days=9),
        )
        Response.objects.create(invite=caseless, survey=nps, score=score, band=band, at=tue)
    rollups_rebuild(weeks=2, now=now)
    # then the front office's NPS counts all three, and no team's none
    assert not NoTeamWeekRollup.objects.filter(nps_responses__gt=0).exists()
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    front = tiles(html, "front")["nps"]["last"]
    assert front["value"] == "0.0" and front["note"] == "3 answers"
    # and its rows recount it
    listed = client.get(front["link"]).content.decode()
    assert _summary(listed) == ("0.0", 3) and _count(listed, "rows-answer-") == 3


def test_the_alerts_of_no_team_are_in_the_no_team_row_with_their_links(client, team, customer, now):
    # given last week's alerts: two of no team (their watch term has none), one of the front
    # office's; and one of no team this week
    term = WatchTerm.objects.create(name="Acme", query="acme", kind="brand", created_at=now)
    tue = week_start(week_of(now) - timedelta(weeks=1)) + timedelta(days=1)
    quiet = alert(term, None, tue, 4)
    loud = alert(term, None, tue + timedelta(hours=2), 40, state="open")
    ours = alert(term, team, tue, 900)
    today = alert(term, None, now - timedelta(hours=1), 7)

    # when the worker rolls the weeks up
    rollups_rebuild(weeks=2, now=now)

    # then no team's row of each week counts its alerts, loudest first
    last = NoTeamWeekRollup.objects.get(week=week_of(tue))
    assert last.alerts == 2 and [a["id"] for a in last.alerts_top] == [loud.pk, quiet.pk]
    assert NoTeamWeekRollup.objects.get(week=week_of(now)).alerts == 1
    # and the admin's dashboard shows them in the No team row, each linking to its room
    client.force_login(admin(None))
    html = client.get("/scorecards/dashboard/").content.decode()
    none = tiles(html, "none")
    assert (none["alerts"]["last"]["value"], none["alerts"]["last"]["note"]) == ("2", "raised")
    assert none["alerts"]["current"]["value"] == "1"
    listed_last = re.search(r'id="alerts-none-last">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r'<li id="alert-(\d+)"><a href="([^"]+)"', listed_last) == [
        (str(loud.pk), f"/alerts/{loud.pk}/"),
        (str(quiet.pk), f"/alerts/{quiet.pk}/"),
    ]
    assert f'id="alert-{today.pk}"' in re.search(
        r'id="alerts-none-current">(.*?)</ol>', html, re.S
    ).group(1)
    assert client.get(f"/alerts/{loud.pk}/").status_code == 200
    # and the front office's tile counts its own alert only
    assert tiles(html, "front")["alerts"]["last"]["value"] == "1"
    assert f'id="alert-{ours.pk}"' in html
    # and the rows behind the tile recount it
    listed = client.get(none["alerts"]["last"]["link"]).content.decode()
    assert _summary(listed) == ("2", 2)
    assert _count(listed, "rows-alert-") == 2
    # a lead sees only their team: no "No team" row, and its rows are not theirs
    client.force_login(team_lead(team, "lena"))
    assert 'id="team-none"' not in client.get("/scorecards/dashboard/").content.decode()
    assert client.get(none["alerts"]["last"]["link"]).status_code == 404


def test_the_rows_page_takes_a_figure_a_visible_team_and_a_monday(client, team, other_team):
    client.force_login(team_lead(team, "lena"))
    base = "/scorecards/dashboard/rows/?"
    assert client.get(base + "figure=sentiment&team=front&week=2026-11-16").status_code == 200
    assert client.get(base + "figure=sentiment&team=back&week=2026-11-16").status_code == 404
    assert client.get(base + "figure=sentiment&team=front&week=2026-11-17").status_code == 400
    assert client.get(base + "figure=loops&team=front&week=2026-11-16").status_code == 400
    assert client.get(base + "figure=sentiment&team=nope&week=2026-11-16").status_code == 404


def test_the_funnel_close_rate_is_the_engines_week_by_week(
    client, team, settings, tmp_path, send, now
):
    settings.VAR_DIR = tmp_path
    funnel = funnel_services.funnel_create(
        name="Checkout", definition=CHECKOUT, team=team, actor=None, now=now - timedelta(days=30)
    )
    tue = week_start(week_of(now) - timedelta(weeks=1)) + timedelta(days=1)
    for user, buys in (("ana", True), ("ben", False), ("cy", True), ("dee", False)):
        events = [
            track("Product Added", user=user, at=tue),
            track("Checkout Started", user=user, at=tue + timedelta(minutes=1)),
        ]
        if buys:
            events.append(track("Order Completed", user=user, at=tue + timedelta(minutes=2)))
        send(*events, at=tue)
    analytics_copy(engine=analytics_engine(), now=now)
    rollups_refresh(now=now)

    row = FunnelWeekRollup.objects.get(funnel=funnel, week=week_of(tue))
    assert (row.entered, row.closed) == (4, 2)
    client.force_login(admin(None))
    front = tiles(client.get("/scorecards/dashboard/").content.decode(), "front")
    cell = front["funnel_close_rate"]["last"]
    assert (cell["value"], cell["note"]) == ("50.0 %", "2 of 4 entered")
    assert front["funnel_close_rate"]["current"]["value"] == "—"
    listed = client.get(cell["link"]).content.decode()
    assert _summary(listed) == ("50.0 %", 4)
    link = re.search(r'id="rows-funnel-\d+"><td><a href="([^"]+)"', listed).group(1)
    page = client.get(link.replace("&amp;", "&")).content.decode()
    # the recovery page for that week says the same: 4 entered, 2 closed, 50 %
    assert re.search(r'id="fig-close-rate">50 %<', page), link

"""Journeys in the console: the case page's panel, its actions, the board, the admin."""

from __future__ import annotations

import pytest

from lastmile.journeys.models import Journey, JourneyTemplate, StepTemplate
from lastmile.journeys.services import journey_start, step_complete, template_save
from lastmile.loops.models import Loop
from tests.cases.factories import CaseFactory
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def template(team, other_team, now):
    return template_save(
        definition={
            "name": "Address change",
            "slug": "address-change",
            "steps": [
                {"key": "check", "title": "Check the proof of address", "team": "front"},
                {
                    "key": "update",
                    "title": "Update the core system",
                    "team": "back",
                    "depends_on": ["check"],
                    "customer_visible": True,
                },
            ],
        },
        now=now,
    )[0]


def test_the_case_page_offers_to_start_a_journey(client, alice, case, template):
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert 'id="journeys"' in page and "Address change" in page
    assert f'action="/journeys/cases/{case.ref}/start/"' in page


def test_starting_from_the_case_page_opens_the_first_step(client, alice, case, template):
    client.force_login(alice)
    r = client.post(f"/journeys/cases/{case.ref}/start/", {"template": "address-change"})
    assert r.status_code == 302 and r["Location"].endswith(f"/cases/{case.ref}/#journeys")
    journey = Journey.objects.get()
    assert journey.steps.get(key="check").state == "open"
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert "Check the proof of address" in page and "Complete step" in page
    assert "Waiting for Check the proof of address (Front office)" in page


def test_a_refused_start_shows_the_reason_with_its_status(client, alice, case, template, now):
    journey_start(template=template, case=case, actor=alice, now=now)
    client.force_login(alice)
    r = client.post(f"/journeys/cases/{case.ref}/start/", {"template": "address-change"})
    assert r.status_code == 409
    assert "already under way" in r.content.decode()
    assert Journey.objects.count() == 1


def test_completing_with_a_note_hands_off_to_the_next_team(
    client, alice, charlie, case, template, now
):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    client.force_login(alice)
    r = client.post(
        f"/journeys/{journey.pk}/steps/check/complete/", {"note": "Council tax bill, dated Oct"}
    )
    assert r.status_code == 302
    client.force_login(charlie)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert "Hand-off" in page and "Council tax bill, dated Oct" in page
    assert f"/journeys/{journey.pk}/steps/update/complete/" in page  # charlie's team's step


def test_a_step_of_another_team_has_no_complete_button_and_is_refused(
    client, alice, charlie, case, template, now
):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=journey.steps.get(key="check"), actor=alice, note="ok", now=now)
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert f"/journeys/{journey.pk}/steps/update/complete/" not in page
    r = client.post(f"/journeys/{journey.pk}/steps/update/complete/", {"note": "sneaky"})
    assert r.status_code == 403
    assert journey.steps.get(key="update").state == "open"


def test_an_outsider_cannot_act_on_a_journey_of_a_case_they_cannot_see(
    client, alice, charlie, case, template, now
):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    dave = AgentFactory(user__username="dave", teams=[TeamFactory(slug="cards")]).user
    client.force_login(dave)
    assert client.post(f"/journeys/{journey.pk}/cancel/", {"reason": "x"}).status_code == 404
    r = client.post(f"/journeys/cases/{case.ref}/start/", {"template": "address-change"})
    assert r.status_code == 404
    # the back office sees the journey (its step is coming) but not the case: refused,
    # on the error page rather than the case page it may not see
    client.force_login(charlie)
    r = client.post(f"/journeys/{journey.pk}/cancel/", {"reason": "not mine"})
    assert r.status_code == 403 and case.subject not in r.content.decode()
    assert Journey.objects.get().state == "active"


def test_cancelling_needs_a_reason(client, alice, case, template, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    client.force_login(alice)
    assert client.post(f"/journeys/{journey.pk}/cancel/", {"reason": ""}).status_code == 422
    r = client.post(f"/journeys/{journey.pk}/cancel/", {"reason": "Customer moved back"})
    assert r.status_code == 302
    assert Journey.objects.get().state == "cancelled"
    assert not Loop.objects.filter(state="open").exists()


def test_the_board_lists_a_teams_open_and_blocked_steps(
    client, alice, charlie, case, template, now
):
    journey_start(template=template, case=case, actor=alice, now=now)
    client.force_login(alice)
    page = client.get("/journeys/").content.decode()
    assert "Check the proof of address" in page and "Update the core system" in page
    client.force_login(charlie)
    page = client.get("/journeys/").content.decode()
    assert "Blocked — waiting on other steps" in page
    assert "Check the proof of address" in page  # what the back office waits for


def test_the_board_reads_in_a_fixed_number_of_queries(
    client, alice, case, template, now, django_assert_max_num_queries
):
    for _ in range(3):
        journey_start(template=template, case=CaseFactory(team=case.team), actor=alice, now=now)
    client.force_login(alice)
    with django_assert_max_num_queries(20):
        assert client.get("/journeys/").status_code == 200


def test_the_admin_refuses_a_cycle(client, staff, team, other_team, template):
    steps = list(template.steps.order_by("position"))
    form = {
        "name": "Address change",
        "slug": "address-change",
        "description": "",
        "active": "on",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "2",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for i, s in enumerate(steps):
        form.update(
            {
                f"steps-{i}-id": str(s.pk),
                f"steps-{i}-template": str(template.pk),
                f"steps-{i}-position": str(i),
                f"steps-{i}-key": s.key,
                f"steps-{i}-title": s.title,
                f"steps-{i}-team": str(s.team_id),
                f"steps-{i}-depends_on": "update" if s.key == "check" else "check",
                f"steps-{i}-customer_action": "none",
                f"steps-{i}-instructions": "",
            }
        )
    r = client.post(f"/admin/journeys/journeytemplate/{template.pk}/change/", form)
    assert r.status_code == 200
    assert "cycle" in r.content.decode()
    assert StepTemplate.objects.get(key="check").depends_on == []
    assert JourneyTemplate.objects.get().version == 1
    form["steps-0-depends_on"] = ""
    r = client.post(f"/admin/journeys/journeytemplate/{template.pk}/change/", form)
    assert r.status_code == 302
    assert JourneyTemplate.objects.get().version == 2


def test_admin_screens_render(client, staff, template, case, alice, now):
    journey_start(template=template, case=case, actor=alice, now=now)
    for path in ("journeys/journeytemplate", "journeys/journey"):
        assert client.get(f"/admin/{path}/").status_code == 200
    assert client.get("/admin/journeys/journeytemplate/add/").status_code == 200
    journey = Journey.objects.get()
    assert client.get(f"/admin/journeys/journey/{journey.pk}/change/").status_code == 200

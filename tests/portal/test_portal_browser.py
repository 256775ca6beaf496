"""A visit slot end to end, in headless Chromium against a live server: the field team offers
windows on the case page, the customer picks one in her portal (a radio list, nothing to
type), the visit is due at the end of her window, and the agent sees the window she chose."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from lastmile.cases.services import case_create
from lastmile.core.clock import utcnow
from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.journeys.models import Journey, JourneyStep
from lastmile.journeys.services import journey_start, template_save
from lastmile.people.services import agent_create, team_ensure
from lastmile.portal.services import portal_link_issue
from tests.console.test_browser import PASSWORD, browser, fast_password_hashing, log_in, page  # noqa: F401

pytestmark = pytest.mark.browser


def next_wednesday(now: datetime) -> datetime:
    """Next week's Wednesday, 00:00 UTC: always in the future and a few days away."""
    day = now.date() + timedelta(days=7 - now.weekday() + 2)
    return datetime.combine(day, time(0), tzinfo=UTC)


def test_the_customer_chooses_a_visit_window_and_the_visit_is_due_at_its_end(live_server, page):  # noqa: F811
    # Given the field team, a visit journey on Margaret's case, her slot step open
    now = utcnow()
    field = team_ensure(name="Field engineers", slug="field")
    agent_create(username="femi", password=PASSWORD, teams=[field], first_name="Femi")
    template = template_save(
        definition={
            "name": "Home diagnostics visit",
            "steps": [
                {
                    "key": "choose_slot",
                    "title": "Choose a visit slot",
                    "team": "field",
                    "customer_action": "choose_slot",
                },
                {
                    "key": "visit",
                    "title": "Engineer visit",
                    "team": "field",
                    "depends_on": ["choose_slot"],
                    "due_by_slot": "choose_slot",
                    "customer_visible": True,
                },
            ],
        },
        now=now,
    )[0]
    margaret = customer_resolve(
        identities=[identity_normalize("email", "margaret@example.com")],
        display_name="Margaret Ellis",
        now=now,
    ).customer
    case = case_create(
        customer=margaret, subject="SMS: Hi, it's Margaret", team=field, channel="sms", now=now
    )
    interaction_record(
        customer=margaret,
        case=case,
        channel="sms",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="The Wi-Fi drops every evening again.",
    )
    journey = journey_start(template=template, case=case, now=now)
    wednesday = next_wednesday(now)
    day = wednesday.strftime("%Y-%m-%d")
    label = f"{wednesday:%a} {wednesday.day} {wednesday:%b}, 10:00-12:00"

    # When Femi offers three windows from the case page
    log_in(page, live_server, "femi")
    page.goto(f"{live_server.url}/cases/{case.ref}/")
    slot_row = f"#journey-{journey.pk}-step-choose_slot"
    page.fill(
        f"{slot_row} textarea[name=windows]",
        f"{day} 08:00-10:00\n{day} 10:00-12:00\n{day} 14:00-16:00",
    )
    page.click(f"{slot_row} .step-offer button[type=submit]")
    page.wait_for_selector(f"{slot_row} .offered-windows li")
    assert label in page.locator(f"{slot_row} .offered-windows").inner_text()

    # and Margaret opens her portal link in her own browser
    issued = portal_link_issue(customer=margaret, now=utcnow(), send=False)
    mine = page.context.browser.new_context(viewport={"width": 800, "height": 900}).new_page()
    mine.goto(f"{live_server.url}{issued.path}")
    mine.click("button[type=submit]")
    mine.wait_for_url(f"{live_server.url}/portal/")
    assert "SMS: Hi" not in mine.content()  # the team's subject is not her title
    mine.click("text=Choose a time")

    # Then she picks from a list of windows; there is nothing to type
    assert mine.locator("input[type=radio][name=slot]").count() == 3
    assert mine.locator("input[type=text]").count() == 0
    mine.screenshot(path="/tmp/portal-slot-choice.png", full_page=True)
    mine.get_by_label(label).check()
    mine.click("form.windows button[type=submit]")
    mine.wait_for_selector("text=You chose")
    assert f"You chose {label}" in mine.locator("main").inner_text()
    mine.context.close()

    # And the visit is due at the end of her window, Wednesday 12:00
    visit = JourneyStep.objects.select_related("loop").get(journey=journey, key="visit")
    assert visit.loop.due_at == wednesday + timedelta(hours=12)
    chosen = JourneyStep.objects.get(journey=journey, key="choose_slot")
    assert (chosen.slot_starts_at, chosen.slot_ends_at) == (
        wednesday + timedelta(hours=10),
        wednesday + timedelta(hours=12),
    )

    # And Femi sees the window she chose on the case page
    page.reload()
    assert f"Chosen window: {label}" in page.locator(slot_row).inner_text()
    page.locator("#journeys").screenshot(path="/tmp/portal-slot-console.png")
    assert Journey.objects.get().state == "active"

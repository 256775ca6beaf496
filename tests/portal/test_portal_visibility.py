"""What a customer sees in the portal: what they wrote, what was sent to them, and a title the
team wrote for them — never an internal subject, a note, a call log or a system event.

Every channel and direction the customers app defines is recorded on one case, each with a
marker of its own, and every portal page is read: a new channel, direction or page is
covered without touching this file (a page needs a line in PAGES, or the first test fails).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from lastmile.cases.models import Case
from lastmile.cases.services import case_change, case_create
from lastmile.customers.models import Channel, Direction
from lastmile.customers.services.timeline import interaction_record
from lastmile.jobs.models import Job
from lastmile.jobs.services import job_create, slot_create
from lastmile.journeys.services import journey_start, template_save
from lastmile.knowledge.services import article_create
from lastmile.portal.services import portal_link_issue
from tests.portal.fixtures import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_clock")]

# The channels a customer writes on and is written to. Everything else (a phone call or a
# visit written up by an agent, web and app events, the API's records) is the team's own.
WRITTEN = {"email", "chat", "sms", "whatsapp", "portal", "social:twitter"}
SPOKEN_TO_THE_CUSTOMER = {Direction.INBOUND, Direction.OUTBOUND}
INTERNAL_SUBJECT = "@aisha_in_leeds on twitter: SUBJECTMARK the app is down again"


def channels():
    """Every channel value, a social one with its network as it is stored."""
    return ["social:twitter" if c == Channel.SOCIAL else str(c) for c in Channel.values]


def marker(channel, direction):
    return f"MARK-{channel.replace(':', '-')}-{direction}-END"


def customer_sees(channel, direction):
    return channel in WRITTEN and direction in SPOKEN_TO_THE_CUSTOMER


@pytest.fixture
def story(ann, team, now):
    """Ann's case with an internal subject, one interaction per channel and direction (the
    marker in its body and, for email, its subject), a journey and a public article."""
    case = case_create(
        customer=ann, subject=INTERNAL_SUBJECT, team=team, channel="social:twitter", now=now
    )
    for channel in channels():
        for direction in Direction.values:
            interaction_record(
                customer=ann,
                case=case,
                channel=channel,
                direction=direction,
                occurred_at=now,
                now=now,
                body=marker(channel, direction),
                data={"subject": marker(channel, direction) + "-DATA"},
                customer_words=False,
            )
    template = template_save(
        definition={
            "name": "Check your details",
            "steps": [
                {"key": "confirm", "title": "Confirm your address", "customer_action": "confirm"}
            ],
        },
        now=now,
    )[0]
    journey = journey_start(template=template, case=case, now=now)
    article_create(
        title="Opening hours", body_md="9 to 5", public=True, team=team, now=now, slug="hours"
    )
    slot = slot_create(
        team=team,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        capacity=1,
    )
    job_create(
        kind="delivery",
        customer=ann,
        team=team,
        window_start=slot.starts_at,
        window_end=slot.ends_at,
        address="1 High Street",
        case=case,
        actor=None,
        now=now,
    )
    return case, journey


# Every portal page a customer can reach, and how to reach it (method, URL kwargs, form).
AGENTS = {"send_link", "upload", "case_title"}  # staff login: not the customer's pages
PAGES = {
    "home": ("get", lambda case, journey: {}, None),
    "case": ("get", lambda case, journey: {"ref": case.ref}, None),
    # A refused message shows the case page again, with its conversation.
    "case_message": ("post", lambda case, journey: {"ref": case.ref}, {"body": ""}),
    "step": ("get", lambda case, journey: {"journey_id": journey.pk, "key": "confirm"}, None),
    "help": ("get", lambda case, journey: {}, None),
    "article": ("get", lambda case, journey: {"slug": "hours"}, None),
    "sign_out": ("post", lambda case, journey: {}, {}),
    "job": ("get", lambda case, journey: {"job_id": Job.objects.get(case=case).pk}, None),
    "survey": ("get", lambda case, journey: {"invite_id": _survey_invite(case).pk}, None),
}


def _survey_invite(case):
    """A portal survey invite on Ann's case (its internal subject must not show)."""
    from lastmile.feedback.services import invite_create
    from tests.feedback.factories import SurveyFactory

    survey = SurveyFactory(team=case.team, channel="portal")
    return invite_create(
        survey=survey, customer=case.customer, channel="portal", case=case, now=case.created_at
    )[0]


def test_every_portal_page_is_read_here():
    from lastmile.portal.urls import urlpatterns

    # "start" is read in test_the_link_page_shows_nothing_internal (it needs a fresh link).
    assert {p.name for p in urlpatterns} == AGENTS | set(PAGES) | {"start"}


def _read(client, name, case, journey):
    method, kwargs, form = PAGES[name]
    url = reverse(f"portal:{name}", kwargs=kwargs(case, journey))
    response = client.get(url) if method == "get" else client.post(url, form)
    assert response.status_code in (200, 422), (name, response.status_code)
    return response.content.decode()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_portal_page_shows_no_internal_interaction_or_subject(client, ann, story, name, now):
    # Given Ann's case with every channel and direction on it
    case, journey = story
    signed_in(client, ann, now)

    # When she reads the page
    page = _read(client, name, case, journey)

    # Then nothing meant for the team is on it
    for channel in channels():
        for direction in Direction.values:
            if not customer_sees(channel, direction):
                assert marker(channel, direction) not in page, (name, channel, direction)
            assert marker(channel, direction) + "-DATA" not in page, (name, channel, direction)
    assert "SUBJECTMARK" not in page and "aisha_in_leeds" not in page


def test_the_case_page_shows_everything_written_by_or_sent_to_the_customer(client, ann, story, now):
    case, journey = story
    page = signed_in(client, ann, now).get(f"/portal/cases/{case.ref}/").content.decode()
    shown = {(c, d) for c in channels() for d in Direction.values if marker(c, d) in page}
    assert shown == {(c, d) for c in channels() for d in Direction.values if customer_sees(c, d)}
    assert shown  # the check above is not vacuous


def test_the_link_page_shows_nothing_internal(client, ann, story, now):
    issued = portal_link_issue(customer=ann, now=now, send=False)
    page = client.get(issued.path).content.decode()
    assert "MARK-" not in page and "SUBJECTMARK" not in page


def test_without_a_title_for_her_the_customer_sees_a_neutral_one(client, ann, story, now):
    case, _ = story
    signed_in(client, ann, now)
    neutral = f"Your request {case.ref} · opened {case.created_at:%-d %b}"
    assert neutral in client.get("/portal/").content.decode()
    assert neutral in client.get(f"/portal/cases/{case.ref}/").content.decode()


def test_the_title_the_team_wrote_is_what_the_customer_sees(client, ann, story, now):
    case, journey = story
    case_change(case=case, customer_title="Your app login problem", now=now)
    signed_in(client, ann, now)
    for name in ("home", "case", "case_message"):
        assert "Your app login problem" in _read(client, name, case, journey), name
    assert Case.objects.get(pk=case.pk).subject == INTERNAL_SUBJECT  # the team's stays theirs


# --- the agent writes the title, in the console ----------------------------------------------


def test_an_agent_sets_the_customers_title_from_the_case_page(client, alice, story, now):
    case, _ = story
    client.force_login(alice)
    assert 'name="customer_title"' in client.get(f"/cases/{case.ref}/").content.decode()
    response = client.post(
        reverse("portal:case_title", args=[case.ref]), {"customer_title": "  Your app login  "}
    )
    assert response.status_code == 200
    assert "Your app login" in response.content.decode()
    assert Case.objects.get(pk=case.pk).customer_title == "Your app login"
    client.post(reverse("portal:case_title", args=[case.ref]), {"customer_title": ""})
    assert Case.objects.get(pk=case.pk).customer_title == ""


def test_an_outsider_cannot_set_the_title_and_nothing_changes(client, charlie, story, now):
    case, _ = story
    client.force_login(charlie)
    response = client.post(reverse("portal:case_title", args=[case.ref]), {"customer_title": "x"})
    assert response.status_code == 404
    assert Case.objects.get(pk=case.pk).customer_title == ""


def test_a_title_too_long_is_refused_with_the_reason_and_nothing_changes(client, alice, story):
    case, _ = story
    client.force_login(alice)
    response = client.post(
        reverse("portal:case_title", args=[case.ref]), {"customer_title": "x" * 201}
    )
    assert response.status_code == 422
    assert "at most 200 characters" in response.content.decode()
    assert Case.objects.get(pk=case.pk).customer_title == ""


def test_a_title_needs_a_login(client, story):
    case, _ = story
    response = client.post(reverse("portal:case_title", args=[case.ref]), {"customer_title": "x"})
    assert response.status_code == 302
    assert Case.objects.get(pk=case.pk).customer_title == ""


def test_the_api_sets_and_shows_the_customers_title(client, alice, story, now):
    from lastmile.api.services import token_create
    from lastmile.people.models import Agent

    case, _ = story
    token = token_create(name="alice", agent=Agent.objects.get(user=alice), now=now)[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/api/v1/cases/{case.ref}"
    refused = client.patch(
        url, {"customer_title": "x" * 201}, content_type="application/json", **auth
    )
    assert refused.status_code == 422
    assert Case.objects.get(pk=case.pk).customer_title == ""
    done = client.patch(
        url, {"customer_title": "Your app login"}, content_type="application/json", **auth
    )
    assert done.status_code == 200, done.content
    assert done.json()["customer_title"] == "Your app login"
    assert done.json()["subject"] == INTERNAL_SUBJECT
    assert Case.objects.get(pk=case.pk).customer_title == "Your app login"

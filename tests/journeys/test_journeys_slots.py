"""Visit slots: the team offers concrete windows, the customer chooses one, and the visit
that follows is due at the end of the chosen window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from lastmile.cases.services import case_create
from lastmile.core.errors import Conflict, InvalidInput, PermissionDenied
from lastmile.customers.models import Customer
from lastmile.journeys.definitions import template_export, windows_parse
from lastmile.journeys.models import JourneyStep, StepState
from lastmile.journeys.services import (
    journey_start,
    step_complete,
    step_complete_by_customer,
    step_windows_offer,
    template_check,
    template_save,
)
from lastmile.loops.models import Loop
from lastmile.loops.selectors import loop_sla_state
from tests.portal.fixtures import signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_clock")]

# ``now`` is Monday 23 Nov 2026, 10:00 UTC.
TUE_14 = (datetime(2026, 11, 24, 14, tzinfo=UTC), datetime(2026, 11, 24, 16, tzinfo=UTC))
WED_10 = (datetime(2026, 11, 25, 10, tzinfo=UTC), datetime(2026, 11, 25, 12, tzinfo=UTC))
WED_12 = datetime(2026, 11, 25, 12, tzinfo=UTC)

VISIT = {
    "name": "Home visit",
    "slug": "home-visit",
    "steps": [
        {"key": "test", "title": "Remote line test", "team": "front"},
        {
            "key": "choose_slot",
            "title": "Choose a visit slot",
            "team": "front",
            "customer_action": "choose_slot",
            "depends_on": ["test"],
            "sla_minutes": 1440,
        },
        {
            "key": "visit",
            "title": "Engineer visit",
            "team": "front",
            "depends_on": ["choose_slot"],
            "due_by_slot": "choose_slot",
            "customer_visible": True,
        },
    ],
}


@pytest.fixture
def journey(ann, team, alice, now):
    template = template_save(definition=VISIT, now=now)[0]
    case = case_create(customer=ann, subject="Wi-Fi drops", team=team, now=now)
    started = journey_start(
        template=template, case=case, actor=alice, done_before={"test": "noise"}, now=now
    )
    step_windows_offer(step=step(started, "choose_slot"), windows=[TUE_14, WED_10], now=now)
    return started


def step(journey, key):
    return JourneyStep.objects.select_related("loop", "journey__case__customer").get(
        journey=journey, key=key
    )


def interval(window):
    return f"{window[0].isoformat()}/{window[1].isoformat()}"


def as_data(window):
    return {"slot": {"start": window[0].isoformat(), "end": window[1].isoformat()}}


def nothing_chosen(journey):
    slot = step(journey, "choose_slot")
    assert slot.state == StepState.OPEN
    assert (slot.slot_starts_at, slot.slot_ends_at) == (None, None)
    assert "slot" not in slot.data
    assert step(journey, "visit").state == StepState.PENDING
    assert not Loop.objects.filter(title__startswith="Engineer visit").exists()


# --- the deadline -------------------------------------------------------------------------


def test_choosing_the_wednesday_window_makes_the_visit_due_at_its_end(ann, journey, now):
    # When Ann chooses Wednesday 10:00-12:00
    step_complete_by_customer(
        step=step(journey, "choose_slot"), customer=ann, data=as_data(WED_10), now=now
    )

    # Then the choice is stored as a window and the visit is due at its end
    slot = step(journey, "choose_slot")
    assert (slot.slot_starts_at, slot.slot_ends_at) == WED_10
    visit = step(journey, "visit").loop
    assert visit.due_at == WED_12
    assert loop_sla_state(visit, now=WED_12 - timedelta(minutes=1)) != "breached"
    assert loop_sla_state(visit, now=WED_12) == "breached"


def test_choosing_in_the_portal_makes_the_visit_due_at_the_end_of_the_window(
    client, ann, journey, now
):
    signed_in(client, ann, now)
    url = f"/portal/journeys/{journey.pk}/steps/choose_slot/"
    page = client.get(url).content.decode()
    assert 'type="radio"' in page and "Wed 25 Nov, 10:00-12:00" in page
    assert 'type="text"' not in page  # no free text any more

    response = client.post(url, {"slot": interval(WED_10)})

    assert response.status_code == 302
    assert step(journey, "visit").loop.due_at == WED_12
    assert "You chose Wed 25 Nov, 10:00-12:00" in client.get(url).content.decode()


def test_the_windows_are_shown_in_the_customers_time_zone(client, ann, journey, now):
    Customer.objects.filter(pk=ann.pk).update(timezone="Europe/Paris")
    signed_in(client, ann, now)
    page = client.get(f"/portal/journeys/{journey.pk}/steps/choose_slot/").content.decode()
    assert "Wed 25 Nov, 11:00-13:00 (CET)" in page


# --- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "slot",
    [
        "Wednesday 10:00-12:00",  # free text, as before
        "",
        interval((WED_10[0], WED_10[1] + timedelta(hours=1))),  # not offered
        interval((WED_10[0].replace(tzinfo=None), WED_10[1].replace(tzinfo=None))),  # naive
    ],
)
def test_a_window_not_offered_is_refused_with_the_reason_and_nothing_changes(
    client, ann, journey, slot, now
):
    signed_in(client, ann, now)
    response = client.post(f"/portal/journeys/{journey.pk}/steps/choose_slot/", {"slot": slot})
    assert response.status_code == 422
    body = response.content.decode()
    assert "not offered" in body or "choose one of the times offered" in body.lower()
    nothing_chosen(journey)


def test_a_window_already_started_cannot_be_chosen(ann, journey, now):
    with pytest.raises(InvalidInput, match="already started"):
        step_complete_by_customer(
            step=step(journey, "choose_slot"),
            customer=ann,
            data=as_data(TUE_14),
            now=TUE_14[0] + timedelta(minutes=5),
        )
    nothing_chosen(journey)


def test_a_second_answer_is_a_conflict_and_keeps_the_first(client, ann, journey, now):
    signed_in(client, ann, now)
    url = f"/portal/journeys/{journey.pk}/steps/choose_slot/"
    assert client.post(url, {"slot": interval(WED_10)}).status_code == 302
    assert client.post(url, {"slot": interval(TUE_14)}).status_code == 409
    slot = step(journey, "choose_slot")
    assert (slot.slot_starts_at, slot.slot_ends_at) == WED_10
    assert step(journey, "visit").loop.due_at == WED_12


# --- the team offers the windows ----------------------------------------------------------


def test_the_team_offers_windows_earliest_first_in_utc(journey, bob, now):
    from zoneinfo import ZoneInfo

    paris = [(a.astimezone(ZoneInfo("Europe/Paris")), b) for a, b in [WED_10, TUE_14]]
    offered = step_windows_offer(
        step=step(journey, "choose_slot"), windows=paris, actor=bob, now=now
    )
    assert offered.windows == [
        {"start": "2026-11-24T14:00:00+00:00", "end": "2026-11-24T16:00:00+00:00"},
        {"start": "2026-11-25T10:00:00+00:00", "end": "2026-11-25T12:00:00+00:00"},
    ]


def test_an_outsider_cannot_offer_windows_and_nothing_changes(journey, charlie, now):
    with pytest.raises(PermissionDenied):
        step_windows_offer(
            step=step(journey, "choose_slot"),
            windows=[(WED_10[0] + timedelta(days=1), WED_10[1] + timedelta(days=1))],
            actor=charlie,
            now=now,
        )
    assert len(step(journey, "choose_slot").windows) == 2


@pytest.mark.parametrize(
    "windows, reason",
    [
        ([], "1 to 20 windows"),
        ([(WED_10[1], WED_10[0])], "ends before it starts"),
        ([(WED_10[0], WED_10[0] + timedelta(hours=13))], "at most 12 hours"),
        (
            [(datetime(2026, 11, 20, 10, tzinfo=UTC), datetime(2026, 11, 20, 12, tzinfo=UTC))],
            "past",
        ),
        ([WED_10, WED_10], "offered twice"),
        ([(WED_10[0] + timedelta(days=400), WED_10[1] + timedelta(days=400))], "a year ahead"),
        (
            [
                (
                    datetime.max.replace(tzinfo=UTC) - timedelta(hours=1),
                    datetime.max.replace(tzinfo=UTC),
                )
            ],
            "a year ahead",
        ),
        ([(WED_10[0].replace(tzinfo=None), WED_10[1])], "time zone"),
        (
            [(WED_10[0] + timedelta(days=i), WED_10[1] + timedelta(days=i)) for i in range(21)],
            "1 to 20",
        ),
    ],
)
def test_bad_windows_are_refused_with_the_reason_and_nothing_changes(
    journey, alice, windows, reason, now
):
    with pytest.raises(InvalidInput) as refused:
        step_windows_offer(step=step(journey, "choose_slot"), windows=windows, actor=alice, now=now)
    assert reason in " ".join(e.reason for e in refused.value.errors)
    assert len(step(journey, "choose_slot").windows) == 2


def test_windows_are_offered_only_on_a_slot_step_that_is_not_done(ann, journey, alice, now):
    with pytest.raises(Conflict):
        step_windows_offer(step=step(journey, "visit"), windows=[WED_10], actor=alice, now=now)
    step_complete_by_customer(
        step=step(journey, "choose_slot"), customer=ann, data=as_data(WED_10), now=now
    )
    with pytest.raises(Conflict):
        step_windows_offer(step=step(journey, "choose_slot"), windows=[TUE_14], now=now)
    assert len(step(journey, "choose_slot").windows) == 2


def test_an_agent_records_the_window_the_customer_chose_by_phone(journey, alice, now):
    with pytest.raises(InvalidInput):
        step_complete(
            step=step(journey, "choose_slot"),
            actor=alice,
            note="she called",
            data={"slot": "Wednesday morning"},
            now=now,
        )
    nothing_chosen(journey)
    step_complete(
        step=step(journey, "choose_slot"),
        actor=alice,
        note="she called",
        data=as_data(WED_10),
        now=now,
    )
    assert step(journey, "visit").loop.due_at == WED_12


# --- the console ---------------------------------------------------------------------------


def test_the_agent_offers_windows_and_sees_the_chosen_one_on_the_case_page(
    client, ann, journey, alice, now
):
    client.force_login(alice)
    url = reverse("journeys:windows", args=[journey.pk, "choose_slot"])
    refused = client.post(url, {"windows": "Wednesday morning"})
    assert refused.status_code == 422 and "2026-12-09 10:00-12:00" in refused.content.decode()
    assert len(step(journey, "choose_slot").windows) == 2

    assert (
        client.post(url, {"windows": "2026-11-26 08:00-10:00\n2026-11-25 10:00-12:00"}).status_code
        == 302
    )
    case_page = client.get(f"/cases/{journey.case.ref}/").content.decode()
    assert "Thu 26 Nov, 08:00-10:00" in case_page and 'name="windows"' in case_page

    step_complete_by_customer(
        step=step(journey, "choose_slot"), customer=ann, data=as_data(WED_10), now=now
    )
    case_page = client.get(f"/cases/{journey.case.ref}/").content.decode()
    assert "Chosen window:</strong> Wed 25 Nov, 10:00-12:00" in case_page
    assert 'name="windows"' not in case_page


def test_an_outsider_cannot_offer_windows_from_the_console(client, journey, charlie):
    client.force_login(charlie)
    url = reverse("journeys:windows", args=[journey.pk, "choose_slot"])
    assert client.post(url, {"windows": "2026-11-26 08:00-10:00"}).status_code == 404
    assert len(step(journey, "choose_slot").windows) == 2


def test_typed_windows_are_read_in_the_given_zone():
    from zoneinfo import ZoneInfo

    assert windows_parse("2026-07-01 10:00-12:00\n\n", zone=ZoneInfo("Europe/London")) == [
        (datetime(2026, 7, 1, 9, tzinfo=UTC), datetime(2026, 7, 1, 11, tzinfo=UTC))
    ]
    with pytest.raises(InvalidInput, match="line 2"):
        windows_parse("2026-07-01 10:00-12:00\nsoon", zone=ZoneInfo("UTC"))
    with pytest.raises(InvalidInput):
        windows_parse("2026-02-30 10:00-12:00", zone=ZoneInfo("UTC"))
    with pytest.raises(InvalidInput, match="line 1"):  # past datetime's range in UTC
        windows_parse("9999-12-31 21:00-23:00", zone=ZoneInfo("America/New_York"))


# --- the template -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"due_by_slot": "nope"}, 'unknown step "nope"'),
        ({"due_by_slot": "test"}, "not a choose_slot step"),
        ({"due_by_slot": "choose_slot", "sla_minutes": 60}, "not both"),
        ({"due_by_slot": 3}, "the key of a choose_slot step"),
    ],
)
def test_a_step_due_by_a_slot_names_a_slot_step_it_waits_for(team, change, reason):
    steps = [dict(s) for s in VISIT["steps"]]
    steps[2] = {**steps[2], **change}
    with pytest.raises(InvalidInput) as refused:
        template_check(definition={**VISIT, "steps": steps})
    assert reason in " ".join(e.reason for e in refused.value.errors)


def test_a_step_due_by_a_slot_it_does_not_wait_for_is_refused(team):
    steps = [dict(s) for s in VISIT["steps"]]
    steps[0] = {**steps[0], "due_by_slot": "choose_slot"}
    with pytest.raises(InvalidInput, match="must wait for"):
        template_check(definition={**VISIT, "steps": steps})


def test_the_template_round_trips_with_its_slot_deadline(team, now):
    template, _ = template_save(definition=VISIT, now=now)
    assert template_export(template)["steps"][2]["due_by_slot"] == "choose_slot"
    assert template_save(definition=template_export(template), now=now)[1] == "unchanged"


def test_free_text_slots_of_before_are_kept_as_what_the_customer_asked(journey):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("lastmile.journeys.migrations.0002_structured_slots")
    JourneyStep.objects.filter(pk=step(journey, "choose_slot").pk).update(
        data={"slot": "Tue 1 Dec, morning"}
    )
    migration.free_text_slots_apart(apps, None)
    assert step(journey, "choose_slot").data == {"slot_requested": "Tue 1 Dec, morning"}


# --- the API --------------------------------------------------------------------------------


def test_the_team_offers_windows_through_the_api_and_reads_the_choice(
    client, ann, journey, alice, charlie, now
):
    from lastmile.api.services import token_create
    from lastmile.people.models import Agent

    def bearer(user):
        agent = Agent.objects.get(user=user)
        return {
            "HTTP_AUTHORIZATION": f"Bearer {token_create(name=user.username, agent=agent, now=now)[1]}"
        }

    alice_auth, charlie_auth = bearer(alice), bearer(charlie)
    url = f"/api/v1/journeys/{journey.pk}/steps/choose_slot/windows"
    thu = {"start": "2026-11-26T08:00:00+00:00", "end": "2026-11-26T10:00:00+00:00"}
    # An outsider is refused, and a window without a time zone is a 422: nothing changes
    outsider = client.post(url, {"windows": [thu]}, content_type="application/json", **charlie_auth)
    assert outsider.status_code in (403, 404)
    naive = {"start": "2026-11-26T08:00:00", "end": "2026-11-26T10:00:00"}
    refused = client.post(url, {"windows": [naive]}, content_type="application/json", **alice_auth)
    assert refused.status_code == 422
    assert len(step(journey, "choose_slot").windows) == 2

    offered = client.post(url, {"windows": [thu]}, content_type="application/json", **alice_auth)
    assert offered.status_code == 200, offered.content
    slot = next(s for s in offered.json()["steps"] if s["key"] == "choose_slot")
    assert slot["windows"] == [{"start": "2026-11-26T08:00:00Z", "end": "2026-11-26T10:00:00Z"}]
    assert slot["chosen_window"] is None

    step_complete_by_customer(
        step=step(journey, "choose_slot"),
        customer=ann,
        data={"slot": {"start": thu["start"], "end": thu["end"]}},
        now=now,
    )
    steps = client.get(f"/api/v1/journeys/{journey.pk}", **alice_auth).json()["steps"]
    chosen = next(s for s in steps if s["key"] == "choose_slot")["chosen_window"]
    assert chosen == {"start": "2026-11-26T08:00:00Z", "end": "2026-11-26T10:00:00Z"}
    assert next(s for s in steps if s["key"] == "visit")["due_at"] == "2026-11-26T10:00:00Z"

"""The agent console through Django's test client: pages, permissions, actions, query counts.

Alice owns the front office's work, Bob is her teammate, Charlie (back office) is an
outsider to it. The views read the clock, so it is pinned with time_machine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.customers.models import Interaction
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import BusinessHours, Loop, LoopEvent, SlaPolicy
from lastmile.loops.services import loop_open, loop_pause
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Real password checks, without PBKDF2's deliberate slowness on every user made."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def chat_policy(db):
    """24/7, 60 minutes to reply, 8 hours to resolve."""
    return SlaPolicy.objects.create(
        name="Chat",
        channel="chat",
        first_reply_minutes=60,
        next_reply_minutes=60,
        resolution_minutes=480,
    )


@pytest.fixture
def chat_case(case):
    case.channel = "chat"
    case.save(update_fields=["channel"])
    return case


def inbound(case, at, body="My card does not work."):
    return interaction_record(
        customer=case.customer,
        case=case,
        channel="chat",
        direction="inbound",
        occurred_at=at,
        now=at,
        body=body,
    )


@pytest.fixture
def reply_loop(chat_case, chat_policy, now):
    """The customer wrote 10 minutes ago: a reply loop is open, due in 50 minutes."""
    inbound(chat_case, now - timedelta(minutes=10))
    return Loop.objects.get(case=chat_case, kind="reply")


def snapshot(case):
    """Every row an action on ``case`` could touch."""
    return (
        list(
            Interaction.objects.filter(customer=case.customer)
            .order_by("pk")
            .values_list("pk", "direction", "body")
        ),
        list(
            Loop.objects.filter(customer=case.customer)
            .order_by("pk")
            .values_list("pk", "state", "paused_at", "due_at", "team_id", "closed_at")
        ),
        LoopEvent.objects.filter(loop__customer=case.customer).count(),
        Case.objects.filter(pk=case.pk).values_list("status", "updated_at").get(),
    )


# --- login and the inbox -----------------------------------------------------------------


def test_the_inbox_redirects_an_anonymous_visitor_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_the_login_form_logs_an_agent_in(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "pw"})
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.get("/").status_code == 200


def test_logging_out_through_the_top_bar_form_ends_the_session(client, alice):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'action="/logout/"' in page
    response = client.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/login/")
    assert client.get("/").status_code == 302


def test_an_admin_sees_every_teams_loops(client, admin_user, other_team, customer, reply_loop, now):
    theirs = loop_open(customer=customer, kind="task", team=other_team, title="Theirs", now=now)
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert f'id="loop-{reply_loop.pk}"' in page and f'id="loop-{theirs.pk}"' in page
    assert "Open loops of every team" in page


def test_the_inbox_shows_my_teams_open_loop_to_owner_and_teammate(client, alice, bob, reply_loop):
    for user in (alice, bob):
        client.force_login(user)
        page = client.get("/").content.decode()
        assert f'id="loop-{reply_loop.pk}"' in page
        assert reply_loop.title in page


def test_the_inbox_hides_another_teams_loops(client, charlie, reply_loop):
    client.force_login(charlie)
    page = client.get("/").content.decode()
    assert f'id="loop-{reply_loop.pk}"' not in page
    assert "Nothing open — every loop is closed" in page


def test_the_inbox_shows_a_countdown_and_the_sla_state(client, alice, reply_loop, now):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert f'data-due="{reply_loop.due_at.isoformat()}">in 50 min</span>' in page
    assert f'<tr class="loop-row" data-sla="ok" id="loop-{reply_loop.pk}">' in page


def test_the_inbox_lists_the_most_urgent_loop_first(client, alice, customer, team, now):
    later = loop_open(
        customer=customer,
        kind="task",
        team=team,
        title="Later",
        now=now,
        due_at=now + timedelta(hours=5),
    )
    sooner = loop_open(
        customer=customer,
        kind="task",
        team=team,
        title="Sooner",
        now=now,
        due_at=now + timedelta(hours=1),
    )
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert page.index(f'id="loop-{sooner.pk}"') < page.index(f'id="loop-{later.pk}"')


def test_the_breached_filter_lists_only_breached_loops(client, alice, customer, team, now):
    late = loop_open(
        customer=customer,
        kind="task",
        team=team,
        title="Late",
        now=now - timedelta(hours=2),
        due_at=now - timedelta(hours=1),
    )
    fine = loop_open(
        customer=customer,
        kind="task",
        team=team,
        title="Fine",
        now=now,
        due_at=now + timedelta(hours=1),
    )
    client.force_login(alice)
    page = client.get("/", {"breached": "1"}).content.decode()
    assert f'id="loop-{late.pk}"' in page
    assert f'id="loop-{fine.pk}"' not in page


def test_the_mine_filter_lists_only_loops_assigned_to_me(client, alice, bob, customer, team, now):
    mine = loop_open(
        customer=customer, kind="task", team=team, assignee=alice, title="Mine", now=now
    )
    bobs = loop_open(
        customer=customer, kind="task", team=team, assignee=bob, title="Bob's", now=now
    )
    client.force_login(alice)
    page = client.get("/", {"mine": "on"}).content.decode()
    assert f'id="loop-{mine.pk}"' in page
    assert f'id="loop-{bobs.pk}"' not in page


def test_the_kind_filter_lists_only_that_kind(client, alice, customer, team, now):
    task = loop_open(customer=customer, kind="task", team=team, title="A task", now=now)
    promise = loop_open(customer=customer, kind="promise", team=team, title="A promise", now=now)
    client.force_login(alice)
    page = client.get("/", {"kind": "promise"}).content.decode()
    assert f'id="loop-{promise.pk}"' in page
    assert f'id="loop-{task.pk}"' not in page


def test_the_team_filter_ignores_a_team_that_is_not_mine(client, alice, other_team, reply_loop):
    client.force_login(alice)
    response = client.get("/", {"team": other_team.slug})
    assert response.status_code == 200
    assert f'id="loop-{reply_loop.pk}"' in response.content.decode()


def test_an_htmx_filter_request_gets_only_the_rows(client, alice, reply_loop):
    client.force_login(alice)
    response = client.get(
        "/", {"kind": "reply"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="inbox-rows"
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="inbox-rows"')
    assert "<html" not in page
    assert f'id="loop-{reply_loop.pk}"' in page
    assert "HX-Request" in response["Vary"]


def test_the_inbox_counts_open_loops_per_sla_state(client, alice, customer, team, now):
    loop_open(
        customer=customer,
        kind="task",
        team=team,
        title="Late",
        now=now - timedelta(hours=2),
        due_at=now - timedelta(hours=1),
    )
    loop_open(customer=customer, kind="task", team=team, title="No deadline", now=now)
    paused = loop_open(
        customer=customer,
        kind="task",
        team=team,
        title="Paused",
        now=now,
        due_at=now + timedelta(hours=3),
    )
    loop_pause(loop=paused, reason="waiting on the customer", now=now)
    client.force_login(alice)
    box = client.get("/").context["box"]
    assert {key: n for key, _, n in box.counts} == {
        "breached": 1,
        "at_risk": 0,
        "ok": 0,
        "paused": 1,
        "none": 1,
    }
    assert box.total == 3


def test_the_inbox_pages_by_fifty(client, alice, customer, team, now):
    for i in range(51):
        loop_open(
            customer=customer,
            kind="task",
            team=team,
            title=f"Task {i}",
            now=now,
            due_at=now + timedelta(minutes=10 + i),
        )
    client.force_login(alice)
    first = client.get("/").context["box"]
    second = client.get("/", {"page": "2"}).context["box"]
    assert (len(first.rows), len(second.rows)) == (50, 1)
    assert second.rows[0].loop.title == "Task 50"


def test_the_inbox_query_count_does_not_grow_with_rows(
    client, alice, team, now, django_assert_max_num_queries
):
    # Given 60 open loops on 60 cases of 60 customers, under a business-hours policy
    hours = BusinessHours.objects.create(
        name="Office", timezone="Europe/Berlin", weekly={"mon": [["09:00", "17:00"]]}
    )
    SlaPolicy.objects.create(
        name="Tasks", kind="task", resolution_minutes=240, business_hours=hours
    )
    for i in range(60):
        case = CaseFactory(team=team, customer=CustomerFactory())
        loop_open(
            customer=case.customer,
            case=case,
            kind="task",
            title=f"Task {i}",
            assignee=alice,
            now=now,
        )
    client.force_login(alice)
    # When the first page (50 rows) is rendered, Then the query count is fixed: session, user,
    # agent, 4x the viewer's teams (one per selector), the SLA counts (5 index-range counts,
    # which also give the page count), the page; which cases are visible costs none here
    # (the viewer's team owns them) — none per row; the bulk bar's choices (agents and their
    # teams, teams, tags): 4
    with django_assert_max_num_queries(19):
        response = client.get("/")
    assert len(response.context["box"].rows) == 50


def test_the_case_page_query_count_does_not_grow_with_loops_and_messages(
    client, alice, other_team, chat_case, chat_policy, now, django_assert_max_num_queries
):
    # Given a case with 12 messages and 10 loops of two teams, each with a trail
    for i in range(6):
        at = now - timedelta(hours=12 - i)
        inbound(chat_case, at, body=f"Question {i}")
        interaction_record(
            customer=chat_case.customer,
            case=chat_case,
            channel="chat",
            direction="outbound",
            occurred_at=at + timedelta(minutes=5),
            now=at + timedelta(minutes=5),
            body=f"Answer {i}",
            actor=alice,
        )
    for i in range(4):
        loop_open(
            customer=chat_case.customer,
            case=chat_case,
            kind="task",
            team=other_team,
            title=f"Task {i}",
            now=now,
            actor=alice,
        )
    client.force_login(alice)
    # When the page is rendered, Then the query count is fixed (23 whatever the number of
    # messages, loops and events: one per read, the viewer's teams once per selector)
    # promises, journeys, articles panels: fixed cost; the edit panel (tags, history, agents
    # and their teams, teams, tag names): 6; open and finished loops read apart (the newest
    # finished only, with their trails): 2
    with django_assert_max_num_queries(48):
        response = client.get(f"/cases/{chat_case.ref}/")
    assert (len(response.context["thread"]), len(response.context["done_loops"])) == (12, 6)


# --- the case page: who may see it -------------------------------------------------------


def test_the_case_page_shows_the_case_to_owner_and_teammate(
    client, alice, bob, reply_loop, chat_case
):
    for user in (alice, bob):
        client.force_login(user)
        response = client.get(f"/cases/{chat_case.ref}/")
        assert response.status_code == 200
        assert chat_case.subject in response.content.decode()


def test_the_case_page_says_who_holds_it_to_an_outsider(client, charlie, chat_case):
    client.force_login(charlie)
    response = client.get(f"/cases/{chat_case.ref}/")
    assert response.status_code == 403
    assert f"{chat_case.ref} is held by {chat_case.team.name}" in response.content.decode()
    assert chat_case.subject not in response.content.decode()


def test_the_case_page_is_404_for_a_reference_that_does_not_exist(client, alice):
    client.force_login(alice)
    assert client.get("/cases/LM-999999/").status_code == 404
    assert client.get("/cases/nonsense/").status_code == 404


OUTSIDER_ACTIONS = [
    ("reply/", {"channel": "chat", "body": "Hello from outside"}),
    ("note/", {"body": "Outside note"}),
    ("task/", {"team": "OTHER_TEAM", "title": "Outside task"}),
    ("status/", {"status": "pending"}),
    ("loops/LOOP/close/", {}),
    ("loops/LOOP/pause/", {"reason": "outside"}),
]


@pytest.mark.parametrize(("action", "data"), OUTSIDER_ACTIONS, ids=[a for a, _ in OUTSIDER_ACTIONS])
def test_an_outsiders_action_on_a_case_is_404_and_changes_nothing(
    client, charlie, other_team, chat_case, reply_loop, action, data
):
    data = {k: (other_team.pk if v == "OTHER_TEAM" else v) for k, v in data.items()}
    before = snapshot(chat_case)
    client.force_login(charlie)
    response = client.post(
        f"/cases/{chat_case.ref}/{action.replace('LOOP', str(reply_loop.pk))}", data
    )
    assert response.status_code == 404
    assert snapshot(chat_case) == before


def test_an_action_needs_the_csrf_token(alice, chat_case, reply_loop):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = snapshot(chat_case)
    response = client.post(f"/cases/{chat_case.ref}/reply/", {"channel": "chat", "body": "Hi"})
    assert response.status_code == 403
    assert snapshot(chat_case) == before


# --- the case page: what it shows --------------------------------------------------------


def test_the_case_page_shows_the_thread_oldest_first_with_channel_and_direction(
    client, alice, chat_case, reply_loop, now
):
    interaction_record(
        customer=chat_case.customer,
        case=chat_case,
        channel="email",
        direction="outbound",
        occurred_at=now - timedelta(minutes=5),
        now=now,
        body="We are on it.",
        actor=alice,
    )
    client.force_login(alice)
    response = client.get(f"/cases/{chat_case.ref}/")
    thread = response.context["thread"]
    assert [(i.channel, i.direction) for i in thread] == [
        ("chat", "inbound"),
        ("email", "outbound"),
    ]
    page = response.content.decode()
    assert page.index("My card does not work.") < page.index("We are on it.")


def test_the_case_page_explains_each_loops_deadline(client, alice, chat_case, reply_loop):
    client.force_login(alice)
    page = client.get(f"/cases/{chat_case.ref}/").content.decode()
    assert (
        "Due Mon 23 Nov 10:50 UTC: 1 h from Mon 23 Nov 09:50 UTC under &#x27;Chat&#x27; (first reply)"
        in page
    )


def test_the_customer_panel_shows_other_teams_loops_and_lists_their_cases_unlinked(
    client, alice, other_team, chat_case, now
):
    theirs = CaseFactory(customer=chat_case.customer, team=other_team, subject="Card replacement")
    task = loop_open(
        customer=chat_case.customer,
        case=theirs,
        kind="task",
        team=other_team,
        title="Ship a new card",
        now=now,
    )
    IdentityFactory(customer=chat_case.customer, value="maya@example.com")
    client.force_login(alice)
    response = client.get(f"/cases/{chat_case.ref}/")
    panel = response.context["panel"]
    assert [r.loop.pk for r in panel.open_loops] == [task.pk]
    assert {(p.case.pk, p.visible) for p in panel.cases} == {
        (chat_case.pk, True),
        (theirs.pk, False),
    }
    page = response.content.decode()
    assert "maya@example.com" in page
    assert f'href="/cases/{theirs.ref}/"' not in page


def test_the_timeline_older_button_loads_the_next_page(client, alice, chat_case, now):
    for i in range(25):
        interaction_record(
            customer=chat_case.customer,
            channel="email",
            direction="inbound",
            occurred_at=now - timedelta(hours=i + 1),
            now=now,
            body=f"Message {i}",
        )
    client.force_login(alice)
    first = client.get(f"/customers/{chat_case.customer_id}/").context["panel"].timeline
    older = client.get(f"/customers/{chat_case.customer_id}/timeline/", {"before": first.next})
    bodies = [r.interaction.body for r in older.context["timeline"].rows]
    assert len(first.rows) == 20
    assert bodies == [f"Message {i}" for i in range(20, 25)]
    assert older.context["timeline"].next is None


# --- the case page: actions ---------------------------------------------------------------


def test_a_reply_records_an_outbound_interaction_and_closes_the_reply_loop(
    client, bob, chat_case, reply_loop, now
):
    client.force_login(bob)
    response = client.post(
        f"/cases/{chat_case.ref}/reply/",
        {"channel": "log:phone", "body": "Your card is unblocked."},
    )
    assert (response.status_code, response["Location"]) == (302, f"/cases/{chat_case.ref}/")
    reply = Interaction.objects.get(case=chat_case, direction="outbound")
    assert (reply.channel, reply.body, reply.actor, reply.occurred_at) == (
        "phone",
        "Your card is unblocked.",
        bob,
        now,
    )
    reply_loop.refresh_from_db()
    assert (reply_loop.state, reply_loop.closed_at) == ("closed", now)


def test_an_empty_reply_is_refused_and_changes_nothing(client, alice, chat_case, reply_loop):
    before = snapshot(chat_case)
    client.force_login(alice)
    response = client.post(f"/cases/{chat_case.ref}/reply/", {"channel": "chat", "body": "   "})
    assert response.status_code == 422
    assert "Write something before sending." in response.content.decode()
    assert snapshot(chat_case) == before


def test_a_note_adds_an_internal_note_and_leaves_the_reply_loop_open(
    client, alice, chat_case, reply_loop
):
    client.force_login(alice)
    response = client.post(
        f"/cases/{chat_case.ref}/note/", {"body": "Customer is travelling until Friday."}
    )
    assert response.status_code == 302
    note = Interaction.objects.get(case=chat_case, direction="note")
    assert (note.body, note.actor) == ("Customer is travelling until Friday.", alice)
    reply_loop.refresh_from_db()
    assert reply_loop.state == "open"


def test_opening_a_task_for_another_team_with_a_deadline_in_hours(
    client, alice, other_team, chat_case, now
):
    client.force_login(alice)
    response = client.post(
        f"/cases/{chat_case.ref}/task/",
        {"team": other_team.pk, "title": "Enable online access", "due_in_hours": "4"},
    )
    assert response.status_code == 302
    task = Loop.objects.get(case=chat_case, kind="task")
    assert (task.team, task.title, task.due_at, task.state) == (
        other_team,
        "Enable online access",
        now + timedelta(hours=4),
        "open",
    )
    assert task.events.get().actor == alice


def test_opening_a_task_without_hours_takes_the_deadline_from_the_sla_policy(
    client, alice, other_team, chat_case, chat_policy, now
):
    client.force_login(alice)
    client.post(f"/cases/{chat_case.ref}/task/", {"team": other_team.pk, "title": "Check the card"})
    task = Loop.objects.get(case=chat_case, kind="task")
    assert (task.sla_policy, task.due_at) == (chat_policy, now + timedelta(minutes=480))


def test_a_loop_of_another_team_on_my_case_is_shown_without_actions_and_cannot_be_closed(
    client, alice, other_team, chat_case, now
):
    task = loop_open(
        customer=chat_case.customer,
        case=chat_case,
        kind="task",
        team=other_team,
        title="Back office step",
        now=now,
    )
    client.force_login(alice)
    page = client.get(f"/cases/{chat_case.ref}/")
    row = next(r for r in page.context["open_loops"] if r.loop.pk == task.pk)
    assert row.can_act is False
    before = snapshot(chat_case)
    assert client.post(f"/cases/{chat_case.ref}/loops/{task.pk}/close/").status_code == 404
    assert snapshot(chat_case) == before


def test_closing_a_loop_from_the_case_page(client, alice, chat_case, reply_loop, now):
    client.force_login(alice)
    response = client.post(
        f"/cases/{chat_case.ref}/loops/{reply_loop.pk}/close/", {"reason": "answered by phone"}
    )
    assert response.status_code == 302
    reply_loop.refresh_from_db()
    assert reply_loop.state == "closed"
    assert reply_loop.events.last().reason == "answered by phone"


def test_closing_a_closed_loop_shows_the_reason_and_changes_nothing(
    client, alice, chat_case, reply_loop
):
    client.force_login(alice)
    client.post(f"/cases/{chat_case.ref}/loops/{reply_loop.pk}/close/", {"why": "duplicate"})
    before = snapshot(chat_case)
    response = client.post(f"/cases/{chat_case.ref}/loops/{reply_loop.pk}/close/")
    assert response.status_code == 409
    assert f"Loop #{reply_loop.pk} is closed, not open" in response.content.decode()
    assert snapshot(chat_case) == before


def test_pausing_a_loop_stops_its_clock_with_the_reason(client, alice, chat_case, reply_loop, now):
    client.force_login(alice)
    response = client.post(
        f"/cases/{chat_case.ref}/loops/{reply_loop.pk}/pause/",
        {"reason": "waiting on the customer"},
    )
    assert response.status_code == 302
    reply_loop.refresh_from_db()
    assert (reply_loop.paused_at, reply_loop.pause_reason, reply_loop.due_at) == (
        now,
        "waiting on the customer",
        None,
    )


def test_pausing_without_a_reason_is_refused_and_changes_nothing(
    client, alice, chat_case, reply_loop
):
    before = snapshot(chat_case)
    client.force_login(alice)
    response = client.post(f"/cases/{chat_case.ref}/loops/{reply_loop.pk}/pause/", {"reason": ""})
    assert response.status_code == 422
    assert "Pausing needs a reason" in response.content.decode()
    assert snapshot(chat_case) == before


def test_resuming_a_paused_loop_moves_its_deadline_by_the_pause(
    client, alice, chat_case, reply_loop, now
):
    loop_pause(loop=reply_loop, reason="waiting on the customer", now=now - timedelta(minutes=5))
    client.force_login(alice)
    response = client.post(f"/cases/{chat_case.ref}/loops/{reply_loop.pk}/resume/")
    assert response.status_code == 302
    reply_loop.refresh_from_db()
    assert (reply_loop.paused_at, reply_loop.due_at) == (None, now + timedelta(minutes=55))


def test_solving_a_case_with_an_open_loop_is_refused_with_the_reason_and_changes_nothing(
    client, alice, chat_case, reply_loop
):
    before = snapshot(chat_case)
    client.force_login(alice)
    response = client.post(f"/cases/{chat_case.ref}/status/", {"status": "solved"})
    assert response.status_code == 409
    assert "1 loop is still open: reply " in response.content.decode()
    assert f"(#{reply_loop.pk})" in response.content.decode()
    assert snapshot(chat_case) == before


def test_setting_a_case_pending_changes_its_status(client, alice, chat_case, reply_loop):
    client.force_login(alice)
    response = client.post(f"/cases/{chat_case.ref}/status/", {"status": "pending"})
    assert response.status_code == 302
    chat_case.refresh_from_db()
    assert chat_case.status == "pending"


def test_an_htmx_action_that_is_refused_comes_back_as_the_page_with_the_reason(
    client, alice, chat_case, reply_loop
):
    client.force_login(alice)
    response = client.post(
        f"/cases/{chat_case.ref}/status/", {"status": "closed"}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert response.status_code == 409
    assert 'id="page-body"' in page and "still open" in page


# --- the customer page -------------------------------------------------------------------


def test_the_customer_page_is_404_for_an_outsider(client, charlie, chat_case, reply_loop):
    client.force_login(charlie)
    assert client.get(f"/customers/{chat_case.customer_id}/").status_code == 404
    assert client.get(f"/customers/{chat_case.customer_id}/timeline/").status_code == 404


def test_a_team_with_a_loop_for_the_customer_can_close_it_from_the_customer_page(
    client, charlie, other_team, chat_case, now
):
    task = loop_open(
        customer=chat_case.customer,
        case=chat_case,
        kind="task",
        team=other_team,
        title="Back office step",
        now=now,
    )
    client.force_login(charlie)
    assert client.get(f"/customers/{chat_case.customer_id}/").status_code == 200
    response = client.post(f"/customers/{chat_case.customer_id}/loops/{task.pk}/close/")
    assert (response.status_code, response["Location"]) == (
        302,
        f"/customers/{chat_case.customer_id}/",
    )
    task.refresh_from_db()
    assert task.state == "closed"


def test_the_customer_page_of_someone_unknown_is_404(client, alice):
    client.force_login(alice)
    assert client.get("/customers/987654/").status_code == 404


def test_an_agent_with_no_team_sees_an_empty_inbox(client, reply_loop):
    loner = AgentFactory(
        user__username="dora", teams=[TeamFactory(name="Cards", slug="cards")]
    ).user
    client.force_login(loner)
    assert client.get("/").context["box"].rows == []


def test_a_loop_card_shows_its_due_time_in_the_zone_of_its_explanation(client, alice, case):
    from lastmile.loops.models import BusinessHours, SlaPolicy
    from lastmile.loops.services import loop_open

    hours = BusinessHours.objects.create(
        name="Kolkata",
        timezone="Asia/Kolkata",
        weekly={d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    )
    SlaPolicy.objects.create(
        name="Tasks IN", kind="task", resolution_minutes=60, business_hours=hours
    )
    now = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 09:30 in Kolkata, a Monday
    loop_open(customer=case.customer, case=case, kind="task", title="Call back", now=now)
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert "due Mon 23 Nov, 10:30 IST" in page and "Due Mon 23 Nov 10:30 IST" in page


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("language", ["en-us", "fr"])
def test_the_short_date_reads_as_djangos_date_filter(zone, language):
    # The console writes "Mon 7 Dec, 09:05" itself (speed); it must say what `date` says.
    from zoneinfo import ZoneInfo

    from django.template import engines
    from django.utils import timezone, translation

    engine = engines["django"]
    theirs = engine.from_string('{{ v|date:"D j M, H:i" }}')
    ours = engine.from_string("{% load console_tags %}{{ v|when }}")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with translation.override(language), timezone.override(ZoneInfo(zone)):
        for hours in range(0, 24 * 400, 37):
            v = start + timedelta(hours=hours, minutes=hours % 60)
            assert ours.render({"v": v}) == theirs.render({"v": v})
        assert ours.render({"v": None}) == theirs.render({"v": None}) == ""

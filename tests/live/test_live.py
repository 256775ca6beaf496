"""Working together: the version stamps the pages poll, presence and typing, @mentions in
notes, notifications (assignments, breaches) and who may see what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine

from lastmile.cases.services import case_assign, case_set_status
from lastmile.customers.services.timeline import interaction_record
from lastmile.live.models import Mention, Notification, Presence
from lastmile.live.selectors import case_version, presence_on_case
from lastmile.live.services import notifications_mark_read, presence_beat
from lastmile.loops.models import Loop
from lastmile.loops.selectors import inbox_version
from lastmile.loops.services import loop_close, loop_open, loops_sweep
from lastmile.people.viewers import SYSTEM
from tests.cases.factories import CaseFactory
from tests.people.factories import AgentFactory, team_lead

pytestmark = pytest.mark.django_db


def note(case, actor, body, now):  # type: ignore[no-untyped-def]
    return interaction_record(
        customer=case.customer,
        case=case,
        channel="note",
        direction="note",
        occurred_at=now,
        now=now,
        body=body,
        actor=actor,
    )


def inbound(case, body, now):  # type: ignore[no-untyped-def]
    return interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body=body,
    )


# --- the case's version ----------------------------------------------------------------------


def test_the_case_version_stays_put_while_nothing_changes(case, alice, now):
    # Given a case with a message
    inbound(case, "Hello", now)
    # When its version is read twice, with a colleague beating on it and a message on
    # another case between the two
    first = case_version(ref=case.ref, viewer=alice)
    presence_beat(user=alice, case=case, typing=True, now=now)
    inbound(CaseFactory(customer=case.customer, team=case.team), "Elsewhere", now)
    # Then it is the same
    assert case_version(ref=case.ref, viewer=alice) == first


def test_the_case_version_moves_when_a_message_arrives(case, alice, now):
    before = case_version(ref=case.ref, viewer=alice)
    inbound(case, "Any news?", now)
    assert case_version(ref=case.ref, viewer=alice) != before


def test_the_case_version_moves_when_a_note_is_added(case, alice, now):
    before = case_version(ref=case.ref, viewer=alice)
    note(case, alice, "Called the branch", now)
    assert case_version(ref=case.ref, viewer=alice) != before


def test_the_case_version_moves_when_a_loop_opens_and_when_it_closes(case, alice, now):
    v0 = case_version(ref=case.ref, viewer=alice)
    loop = loop_open(customer=case.customer, case=case, kind="task", title="Call back", now=now)
    v1 = case_version(ref=case.ref, viewer=alice)
    loop_close(loop=loop, actor=alice, now=now + timedelta(minutes=1))
    v2 = case_version(ref=case.ref, viewer=alice)
    assert len({v0, v1, v2}) == 3


def test_the_case_version_moves_when_the_status_changes(case, alice, now):
    before = case_version(ref=case.ref, viewer=alice)
    case_set_status(case=case, status="pending", actor=alice, now=now)
    assert case_version(ref=case.ref, viewer=alice) != before


def test_the_case_version_moves_when_the_assignee_changes(case, alice, bob, now):
    before = case_version(ref=case.ref, viewer=alice)
    case_assign(case=case, assignee=bob, actor=alice, now=now)
    assert case_version(ref=case.ref, viewer=alice) != before


def test_the_poll_costs_the_same_few_queries_however_long_the_case(
    client, case, alice, now, django_assert_num_queries
):
    # Given a case with 30 messages and 5 loops
    for i in range(30):
        inbound(case, f"message {i}", now + timedelta(seconds=i))
    for i in range(5):
        loop_open(customer=case.customer, case=case, kind="task", title=f"t{i}", now=now)
    client.force_login(alice)
    # When the case page polls, Then: session, user, agent, the viewer's teams, the case's
    # version (one query), the unread count (one query)
    with django_assert_num_queries(6):
        r = client.get("/live/poll", {"case": case.ref})
    assert r.status_code == 200
    assert set(r.json()) == {"case", "unread"}


def test_an_outsider_polling_a_case_gets_404(client, case, charlie):
    client.force_login(charlie)
    r = client.get("/live/poll", {"case": case.ref})
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_the_inbox_stamp_moves_with_the_teams_loops_only(case, alice, charlie, other_team, now):
    # Given the first polls of two agents' inboxes, in two teams
    mine, theirs = inbox_version(viewer=alice), inbox_version(viewer=charlie)
    # When a loop of alice's team opens
    loop_open(customer=case.customer, case=case, kind="task", title="Call back", now=now)
    # Then alice's inbox has a newer event, charlie's not (though his cursor moved on)
    alice_now = inbox_version(viewer=alice, since=mine.cursor)
    charlie_now = inbox_version(viewer=charlie, since=theirs.cursor)
    assert alice_now.last > mine.last
    assert charlie_now.last == theirs.last and charlie_now.cursor > theirs.cursor
    # and a loop of charlie's team moves his
    loop_open(customer=case.customer, kind="task", title="Back", team=other_team, now=now)
    assert inbox_version(viewer=charlie, since=charlie_now.cursor).last > charlie_now.last
    # and nothing more moves alice's
    assert inbox_version(viewer=alice, since=alice_now.cursor).last <= alice_now.last


def test_the_inbox_poll_costs_the_same_few_queries_whatever_the_loops(
    client, case, alice, now, django_assert_num_queries
):
    # Given 20 loops with events
    for i in range(20):
        loop_open(customer=case.customer, case=case, kind="task", title=f"t{i}", now=now)
    client.force_login(alice)
    first = client.get("/live/poll", {"inbox": ""}).json()["inbox"]
    # When the inbox polls again, Then: session, user, agent, the viewer's teams, the newest
    # loop event, the newest of the teams' since the cursor, the unread count
    with django_assert_num_queries(7):
        r = client.get("/live/poll", {"inbox": first["cursor"]})
    assert r.json() == {"inbox": first, "unread": 0}


# --- presence and typing -----------------------------------------------------------------------


def test_a_colleague_on_the_case_is_viewing_until_15_seconds_after_their_last_beat(
    case, alice, bob, now
):
    # Given bob's page beat at now
    presence_beat(user=bob, case=case, typing=False, now=now)
    # Then alice sees him viewing 14 s later, and nobody at 15 s
    [row] = presence_on_case(case=case, viewer=alice, now=now + timedelta(seconds=14))
    assert (row.name, row.typing) == ("bob", False)
    assert presence_on_case(case=case, viewer=alice, now=now + timedelta(seconds=15)) == []


def test_nobody_sees_themselves_on_the_case(case, alice, now):
    presence_beat(user=alice, case=case, typing=False, now=now)
    assert presence_on_case(case=case, viewer=alice, now=now) == []


def test_typing_shows_for_six_seconds_and_a_plain_beat_does_not_hide_it(case, alice, bob, now):
    # Given bob typed at now, and his other tab beat plainly a second later
    presence_beat(user=bob, case=case, typing=True, now=now)
    presence_beat(user=bob, case=case, typing=False, now=now + timedelta(seconds=1))
    # Then he is typing until 6 s after the ping, and only viewing from then
    [row] = presence_on_case(case=case, viewer=alice, now=now + timedelta(seconds=5))
    assert row.typing
    [row] = presence_on_case(case=case, viewer=alice, now=now + timedelta(seconds=6))
    assert not row.typing
    assert Presence.objects.count() == 1


def test_the_heartbeat_answers_who_else_is_here(client, case, alice, bob, now):
    bob.first_name = "Bob"
    bob.save()
    presence_beat(user=bob, case=case, typing=True, now=now)
    client.force_login(alice)
    with time_machine.travel(now + timedelta(seconds=2), tick=False):
        r = client.post(f"/live/cases/{case.ref}/beat", {"typing": "0"})
    assert r.status_code == 200
    assert "Bob is typing…" in r.content.decode()
    assert Presence.objects.filter(user=alice, case=case).exists()


def test_an_outsider_cannot_beat_on_a_case_nor_see_who_is_there(client, case, bob, charlie, now):
    presence_beat(user=bob, case=case, typing=False, now=now)
    client.force_login(charlie)
    r = client.post(f"/live/cases/{case.ref}/beat", {"typing": "1"})
    assert r.status_code == 404
    assert "bob" not in r.content.decode()
    assert not Presence.objects.filter(user=charlie).exists()


def test_leaving_the_page_removes_the_presence_at_once(client, case, alice, now):
    presence_beat(user=alice, case=case, typing=False, now=now)
    client.force_login(alice)
    assert client.post(f"/live/cases/{case.ref}/leave").status_code == 204
    assert not Presence.objects.exists()


# --- mentions --------------------------------------------------------------------------------


def test_a_note_mentioning_a_username_notifies_that_agent(case, alice, bob, now):
    # When alice writes a note naming bob
    n = note(case, alice, "@bob can you call the branch?", now)
    # Then bob has a mention notification on the case, and the note says what matched
    [notification] = Notification.objects.all()
    assert (notification.recipient, notification.kind, notification.case) == (bob, "mention", case)
    assert notification.actor == alice and "can you call the branch" in notification.text
    [m] = Mention.objects.filter(interaction_id=n.pk)
    assert (m.token, m.user, m.matched) == ("bob", bob, "username")


def test_a_unique_first_name_matches_and_a_shared_one_notifies_nobody(case, alice, team, now):
    # Given Roberto (username rob), and two Sams
    rob = AgentFactory(user__username="rob", user__first_name="Roberto", teams=[team]).user
    AgentFactory(user__username="sam1", user__first_name="Sam", teams=[team])
    AgentFactory(user__username="sam2", user__first_name="Sam", teams=[team])
    # When a note names roberto and sam
    n = note(case, alice, "Thanks @Roberto, and @sam.", now)
    # Then Roberto is notified (by first name), nobody for the ambiguous Sam
    assert list(Notification.objects.values_list("recipient", flat=True)) == [rob.pk]
    matched = dict(Mention.objects.filter(interaction_id=n.pk).values_list("token", "matched"))
    assert matched == {"Roberto": "first_name", "sam": "ambiguous"}


def test_a_mention_that_matches_nobody_notifies_nobody(case, alice, now):
    n = note(case, alice, "Ask @nobody about it", now)
    assert not Notification.objects.exists()
    assert Mention.objects.get(interaction_id=n.pk).matched == "none"


def test_a_mentioned_agent_who_may_not_open_the_case_is_not_notified(case, alice, charlie, now):
    # Charlie's team does not see the case: a mention does not widen who may read it
    n = note(case, alice, "@charlie FYI", now)
    assert not Notification.objects.exists()
    assert Mention.objects.get(interaction_id=n.pk).matched == "no_access"


def test_only_notes_mention_and_an_email_address_is_no_mention(case, alice, bob, now):
    inbound(case, "Dear @bob, please help", now)
    note(case, alice, "Customer wrote from bob@example.com", now)
    note(case, alice, "Note to self @alice", now)
    assert not Notification.objects.exists()
    assert list(Mention.objects.values_list("token", "matched")) == [("alice", "self")]


def test_the_case_page_shows_what_each_mention_matched(client, case, alice, bob, now):
    note(case, alice, "@bob and @ghost, look", now)
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert "@bob: bob notified (by username)" in page
    assert "@ghost: no agent by that name, nobody notified" in page


# --- assignments and breaches ------------------------------------------------------------------


def test_a_case_given_to_an_agent_notifies_them_but_taking_it_does_not(case, alice, bob, now):
    # When alice gives the case to bob, Then bob is told
    case_assign(case=case, assignee=bob, actor=alice, now=now)
    [n] = Notification.objects.all()
    assert (n.recipient, n.kind, n.case, n.actor) == (bob, "assigned", case, alice)
    # When alice takes it herself, Then nobody is told
    case_assign(case=case, assignee=alice, actor=alice, now=now + timedelta(minutes=1))
    assert Notification.objects.count() == 1


def test_a_breached_loop_notifies_its_assignee(case, alice, now):
    # Given a loop of alice's, due in an hour
    loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="Call back",
        team=case.team,
        assignee=alice,
        due_at=now + timedelta(hours=1),
        now=now,
    )
    # When the sweeper passes the minute before, Then no breach; the minute of, alice is told
    loops_sweep(now=now + timedelta(minutes=59))
    assert not Notification.objects.filter(text__startswith="SLA breached").exists()
    loops_sweep(now=now + timedelta(hours=1))
    [n] = Notification.objects.filter(text__startswith="SLA breached")
    assert n.recipient == alice and n.case == case and "Call back" in n.text


def test_a_breached_loop_nobody_holds_notifies_the_team_lead(case, team, alice, now):
    lead = team_lead(team, "lena")
    loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="Call back",
        team=team,
        due_at=now + timedelta(hours=1),
        now=now,
    )
    loops_sweep(now=now + timedelta(hours=1))
    breaches = Notification.objects.filter(text__startswith="SLA breached")
    assert list(breaches.values_list("recipient", flat=True)) == [lead.pk]


def test_a_breached_loop_of_a_team_without_lead_notifies_its_members(case, team, alice, bob, now):
    loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="Call back",
        team=team,
        due_at=now + timedelta(hours=1),
        now=now,
    )
    loops_sweep(now=now + timedelta(hours=1))
    breaches = Notification.objects.filter(text__startswith="SLA breached")
    assert sorted(breaches.values_list("recipient", flat=True)) == sorted([alice.pk, bob.pk])
    assert Loop.objects.get().breached_at is not None


# --- the notifications page ---------------------------------------------------------------------


def test_the_notifications_page_lists_mine_only_a_page_at_a_time(client, case, alice, bob, now):
    # Given 30 mentions of bob and one of alice
    for i in range(30):
        note(case, alice, f"@bob number {i}", now + timedelta(seconds=i))
    note(case, bob, "@alice for you", now)
    client.force_login(bob)
    # When bob opens the list, Then 25 of his, newest first; 5 more on page 2; never alice's
    first = client.get("/live/notifications/")
    assert len(first.context["page"]) == 25 and "number 29" in first.content.decode()
    second = client.get("/live/notifications/", {"page": 2})
    assert len(second.context["page"]) == 5
    assert "for you" not in first.content.decode() + second.content.decode()
    assert "30 unread" in first.content.decode()


def test_mark_all_read_marks_only_the_viewers(client, case, alice, bob, now):
    note(case, alice, "@bob one", now)
    note(case, alice, "@bob two", now)
    note(case, bob, "@alice three", now)
    client.force_login(bob)
    r = client.post("/live/notifications/read/")
    assert r.status_code == 302
    assert not Notification.objects.filter(recipient=bob, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=alice, read_at__isnull=True).count() == 1
    assert client.get("/live/poll").json() == {"unread": 0}


def test_a_notifications_link_is_a_plain_get_of_its_case_that_reads_nothing(
    client, case, alice, bob, now
):
    # Given an unread mention of bob
    note(case, alice, "@bob look", now)
    n = Notification.objects.get()
    client.force_login(bob)
    # When bob lists his notifications, Then the link goes straight to the case, and only a
    # POST (the beacon's URL, the list's button) reads it
    page = client.get("/live/notifications/").content.decode()
    assert f'href="/cases/{case.ref}/" data-read-url="/live/notifications/{n.pk}/read"' in page
    assert f'action="/live/notifications/{n.pk}/read"' in page
    # When a GET reaches the read URL (a prefetch, an image tag elsewhere), Then it is refused
    # and the notification stays unread
    assert client.get(f"/live/notifications/{n.pk}/read").status_code == 405
    n.refresh_from_db()
    assert n.read_at is None
    assert client.get("/live/poll").json() == {"unread": 1}


def test_marking_a_notification_read_is_a_post_checked_for_csrf(case, alice, bob, now):
    from django.test import Client

    note(case, alice, "@bob look", now)
    n = Notification.objects.get()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    # A POST without the token is refused, nothing read
    assert strict.post(f"/live/notifications/{n.pk}/read").status_code == 403
    n.refresh_from_db()
    assert n.read_at is None
    # With it (the beacon): 204 and read; from the list's button: back to the list
    page = strict.get("/live/notifications/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    r = strict.post(f"/live/notifications/{n.pk}/read", {"csrfmiddlewaretoken": token})
    assert r.status_code == 204
    n.refresh_from_db()
    assert n.read_at is not None
    r = strict.post(
        f"/live/notifications/{n.pk}/read", {"csrfmiddlewaretoken": token, "back": "list"}
    )
    assert r.status_code == 302 and r["Location"] == "/live/notifications/"


def test_another_agents_notification_cannot_be_marked_read(client, case, alice, bob, now):
    note(case, alice, "@bob look", now)
    n = Notification.objects.get()
    client.force_login(alice)
    assert client.post(f"/live/notifications/{n.pk}/read").status_code == 404
    n.refresh_from_db()
    assert n.read_at is None


def test_the_top_bar_list_holds_the_latest(client, case, alice, bob, now):
    note(case, alice, "@bob latest news", now)
    client.force_login(bob)
    r = client.get("/live/notifications/", {"menu": "1"})
    assert "latest news" in r.content.decode() and "Mark all read" in r.content.decode()


def test_mark_read_service_counts_what_it_marked(case, alice, bob, now):
    note(case, alice, "@bob one", now)
    assert notifications_mark_read(user=bob, now=now) == 1
    assert notifications_mark_read(user=bob, now=now) == 0


def test_the_admin_lists_notifications_read_only(staff, case, alice, bob, now):
    note(case, alice, "@bob one", now)
    assert staff.get("/admin/live/notification/").status_code == 200
    assert staff.get("/admin/live/notification/add/").status_code == 403


def test_the_case_page_carries_what_live_js_needs(client, case, alice):
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/").content.decode()
    assert f'data-version="{case_version(ref=case.ref, viewer=SYSTEM)}"' in page
    assert f'data-beat-url="/live/cases/{case.ref}/beat"' in page

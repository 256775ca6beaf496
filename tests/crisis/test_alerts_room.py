"""The alerts list and the crisis room: who sees them, the chart, the unanswered mentions in
order of influence, acknowledging, and the bulk actions (assign, reply, mark handled)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.crisis.models import Alert, AlertState, SavedResponse
from lastmile.crisis.services.alerts import public_url
from lastmile.crisis.services.incidents import incident_note_create, incident_update_post
from lastmile.customers.models import Customer, Identity, Interaction
from lastmile.listening.models import Mention
from lastmile.loops.models import Loop, LoopEvent
from tests.crisis.mentions import (
    addressed_mention,
    alert_for,
    authors_make,
    social_policy,
    spike,
    term_make,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def room(team, alice, bob, now):
    team.lead = alice
    team.save(update_fields=["lead"])
    social_policy()
    term = term_make(team=team, now=now)
    authors = authors_make(5, now=now)
    spike_at = now - timedelta(minutes=30)
    burst = spike(term, authors, start=spike_at, buckets=1, per_bucket=10, now=now)
    addressed = {
        handle: addressed_mention(
            term,
            handle=handle,
            influence=influence,
            posted_at=now - timedelta(minutes=25),
            now=now,
        )
        for handle, influence in (("quiet", 20.0), ("famous", 80.0), ("middling", 50.0))
    }
    alert = alert_for(term, now=now, bucket_start=spike_at)
    return {"term": term, "alert": alert, "addressed": addressed, "burst": burst}


def login(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


def body(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


# --- who sees what --------------------------------------------------------------------------


def test_a_team_member_sees_the_alert_in_the_list_and_an_outsider_does_not(
    client, room, bob, charlie
):
    page = body(login(client, bob).get("/alerts/"))
    assert f"/alerts/{room['alert'].pk}/" in page
    page = body(login(client, charlie).get("/alerts/"))
    assert f"/alerts/{room['alert'].pk}/" not in page
    assert "No alert here" in page


def test_an_outsider_gets_404_for_the_room_and_cannot_acknowledge(client, room, charlie):
    alert = room["alert"]
    c = login(client, charlie)
    assert c.get(f"/alerts/{alert.pk}/").status_code == 404
    assert c.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 404
    alert.refresh_from_db()
    assert alert.state == AlertState.OPEN and alert.ack_loop.state == "open"


def test_the_room_needs_a_login(client, room):
    r = client.get(f"/alerts/{room['alert'].pk}/")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_an_admin_sees_every_teams_alert(client, room, admin_user):
    assert login(client, admin_user).get(f"/alerts/{room['alert'].pk}/").status_code == 200


# --- the room -----------------------------------------------------------------------------------


def test_the_room_shows_why_the_chart_data_and_the_top_mentions(client, room, bob):
    alert = room["alert"]
    page = body(login(client, bob).get(f"/alerts/{alert.pk}/"))
    assert 'id="alert-chart"' in page and "crisis/chart.umd.min.js" in page
    series = json.loads(re.search(r'id="alert-series"[^>]*>(.*?)</script>', page, re.S).group(1))
    i = series["alert_index"]
    assert series["starts"][i] == alert.bucket_start.isoformat()
    assert series["volume"][i] == 10 and series["negative"][i] == 8
    assert sum(series["volume"]) == 13  # the burst and the three addressed mentions
    assert "80% of the mentions were negative" in page and "fires at 0.50" in page
    # the most liked of the bucket's eight negative mentions (likes 0 to 7) leads
    top = Mention.objects.get(pk=alert.top_mentions[0])
    assert top.likes == 7 and top.text in page


def test_unanswered_mentions_come_most_influential_first_with_their_sla(client, room, bob):
    page = body(login(client, bob).get(f"/alerts/{room['alert'].pk}/"))
    order = [page.index(f"@{h}<") for h in ("famous", "middling", "quiet")]
    assert order == sorted(order)
    # each addressed mention shows its reply loop's countdown (1-hour social SLA)
    famous = room["addressed"]["famous"]
    row = page[page.index(f'id="mention-{famous.pk}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-due="' in row and "On track" in row


def test_the_room_costs_the_same_queries_however_many_mentions_are_unanswered(
    client, room, bob, now, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = login(client, bob)
    url = f"/alerts/{room['alert'].pk}/"
    c.get(url)
    with CaptureQueriesContext(connection) as few:
        c.get(url)
    for i in range(6):
        addressed_mention(
            room["term"],
            handle=f"more{i}",
            influence=float(i),
            posted_at=now - timedelta(minutes=20),
            now=now,
        )
    with django_assert_max_num_queries(len(few)):
        page = body(c.get(url))
    assert "@more5<" in page


# --- acknowledging ------------------------------------------------------------------------------


def test_a_team_member_acknowledges_from_the_room(client, room, bob):
    alert = room["alert"]
    r = login(client, bob).post(f"/alerts/{alert.pk}/acknowledge/", follow=True)
    assert r.status_code == 200 and "Alert acknowledged" in body(r)
    alert.refresh_from_db()
    assert alert.state == AlertState.ACKNOWLEDGED and alert.acknowledged_by == bob
    assert Loop.objects.get(pk=alert.ack_loop_id).state == "closed"
    assert 'id="acknowledge"' not in body(r)


def test_acknowledging_twice_says_so_with_409(client, room, bob):
    alert = room["alert"]
    c = login(client, bob)
    c.post(f"/alerts/{alert.pk}/acknowledge/")
    r = c.post(f"/alerts/{alert.pk}/acknowledge/")
    assert r.status_code == 409 and "already acknowledged" in body(r)


# --- bulk actions -------------------------------------------------------------------------------


def post_bulk(client, alert, **data):  # type: ignore[no-untyped-def]
    return client.post(f"/alerts/{alert.pk}/mentions/", data)


def test_assigning_gives_the_reply_loops_to_a_teammate(client, room, alice, bob):
    alert, addressed = room["alert"], room["addressed"]
    ids = [addressed["famous"].pk, addressed["quiet"].pk]
    r = post_bulk(login(client, alice), alert, action="assign", mentions=ids, assignee=bob.pk)
    assert r.status_code == 302
    for m in Mention.objects.filter(pk__in=ids):
        assert m.reply_loop.assignee == bob
        assert LoopEvent.objects.filter(loop=m.reply_loop, kind="reassigned", actor=alice).exists()
    assert addressed["middling"].reply_loop.assignee is None


def test_assigning_to_someone_outside_the_team_is_refused_and_changes_nothing(
    client, room, alice, charlie
):
    alert, famous = room["alert"], room["addressed"]["famous"]
    r = post_bulk(
        login(client, alice), alert, action="assign", mentions=[famous.pk], assignee=charlie.pk
    )
    assert r.status_code == 422
    famous.reply_loop.refresh_from_db()
    assert famous.reply_loop.assignee is None


def test_assigning_a_mention_with_no_reply_loop_refuses_the_whole_batch(client, room, alice, bob):
    alert, famous = room["alert"], room["addressed"]["famous"]
    plain = room["burst"][0]  # not addressed to the brand: no case, no loop
    r = post_bulk(
        login(client, alice),
        alert,
        action="assign",
        mentions=[famous.pk, plain.pk],
        assignee=bob.pk,
    )
    assert r.status_code == 409 and "no open reply loop" in body(r)
    famous.reply_loop.refresh_from_db()
    assert famous.reply_loop.assignee is None


def test_a_mention_of_another_term_cannot_be_touched_from_this_room(client, room, alice, team, now):
    other = term_make(team=team, now=now, name="Other", kind="product", handle="")
    stranger = addressed_mention(other, handle="stranger", influence=1.0, posted_at=now, now=now)
    r = post_bulk(
        login(client, alice), room["alert"], action="handle", mentions=[stranger.pk], reason="x"
    )
    assert r.status_code == 422
    stranger.refresh_from_db()
    assert stranger.handled_at is None


def test_replying_from_a_saved_response_records_the_reply_and_closes_the_loops(
    client, room, alice, bob, now
):
    alert, addressed = room["alert"], room["addressed"]
    # Given a published note, and a saved response that links to it
    note = incident_note_create(alert=alert, title="Card payments failing", actor=alice, now=now)
    incident_update_post(note=note, body="We know.", publish=True, actor=alice, now=now)
    response = SavedResponse.objects.create(
        title="Outage",
        body="Sorry {handle}, we know: {status_url}",
        team=alert.team,
        created_at=now,
    )
    ids = [addressed["famous"].pk, addressed["middling"].pk]
    # When bob replies to two mentions with it
    r = post_bulk(login(client, bob), alert, action="reply", mentions=ids, response=response.pk)
    assert r.status_code == 302
    # Then each got an outbound interaction on its case, with the link
    for m in Mention.objects.filter(pk__in=ids).select_related("author", "reply_loop"):
        out = Interaction.objects.get(case=m.interaction.case, direction="outbound")
        link = public_url(f"/status/{note.slug}")
        assert out.body == f"Sorry @{m.author.handle}, we know: {link}"
        assert out.actor == bob and out.data["saved_response"] == response.pk
        assert m.reply_loop.state == "closed"
        assert m.replied_at is not None
    # and the third is still waiting
    assert Mention.objects.get(pk=addressed["quiet"].pk).replied_at is None


def test_a_reply_linking_to_an_unpublished_status_page_is_refused(client, room, bob, now):
    alert, famous = room["alert"], room["addressed"]["famous"]
    response = SavedResponse.objects.create(
        title="Outage", body="See {status_url}", team=alert.team, created_at=now
    )
    r = post_bulk(
        login(client, bob), alert, action="reply", mentions=[famous.pk], response=response.pk
    )
    assert r.status_code == 409 and "publish the incident note first" in body(r)
    assert not Interaction.objects.filter(direction="outbound").exists()
    famous.reply_loop.refresh_from_db()
    assert famous.reply_loop.state == "open"


def saved(team, now, body="Sorry {handle}, we are on it."):  # type: ignore[no-untyped-def]
    return SavedResponse.objects.create(title="On it", body=body, team=team, created_at=now)


def counts() -> dict[str, int]:
    return {
        "customers": Customer.objects.count(),
        "identities": Identity.objects.count(),
        "cases": Case.objects.count(),
        "interactions": Interaction.objects.count(),
        "loops": Loop.objects.count(),
    }


def test_replying_to_a_mention_on_no_case_opens_a_case_for_its_author(client, room, bob, now):
    # Given a mention nobody addressed to the brand: its author is no customer, it is on no case
    alert = room["alert"]
    plain = Mention.objects.select_related("author").get(pk=room["burst"][0].pk)
    assert plain.author.customer_id is None and plain.interaction_id is None
    before = counts()
    # When bob replies to it from a saved response
    r = post_bulk(
        login(client, bob),
        alert,
        action="reply",
        mentions=[plain.pk],
        response=saved(alert.team, now).pk,
    )
    assert r.status_code == 302
    # Then its author is a customer, found by their social handle as the import finds them
    plain.refresh_from_db()
    ident = Identity.objects.get(kind="social", network="twitter", value=plain.author.handle)
    customer = ident.customer
    assert plain.customer == customer and plain.author.customer == customer
    # on exactly one new case of the alert's team, holding the mention and the reply
    case = Case.objects.get(customer=customer)
    assert case.customer == customer and case.team == alert.team
    assert case.channel == "social:twitter"
    assert plain.case == case and plain.interaction.case == case
    thread = list(Interaction.objects.filter(case=case).order_by("occurred_at", "pk"))
    assert [(i.direction, i.body) for i in thread] == [
        ("inbound", plain.text),
        ("outbound", f"Sorry @{plain.author.handle}, we are on it."),
    ]
    assert thread[0].occurred_at == plain.posted_at and thread[1].actor == bob
    # on the customer's timeline
    page = body(client.get(f"/customers/{customer.pk}/"))
    assert f"Sorry @{plain.author.handle}, we are on it." in page
    # and the reply closed the reply loop the mention opened; the mention is answered
    assert plain.reply_loop.state == "closed" and plain.reply_loop.case == case
    assert plain.replied_at == now
    after = counts()
    assert after["customers"] == before["customers"] + 1
    assert after["cases"] == before["cases"] + 1
    assert after["interactions"] == before["interactions"] + 2


def test_replying_twice_to_a_mention_opens_one_case_and_sends_one_reply(client, room, bob, now):
    alert, plain = room["alert"], room["burst"][0]
    response = saved(alert.team, now)
    c = login(client, bob)
    assert (
        post_bulk(c, alert, action="reply", mentions=[plain.pk], response=response.pk).status_code
        == 302
    )
    before = counts()
    # the second click (a double submit, another tab) is refused and writes nothing
    r = post_bulk(c, alert, action="reply", mentions=[plain.pk], response=response.pk)
    assert r.status_code == 409 and "already replied" in body(r)
    assert counts() == before
    plain.refresh_from_db()
    assert Case.objects.filter(customer=plain.customer).count() == 1
    assert Interaction.objects.filter(direction="outbound").count() == 1


def test_two_mentions_of_one_author_are_answered_on_one_case(client, room, bob, now):
    alert = room["alert"]
    # the burst's author user0 posted the first and the sixth of its mentions
    first, sixth = room["burst"][0], room["burst"][5]
    assert first.author_id == sixth.author_id
    r = post_bulk(
        login(client, bob),
        alert,
        action="reply",
        mentions=[first.pk, sixth.pk],
        response=saved(alert.team, now).pk,
    )
    assert r.status_code == 302
    first.refresh_from_db()
    case = Case.objects.get(customer=first.customer)
    assert set(
        Mention.objects.filter(pk__in=[first.pk, sixth.pk]).values_list("case", flat=True)
    ) == {case.pk}
    assert Interaction.objects.filter(case=case, direction="outbound").count() == 2
    assert not Loop.objects.filter(case=case, state="open").exists()


def test_an_author_who_is_a_customer_already_gets_no_second_customer(client, room, bob, now):
    from lastmile.customers.identities import identity_normalize
    from lastmile.customers.services.customers import customer_resolve

    alert, plain = (
        room["alert"],
        Mention.objects.select_related("author").get(pk=room["burst"][0].pk),
    )
    known = customer_resolve(
        identities=[identity_normalize("social", plain.author.handle, "twitter")],
        now=now,
        display_name="Known",
    ).customer
    customers = Customer.objects.count()
    post_bulk(
        login(client, bob),
        alert,
        action="reply",
        mentions=[plain.pk],
        response=saved(alert.team, now).pk,
    )
    assert Customer.objects.count() == customers
    assert Mention.objects.get(pk=plain.pk).case.customer == known


def test_an_outsider_cannot_reply_to_a_mention_on_no_case_and_nothing_is_written(
    client, room, charlie, now
):
    alert, plain = room["alert"], room["burst"][0]
    response = saved(None, now)
    before = counts()
    r = post_bulk(
        login(client, charlie), alert, action="reply", mentions=[plain.pk], response=response.pk
    )
    assert r.status_code == 404
    assert counts() == before
    plain.refresh_from_db()
    assert plain.case_id is None and plain.replied_at is None and plain.customer_id is None


def test_a_refused_batch_opens_no_case(client, room, bob, now):
    # One mention of the batch was answered already: the whole batch is refused, and the
    # case the other one would have needed is not opened.
    alert, plain, famous = room["alert"], room["burst"][0], room["addressed"]["famous"]
    Mention.objects.filter(pk=famous.pk).update(replied_at=now)
    before = counts()
    r = post_bulk(
        login(client, bob),
        alert,
        action="reply",
        mentions=[plain.pk, famous.pk],
        response=saved(alert.team, now).pk,
    )
    assert r.status_code == 409
    assert counts() == before


def test_every_unanswered_mention_has_a_reply_button(client, room, bob, now):
    saved(room["alert"].team, now)
    page = body(login(client, bob).get(f"/alerts/{room['alert'].pk}/"))
    rows = re.findall(r'<tr class="loop-row mention-row".*?</tr>', page, re.S)
    assert len(rows) == 13  # the burst and the three addressed mentions
    for row in rows:
        pk = re.search(r'id="mention-(\d+)"', row).group(1)
        assert f'name="reply_to" value="{pk}"' in row


def test_the_row_reply_button_replies_to_that_mention_only(client, room, bob, now):
    alert, plain, other = room["alert"], room["burst"][0], room["burst"][1]
    response = saved(alert.team, now)
    # the row's button wins over whatever boxes are ticked
    r = login(client, bob).post(
        f"/alerts/{alert.pk}/mentions/",
        {"reply_to": plain.pk, "mentions": [other.pk], "response": response.pk},
    )
    assert r.status_code == 302
    assert Mention.objects.get(pk=plain.pk).replied_at == now
    assert Mention.objects.get(pk=other.pk).replied_at is None


def test_marking_handled_needs_a_reason(client, room, bob):
    famous = room["addressed"]["famous"]
    r = post_bulk(login(client, bob), room["alert"], action="handle", mentions=[famous.pk])
    assert r.status_code == 422 and "why no reply is needed" in body(r).lower()
    famous.refresh_from_db()
    assert famous.handled_at is None


def test_marking_handled_takes_mentions_off_the_list_and_ends_their_reply_loops(client, room, bob):
    alert, famous = room["alert"], room["addressed"]["famous"]
    plain = room["burst"][0]
    c = login(client, bob)
    r = post_bulk(c, alert, action="handle", mentions=[famous.pk, plain.pk], reason="duplicate")
    assert r.status_code == 302
    famous.refresh_from_db()
    plain.refresh_from_db()
    assert famous.handled_at is not None and plain.handled_at is not None
    assert famous.reply_loop.state == "cancelled"
    assert "duplicate" in LoopEvent.objects.get(loop=famous.reply_loop, kind="cancelled").reason
    page = body(c.get(f"/alerts/{alert.pk}/"))
    assert f'id="mention-{famous.pk}"' not in page and f'id="mention-{plain.pk}"' not in page


def test_selecting_nothing_is_a_422(client, room, bob):
    r = post_bulk(login(client, bob), room["alert"], action="handle", reason="x")
    assert r.status_code == 422 and "Select at least one mention" in body(r)


def test_the_nav_links_to_the_alerts(client, bob):
    page = body(login(client, bob).get("/"))
    assert 'href="/alerts/"' in page


def test_alerts_list_filters_by_state(client, room, bob, now):
    from lastmile.crisis.services.alerts import alert_resolve

    alert_resolve(alert=room["alert"], actor=bob, now=now)
    c = login(client, bob)
    assert f"/alerts/{room['alert'].pk}/" not in body(c.get("/alerts/"))
    assert f"/alerts/{room['alert'].pk}/" in body(c.get("/alerts/?state=resolved"))
    assert Alert.objects.get().state == AlertState.RESOLVED


@pytest.mark.parametrize(
    "path",
    [
        "crisis/detectorstate",
        "crisis/alert",
        "crisis/savedresponse",
        "crisis/incidentnote",
        "crisis/incidentaudit",
    ],
)
def test_the_admin_screens_render(client, room, admin_user, path):
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    c = login(client, admin_user)
    assert c.get(f"/admin/{path}/").status_code == 200
    assert c.get(f"/admin/{path}/add/").status_code in (200, 403)
    if path == "crisis/alert":
        assert c.get(f"/admin/{path}/{room['alert'].pk}/change/").status_code == 200

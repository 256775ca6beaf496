"""The console's case lists, edit panel, bulk actions and "held by" (console/case_views.py)."""

from __future__ import annotations

import pytest

from lastmile.cases.models import Case, CaseEvent, SavedView
from lastmile.cases.services import case_tags_set
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop, LoopKind
from lastmile.loops.services import loop_open
from tests.cases.factories import CaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice)
    return client


def test_front_office_opens_a_back_office_case_where_its_call_note_is(
    as_alice, customer, team, other_team, alice, now
):
    # given a customer of the front office, with a back-office case with alice's call note
    CaseFactory(customer=customer, team=team)
    case = CaseFactory(customer=customer, team=other_team)
    interaction_record(
        customer=customer,
        channel="phone",
        direction="note",
        occurred_at=now,
        now=now,
        body="Called about the refund",
        case=case,
        actor=alice,
    )
    # then the case page opens (a 404 before), and the customer page links it
    assert as_alice.get(f"/cases/{case.ref}/").status_code == 200
    page = as_alice.get(f"/customers/{customer.pk}/").content.decode()
    assert f'href="/cases/{case.ref}/"' in page


def test_a_case_i_may_not_open_says_who_holds_it_and_nothing_of_it(
    as_alice, customer, other_team, team, now
):
    theirs = CaseFactory(customer=customer, team=other_team, subject="Secret subject")
    CaseFactory(customer=customer, team=team)
    r = as_alice.get(f"/cases/{theirs.ref}/")
    assert r.status_code == 403
    body = r.content.decode()
    assert "held by Back office" in body and "Secret subject" not in body
    # the customer page lists it as held, without its subject
    page = as_alice.get(f"/customers/{customer.pk}/").content.decode()
    assert "held by Back office" in page and "Secret subject" not in page
    # and a reference that does not exist is still a plain 404
    assert as_alice.get("/cases/LM-999999/").status_code == 404


def test_the_case_list_filters_by_scope_tag_and_breached(
    as_alice, customer, team, other_team, alice, now
):
    mine = CaseFactory(customer=customer, team=team, assignee=alice, subject="Mine")
    free = CaseFactory(customer=customer, team=team, subject="Free")
    CaseFactory(customer=customer, team=other_team, subject="Theirs")
    case_tags_set(case=free, tags=["vip"], actor=alice, now=now)
    from datetime import timedelta

    loop_open(
        customer=customer,
        kind=LoopKind.TASK,
        title="Late",
        case=mine,
        team=team,
        due_at=now - timedelta(minutes=1),
        now=now - timedelta(hours=1),
    )

    def listed(qs: str) -> set[str]:
        r = as_alice.get(f"/cases/?{qs}")
        assert r.status_code == 200
        return {c.subject for c in (mine, free) if c.ref in r.content.decode()} | (
            {"Theirs"} if "Theirs" in r.content.decode() else set()
        )

    assert listed("") == {"Mine", "Free"}
    assert listed("scope=mine") == {"Mine"}
    assert listed("scope=unassigned") == {"Free"}
    assert listed("tag=vip") == {"Free"}
    assert listed("breached=1") == {"Mine"}
    assert listed("sort=due") == {"Mine", "Free"}


def test_the_sidebar_counts_and_a_saved_view(as_alice, customer, team, alice):
    CaseFactory(customer=customer, team=team, assignee=alice)
    CaseFactory(customer=customer, team=team)
    r = as_alice.post("/case-lists/views/", {"name": "Urgent ones", "query": "priority=urgent"})
    assert r.status_code == 302
    view = SavedView.objects.get()
    assert (view.owner, view.query) == (alice, "priority=urgent")
    page = as_alice.get("/cases/").content.decode()
    assert "Urgent ones" in page
    listing = as_alice.get("/cases/").context["listing"]
    counts = {v.key: v.count for v in listing.sidebar}
    assert counts == {"mine": 1, "unassigned": 1, "teams": 2}
    assert [v.count for v in listing.saved] == [0]


def test_a_team_view_is_shared_with_teammates_only(client, alice, bob, charlie, team):
    client.force_login(alice)
    client.post("/case-lists/views/", {"name": "Team VIP", "query": "tag=vip", "team": "front"})
    client.force_login(bob)
    assert [v.label for v in client.get("/cases/").context["listing"].saved] == ["Team VIP"]
    client.force_login(charlie)
    assert client.get("/cases/").context["listing"].saved == []


def test_the_case_list_pages_and_its_query_count_is_flat(
    as_alice, customer, team, django_assert_max_num_queries
):
    for _ in range(60):
        CaseFactory(customer=customer, team=team)
    r = as_alice.get("/cases/?page=2")
    assert len(r.context["listing"].rows) == 10
    with django_assert_max_num_queries(30):
        as_alice.get("/cases/")


def test_editing_on_the_case_page_goes_through_the_services(as_alice, case, alice, bob, now):
    assert as_alice.post(f"/cases/{case.ref}/take/").status_code == 302
    as_alice.post(f"/cases/{case.ref}/priority/", {"priority": "urgent"})
    as_alice.post(f"/cases/{case.ref}/tags/", {"tags": "Billing, vip"})
    as_alice.post(f"/cases/{case.ref}/subject/", {"subject": "New subject"})
    as_alice.post(f"/cases/{case.ref}/assign/", {"assignee": "bob"})
    case.refresh_from_db()
    assert (case.assignee, case.priority, case.subject) == (bob, "urgent", "New subject")
    kinds = list(CaseEvent.objects.filter(case=case).values_list("kind", "actor"))
    assert ("priority", alice.pk) in kinds and ("tags", alice.pk) in kinds
    page = as_alice.get(f"/cases/{case.ref}/").content.decode()
    assert "History" in page and "set priority normal → urgent" in page


def test_a_bad_edit_is_a_422_and_changes_nothing(as_alice, case):
    r = as_alice.post(f"/cases/{case.ref}/priority/", {"priority": "extreme"})
    assert r.status_code == 422
    assert Case.objects.get().priority == "normal"


def test_bulk_assign_on_the_case_list(as_alice, customer, team, bob):
    cases = [CaseFactory(customer=customer, team=team) for _ in range(3)]
    bob.first_name = "Ana"
    bob.save()
    r = as_alice.post(
        "/case-lists/bulk/",
        {"action": "assign", "assignee": "bob", "ids": [c.pk for c in cases], "next": "/cases/"},
        follow=True,
    )
    assert "3 cases assigned to Ana." in r.content.decode()
    assert set(Case.objects.values_list("assignee__username", flat=True)) == {"bob"}


def test_bulk_solve_refused_explains_and_changes_nothing(as_alice, customer, team, now):
    cases = [CaseFactory(customer=customer, team=team) for _ in range(2)]
    loop_open(
        customer=customer, kind=LoopKind.REPLY, title="Reply", case=cases[0], team=team, now=now
    )
    r = as_alice.post(
        "/case-lists/bulk/",
        {"action": "status", "status": "solved", "ids": [c.pk for c in cases]},
        follow=True,
    )
    body = r.content.decode()
    assert cases[0].ref in body and "Nothing was changed" in body
    assert set(Case.objects.values_list("status", flat=True)) == {"open"}


def test_bulk_close_loops_from_the_inbox_with_a_reason(as_alice, customer, team, now):
    loops = [
        loop_open(customer=customer, kind=LoopKind.TASK, title=f"T{i}", team=team, now=now)
        for i in range(2)
    ]
    page = as_alice.get("/").content.decode()
    assert 'class="bulk-check"' in page
    r = as_alice.post(
        "/inbox/bulk/",
        {"action": "close", "reason": "duplicate", "ids": [lp.pk for lp in loops]},
        follow=True,
    )
    assert "2 loops closed: duplicate." in r.content.decode()
    assert set(Loop.objects.values_list("state", flat=True)) == {"closed"}


def test_bulk_on_another_teams_loop_is_refused_whole(as_alice, customer, team, other_team, now):
    mine = loop_open(customer=customer, kind=LoopKind.TASK, title="Mine", team=team, now=now)
    theirs = loop_open(
        customer=customer, kind=LoopKind.TASK, title="Theirs", team=other_team, now=now
    )
    as_alice.post("/inbox/bulk/", {"action": "close", "reason": "x", "ids": [mine.pk, theirs.pk]})
    assert set(Loop.objects.values_list("state", flat=True)) == {"open"}


def test_sorting_by_due_puts_the_earliest_open_deadline_first_and_none_last(
    as_alice, customer, team, now
):
    from datetime import timedelta

    later, sooner, none = (CaseFactory(customer=customer, team=team) for _ in range(3))
    for case, hours in ((later, 5), (sooner, 1)):
        loop_open(
            customer=customer,
            kind=LoopKind.TASK,
            title="T",
            case=case,
            team=team,
            due_at=now + timedelta(hours=hours),
            now=now,
        )
    # a closed loop's earlier deadline does not count
    closed = loop_open(
        customer=customer,
        kind=LoopKind.TASK,
        title="Done",
        case=later,
        team=team,
        due_at=now + timedelta(minutes=5),
        now=now,
    )
    from lastmile.loops.services import loop_close

    loop_close(loop=closed, reason="done", now=now)
    listing = as_alice.get("/cases/?sort=due").context["listing"]
    assert [r.case.pk for r in listing.rows] == [sooner.pk, later.pk, none.pk]
    assert listing.page.paginator.count == 3


def test_all_cases_is_the_admins_list(client, alice, admin_user, customer, team, other_team):
    CaseFactory(customer=customer, team=team)
    CaseFactory(customer=customer, team=other_team)
    client.force_login(alice)
    listing = client.get("/cases/?scope=all").context["listing"]
    assert (listing.query.scope, listing.page.paginator.count) == ("teams", 1)
    assert "all" not in {v.key for v in listing.sidebar}
    client.force_login(admin_user)
    listing = client.get("/cases/?scope=all").context["listing"]
    assert listing.page.paginator.count == 2
    assert {v.key: v.count for v in listing.sidebar}["all"] == 2


def test_the_history_names_people_and_teams_and_taking_says_where_the_case_went(
    as_alice, customer, other_team, alice, now
):
    alice.first_name, alice.last_name = "Alice", "Ng"
    alice.save()
    # a back-office case alice may open, because she wrote on it
    case = CaseFactory(customer=customer, team=other_team)
    interaction_record(
        customer=customer,
        channel="phone",
        direction="note",
        occurred_at=now,
        now=now,
        body="Called back",
        case=case,
        actor=alice,
    )
    r = as_alice.post(f"/cases/{case.ref}/take/", follow=True)
    page = r.content.decode()
    assert "You have the case; it moved to Front office with you." in page
    assert "assigned it to Alice Ng in Front office" in page
    assert "assigned it to alice in front" not in page


def test_the_count_is_drawn_with_the_rows_so_a_filter_swapped_in_place_updates_it(
    as_alice, customer, team
):
    CaseFactory(customer=customer, team=team, priority="low")
    CaseFactory(customer=customer, team=team)
    partial = as_alice.get(
        "/cases/?priority=low", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="case-rows"
    ).content.decode()
    assert "1 case in this view." in partial
    assert "2 cases in this view." in as_alice.get("/cases/").content.decode()

"""The case services behind the console's edit panel, the API and the admin: each change
writes a CaseEvent naming the actor; refusals change nothing."""

from __future__ import annotations

import pytest

from lastmile.cases.models import Case, CaseEvent, CaseTag, SavedView
from lastmile.cases.selectors import case_history, case_list, case_tag_names, cases_visible
from lastmile.cases.services import (
    case_move,
    case_tags_set,
    case_take,
    case_update,
    cases_bulk_assign,
    cases_bulk_status,
    cases_bulk_tag,
    saved_view_create,
    saved_view_delete,
)
from lastmile.core.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.core.models import AuditEntry
from lastmile.loops.models import LoopKind
from lastmile.loops.services import loop_open
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    events: list[dict] = []

    def listen(name, data, at):
        events.append(data)

    event_subscribe(listen, names=["case.assigned"])
    yield events
    event_unsubscribe(listen)


def test_taking_a_case_assigns_it_to_me_with_an_event_an_audit_row_and_case_assigned(
    case, alice, heard, now
):
    # when alice takes her team's case
    case_take(case=case, actor=alice, now=now)
    # then it is hers, the trail names her, the audit holds the change
    case.refresh_from_db()
    assert case.assignee == alice
    event = CaseEvent.objects.get(case=case, kind="assigned")
    assert event.actor == alice and event.data["assignee"] == "alice"
    assert AuditEntry.objects.filter(object_id=str(case.pk)).exists()
    # and the internal event tells who, to whom, in which team
    assert heard == [{"case": case, "assignee": alice, "team": case.team, "actor": alice}]


def test_taking_a_case_of_another_team_moves_it_to_mine(customer, other_team, alice, team, now):
    case = CaseFactory(customer=customer, team=other_team)
    case_take(case=case, actor=alice, now=now)
    case.refresh_from_db()
    assert (case.team, case.assignee) == (team, alice)


def test_assigning_the_same_person_again_writes_nothing(case, alice, heard, now):
    case_take(case=case, actor=alice, now=now)
    case_take(case=case, actor=alice, now=now)
    assert CaseEvent.objects.filter(case=case, kind="assigned").count() == 1
    assert len(heard) == 1


def test_moving_to_a_team_unassigns_someone_outside_it(case, alice, other_team, bob, heard, now):
    case_take(case=case, actor=alice, now=now)
    case_move(case=case, team=other_team, actor=bob, now=now)
    case.refresh_from_db()
    assert (case.team, case.assignee) == (other_team, None)
    assert heard[-1]["assignee"] is None and heard[-1]["actor"] == bob


def test_subject_and_priority_changes_are_in_the_history_with_the_actor(case, bob, now):
    case_update(case=case, subject="Refund for order 12", priority="high", actor=bob, now=now)
    kinds = {e.kind: e for e in case_history(case=case)}
    assert kinds["priority"].data == {"from": "normal", "to": "high"}
    assert kinds["subject"].data["to"] == "Refund for order 12"
    assert kinds["subject"].actor == bob


def test_tags_are_normalised_and_the_change_is_one_event(case, alice, now):
    case_tags_set(
        case=case, tags=["Billing", " VIP ", "billing", "late delivery"], actor=alice, now=now
    )
    assert case_tag_names(case_ids=[case.pk]) == {case.pk: ["billing", "late-delivery", "vip"]}
    case_tags_set(case=case, remove=["vip"], add=["refund"], actor=alice, now=now)
    assert case_tag_names(case_ids=[case.pk])[case.pk] == ["billing", "late-delivery", "refund"]
    events = CaseEvent.objects.filter(case=case, kind="tags").order_by("id")
    assert [e.data for e in events] == [
        {"added": ["billing", "vip", "late-delivery"], "removed": []},
        {"added": ["refund"], "removed": ["vip"]},
    ]


def test_a_bad_tag_is_refused_and_nothing_changes(case, alice, now):
    with pytest.raises(InvalidInput) as exc:
        case_tags_set(case=case, tags=["ok", "no<script>"], actor=alice, now=now)
    assert exc.value.errors[0].field == "tags"
    assert not CaseTag.objects.exists()


def test_the_tag_filter_finds_only_tagged_cases(case, customer, team, alice, now):
    other = CaseFactory(customer=customer, team=team)
    case_tags_set(case=case, tags=["vip"], actor=alice, now=now)
    assert list(case_list(viewer=alice, tag="VIP")) == [case]
    assert other not in case_list(viewer=alice, tag="vip")


def test_bulk_assign_is_one_call_with_a_message(customer, team, alice, bob, now):
    cases = [CaseFactory(customer=customer, team=team) for _ in range(3)]
    bob.first_name = "Ana"
    bob.save()
    result = cases_bulk_assign(
        case_ids=[c.pk for c in cases],
        visible=cases_visible(viewer=alice),
        assignee=bob,
        actor=alice,
        now=now,
    )
    assert result.message == "3 cases assigned to Ana."
    assert set(Case.objects.values_list("assignee_id", flat=True)) == {bob.pk}


def test_bulk_solve_is_refused_for_all_when_one_case_has_an_open_loop(customer, team, alice, now):
    # given three cases, the second with an open reply loop
    cases = [CaseFactory(customer=customer, team=team) for _ in range(3)]
    loop_open(
        customer=customer, kind=LoopKind.REPLY, title="Reply", case=cases[1], team=team, now=now
    )
    # when alice solves all three
    with pytest.raises(DomainError) as exc:
        cases_bulk_status(
            case_ids=[c.pk for c in cases],
            visible=cases_visible(viewer=alice),
            status="solved",
            actor=alice,
            now=now,
        )
    # then the refusal names the case and why, and none was solved
    assert isinstance(exc.value, Conflict)
    assert cases[1].ref in exc.value.detail and "Nothing was changed" in exc.value.detail
    assert set(Case.objects.values_list("status", flat=True)) == {"open"}
    assert not CaseEvent.objects.filter(kind="status").exists()


def test_bulk_on_a_case_the_viewer_may_not_open_is_not_found_and_changes_nothing(
    customer, team, other_team, alice, now
):
    mine = CaseFactory(customer=customer, team=team)
    theirs = CaseFactory(customer=customer, team=other_team)
    with pytest.raises(NotFound):
        cases_bulk_tag(
            case_ids=[mine.pk, theirs.pk],
            visible=cases_visible(viewer=alice),
            add=["x"],
            actor=alice,
            now=now,
        )
    assert not CaseTag.objects.exists()


def test_a_view_is_shared_only_with_a_team_of_the_actor(alice, other_team, team, now):
    # alice may share with her own team
    shared = saved_view_create(name="VIP", query="tag=vip", team=team, actor=alice, now=now)
    assert (shared.owner, shared.team) == (None, team)
    # but not with the back office
    with pytest.raises(PermissionDenied):
        saved_view_create(name="VIP", query="tag=vip", team=other_team, actor=alice, now=now)
    assert SavedView.objects.count() == 1


def test_saving_a_view_again_under_its_name_replaces_its_filters(alice, now):
    saved_view_create(name="Mine", query="scope=mine", actor=alice, now=now)
    saved_view_create(name="Mine", query="scope=mine&sort=due", actor=alice, now=now)
    assert list(SavedView.objects.values_list("owner__username", "query")) == [
        ("alice", "scope=mine&sort=due")
    ]


def test_only_the_owner_deletes_a_personal_view(alice, bob, now):
    view = saved_view_create(name="Mine", query="scope=mine", actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        saved_view_delete(view=view, actor=bob)
    saved_view_delete(view=view, actor=alice)
    assert not SavedView.objects.exists()

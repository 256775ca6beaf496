"""Macros: placeholders filled from a fixed list (never a template), checked when saved;
personal or shared per team; field actions applied when the reply is sent, all or nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastmile.cases.models import Case, CaseEvent
from lastmile.channels.replies import case_reply_send
from lastmile.core.errors import InvalidInput, NotFound, PermissionDenied
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop
from lastmile.loops.reactions import LoopsStillOpen
from lastmile.macros.models import Macro
from lastmile.macros.placeholders import placeholders_fill, placeholders_unknown
from lastmile.macros.selectors import macro_get, macros_for
from lastmile.macros.services import macro_delete, macro_render, macro_save
from tests.macros.factories import MacroFactory
from tests.people.factories import AgentFactory

# --- placeholders (pure) ---------------------------------------------------------------------


def test_known_placeholders_are_filled_with_or_without_spaces():
    text = "Hi {{customer.first_name}}, {{ case.ref }} is due {{loop.due}}."
    values = {"customer.first_name": "Maya", "case.ref": "LM-1", "loop.due": "Mon 10:00"}
    assert placeholders_fill(text, values) == "Hi Maya, LM-1 is due Mon 10:00."


def test_a_value_that_looks_like_a_placeholder_is_not_filled_again():
    text = "Dear {{customer.name}} ({{case.ref}})"
    assert placeholders_fill(text, {"customer.name": "{{case.ref}}", "case.ref": "LM-1"}) == (
        "Dear {{case.ref}} (LM-1)"
    )


def test_template_syntax_is_only_text():
    text = "{% load static %}{{ customer.__class__ }}{{ settings.SECRET_KEY }}"
    assert placeholders_unknown(text) == ["customer.__class__", "settings.SECRET_KEY"]
    assert placeholders_fill(text, {}) == text


@given(st.text(max_size=200))
def test_filling_never_fails_and_text_without_braces_is_unchanged(text):
    filled = placeholders_fill(text, {"case.ref": "LM-1"})
    if "{{" not in text:
        assert filled == text


# --- saving ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_unknown_placeholder_is_refused_when_saving_and_names_it(alice, team, now):
    with pytest.raises(InvalidInput) as caught:
        macro_save(name="Bad", body="Hi {{customer.email}}", team=team, actor=alice, now=now)
    assert caught.value.errors[0].field == "body"
    assert "{{customer.email}}" in caught.value.errors[0].reason
    assert "{{customer.first_name}}" in caught.value.errors[0].reason  # the known ones
    assert not Macro.objects.exists()


@pytest.mark.django_db
def test_a_macro_is_personal_or_shared_never_both(alice, team, now):
    with pytest.raises(InvalidInput):
        macro_save(name="X", body="x", team=team, owner=alice, actor=alice, now=now)
    with pytest.raises(InvalidInput):
        macro_save(name="X", body="x", actor=alice, now=now)
    assert not Macro.objects.exists()


@pytest.mark.django_db
def test_only_a_lead_of_the_team_or_an_admin_shares_a_macro_with_it(
    alice, bob, charlie, team, admin_user, now
):
    # given: alice leads the front office, bob is her teammate, charlie is in another team
    team.lead = alice
    team.save(update_fields=["lead"])
    # when / then: the teammate and the outsider are refused, nothing is written
    for refused in (bob, charlie):
        with pytest.raises(PermissionDenied):
            macro_save(name="X", body="x", team=team, actor=refused, now=now)
    assert not Macro.objects.exists()
    # the lead and an admin may
    made = macro_save(name="X", body="x", team=team, actor=alice, now=now)
    assert (made.team, made.created_by) == (team, alice)
    macro_save(macro=made, name="Y", body="y", team=team, actor=admin_user, now=now)
    assert Macro.objects.get().name == "Y"


@pytest.mark.django_db
def test_an_agent_with_the_lead_role_manages_their_teams_shared_macros(team, other_team, now):
    lead = AgentFactory(user__username="lena", role="lead", teams=[team]).user
    made = macro_save(name="X", body="x", team=team, actor=lead, now=now)
    with pytest.raises(PermissionDenied):
        macro_save(name="X", body="x", team=other_team, actor=lead, now=now)
    assert list(Macro.objects.all()) == [made]


@pytest.mark.django_db
def test_a_personal_macro_is_written_and_deleted_by_its_owner_only(alice, bob, now):
    mine = macro_save(name="Mine", body="x", owner=alice, actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        macro_save(macro=mine, name="Taken", body="x", owner=bob, actor=bob, now=now)
    with pytest.raises(PermissionDenied):
        macro_delete(macro=mine, actor=bob)
    assert Macro.objects.get().name == "Mine"
    macro_delete(macro=mine, actor=alice)
    assert not Macro.objects.exists()


@pytest.mark.django_db
def test_a_bad_tag_is_refused_when_saving(alice, team, now):
    with pytest.raises(InvalidInput) as caught:
        macro_save(
            name="X", body="x", team=team, add_tag="no spaces allowed!", actor=alice, now=now
        )
    assert caught.value.errors[0].field == "add_tag"


# --- who sees what ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_agent_sees_their_own_and_their_teams_macros_only(alice, bob, charlie, team, other_team):
    mine = MacroFactory(name="Mine", owner=alice)
    bobs = MacroFactory(name="Bob's", owner=bob)
    shared = MacroFactory(name="Front", team=team)
    theirs = MacroFactory(name="Back", team=other_team)
    assert macros_for(viewer=alice) == [mine, shared]
    assert macros_for(viewer=charlie) == [theirs]
    for hidden in (bobs, theirs):
        with pytest.raises(NotFound):
            macro_get(macro_id=hidden.pk, viewer=alice)


# --- rendering and actions -------------------------------------------------------------------


@pytest.mark.django_db
def test_rendering_fills_the_customer_case_agent_and_due_date(case, alice, team, now):
    case.customer.display_name = "Maya Rossi"
    case.customer.timezone = "Europe/Rome"
    case.customer.save()
    alice.first_name, alice.last_name = "Alice", "Martin"
    interaction_record(
        customer=case.customer,
        case=case,
        channel="portal",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="Hello?",
    )
    loop = Loop.objects.get(case=case)
    loop.due_at = now + timedelta(hours=2)
    loop.save()
    macro = MacroFactory(
        team=team,
        body="Hi {{customer.first_name}}, {{case.ref}} ({{team.name}}) by {{loop.due}}. "
        "{{agent.name}}",
    )
    assert macro_render(macro=macro, case=case, agent=alice, now=now) == (
        f"Hi Maya, {case.ref} (Front office) by Mon 23 Nov, 13:00. Alice Martin"
    )


@pytest.fixture
def portal_case(case, now):
    interaction_record(
        customer=case.customer,
        case=case,
        channel="portal",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="Is it done?",
    )
    return case


@pytest.mark.django_db
def test_sending_with_a_macro_tags_and_solves_the_case(portal_case, alice, team, now):
    macro = MacroFactory(team=team, set_status="solved", add_tag="billing")
    case_reply_send(
        case=portal_case, channel="portal", body="Done", actor=alice, now=now, macro=macro.pk
    )
    case = Case.objects.get(pk=portal_case.pk)
    assert case.status == "solved"
    kinds = set(CaseEvent.objects.filter(case=case).values_list("kind", flat=True))
    assert {"status", "tags"} <= kinds


@pytest.mark.django_db
def test_a_macro_action_the_case_refuses_undoes_the_reply(portal_case, alice, team, now):
    # A task loop is still open: the case cannot be solved, so the reply is not sent either.
    from lastmile.loops.services import loop_open

    loop_open(
        kind="task",
        customer=portal_case.customer,
        case=portal_case,
        team=team,
        title="Refund",
        actor=alice,
        now=now,
    )
    macro = MacroFactory(team=team, set_status="solved")
    with pytest.raises(LoopsStillOpen):
        case_reply_send(
            case=portal_case, channel="portal", body="Done", actor=alice, now=now, macro=macro.pk
        )
    assert not portal_case.interactions.filter(direction="outbound").exists()
    assert Case.objects.get(pk=portal_case.pk).status != "solved"


@pytest.mark.django_db
def test_the_admin_refuses_an_unknown_placeholder_with_the_reason(staff, team):
    response = staff.post(
        "/admin/macros/macro/add/",
        {"name": "Bad", "body": "Hi {{customer.shoe_size}}", "team": team.pk, "set_status": ""},
    )
    assert response.status_code == 200
    assert "unknown placeholder {{customer.shoe_size}}" in response.content.decode()
    assert not Macro.objects.exists()


@pytest.mark.django_db
def test_the_admin_saves_a_macro_through_the_service(staff, team, admin_user):
    response = staff.post(
        "/admin/macros/macro/add/",
        {"name": "Thanks", "body": "Thanks {{customer.first_name}}", "team": team.pk},
    )
    assert response.status_code == 302
    macro = Macro.objects.get()
    assert (macro.name, macro.created_by) == ("Thanks", admin_user)

"""The console's "My macros": an agent writes, changes and deletes their own macros; a team
lead (or an admin) the ones shared with their team; everything through ``macro_save`` and
``macro_delete``, refusals on the form in the service's words."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from lastmile.macros.models import Macro
from tests.macros.factories import MacroFactory

pytestmark = pytest.mark.django_db


def form(**fields):  # type: ignore[no-untyped-def]
    data = {"name": "Thanks", "body": "Thanks {{customer.first_name}}!", "scope": "mine"}
    return {**data, **fields}


@pytest.fixture
def lead(team, alice):
    """Alice leads the front office."""
    team.lead = alice
    team.save(update_fields=["lead"])
    return alice


def test_an_agent_without_macros_sees_the_empty_page_with_a_way_to_write_one(client, bob):
    client.force_login(bob)
    page = client.get(reverse("macros:list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "No macros yet" in body
    assert reverse("macros:new") in body


def test_an_agent_writes_a_personal_macro(client, bob):
    client.force_login(bob)
    answer = client.post(reverse("macros:new"), form())
    assert answer.status_code == 302
    assert answer["Location"] == reverse("macros:list")
    made = Macro.objects.get()
    assert (made.name, made.owner, made.team, made.created_by) == ("Thanks", bob, None, bob)
    listed = client.get(reverse("macros:list")).content.decode()
    assert "Thanks" in listed and "personal" in listed and "saved" in listed


def test_an_unknown_placeholder_is_refused_on_the_text_field_and_nothing_is_saved(client, bob):
    client.force_login(bob)
    answer = client.post(reverse("macros:new"), form(body="Hi {{customer.email}}", name=""))
    assert answer.status_code == 422
    body = answer.content.decode()
    assert "The macro was not saved" in body
    assert 'id="id_body_error">Unknown placeholder {{customer.email}}; known:' in body
    assert 'id="id_name_error">Must not be empty' in body  # the name, on its own field
    assert body.count("Unknown placeholder") == 1  # said once
    assert not Macro.objects.exists()


def test_a_pause_with_solved_is_refused_in_the_services_words(client, bob):
    client.force_login(bob)
    answer = client.post(reverse("macros:new"), form(set_status="solved", pause_reply_loop="on"))
    assert answer.status_code == 422
    assert "Waiting on the customer is not solved" in answer.content.decode()
    assert not Macro.objects.exists()


def test_an_agent_is_offered_no_team_and_cannot_post_one(client, bob, team):
    # given bob, who does not lead the front office
    client.force_login(bob)
    assert f'value="{team.pk}"' not in client.get(reverse("macros:new")).content.decode()
    # when he posts it anyway, then it is refused and nothing saved
    answer = client.post(reverse("macros:new"), form(scope=str(team.pk)))
    assert answer.status_code == 422
    assert not Macro.objects.exists()


def test_a_lead_shares_a_macro_with_the_team_and_a_teammate_uses_it_but_cannot_change_it(
    client, lead, bob, charlie, team, case
):
    # given alice, the lead, shares a macro with the front office
    client.force_login(lead)
    assert client.post(reverse("macros:new"), form(scope=str(team.pk))).status_code == 302
    shared = Macro.objects.get()
    assert (shared.team, shared.owner) == (team, None)
    # then bob, her teammate, finds it in the case's macro picker
    client.force_login(bob)
    assert (
        "Thanks (Front office)"
        in client.get(reverse("console:case", args=[case.ref])).content.decode()
    )
    # but may not change nor delete it (the reason said), and it stays as it was
    assert client.get(reverse("macros:edit", args=[shared.pk])).status_code == 403
    assert (
        client.post(reverse("macros:edit", args=[shared.pk]), form(name="Mine now")).status_code
        == 403
    )
    assert client.post(reverse("macros:delete", args=[shared.pk])).status_code == 403
    # and charlie, of another team, does not find it at all
    client.force_login(charlie)
    assert client.get(reverse("macros:edit", args=[shared.pk])).status_code == 404
    assert client.post(reverse("macros:delete", args=[shared.pk])).status_code == 404
    assert Macro.objects.get().name == "Thanks"


def test_an_admin_manages_every_teams_shared_macros(client, admin_user, team, other_team):
    theirs = MacroFactory(name="Back office hello", team=other_team)
    client.force_login(admin_user)
    assert "Back office hello" in client.get(reverse("macros:list")).content.decode()
    answer = client.post(
        reverse("macros:edit", args=[theirs.pk]), form(name="Hello", scope=str(team.pk))
    )
    assert answer.status_code == 302
    theirs.refresh_from_db()
    assert (theirs.name, theirs.team) == ("Hello", team)


def test_an_agent_edits_their_macro_from_the_form_it_was_saved_with(client, bob):
    mine = MacroFactory(name="Old", owner=bob, add_tag="billing")
    client.force_login(bob)
    page = client.get(reverse("macros:edit", args=[mine.pk])).content.decode()
    assert 'value="Old"' in page and 'value="billing"' in page
    answer = client.post(reverse("macros:edit", args=[mine.pk]), form(name="New", add_tag=""))
    assert answer.status_code == 302
    mine.refresh_from_db()
    assert (mine.name, mine.add_tag, mine.owner) == ("New", "", bob)


def test_deleting_asks_first_and_then_deletes(client, bob):
    mine = MacroFactory(name="Old", owner=bob)
    client.force_login(bob)
    confirm = client.get(reverse("macros:delete", args=[mine.pk]))
    assert confirm.status_code == 200 and "Delete “Old”?" in confirm.content.decode()
    assert Macro.objects.exists()
    answer = client.post(reverse("macros:delete", args=[mine.pk]))
    assert answer.status_code == 302
    assert not Macro.objects.exists()


def test_a_colleagues_personal_macro_is_missing_to_me(client, alice, bob):
    theirs = MacroFactory(name="Alice's", owner=alice)
    client.force_login(bob)
    assert client.get(reverse("macros:edit", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("macros:delete", args=[theirs.pk])).status_code == 404
    assert "Alice&#x27;s" not in client.get(reverse("macros:list")).content.decode()
    assert Macro.objects.filter(pk=theirs.pk).exists()


def test_writing_needs_the_csrf_token(bob):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(bob)
    assert strict.post(reverse("macros:new"), form()).status_code == 403
    mine = MacroFactory(owner=bob)
    assert strict.post(reverse("macros:delete", args=[mine.pk])).status_code == 403
    assert list(Macro.objects.all()) == [mine]


def test_the_pages_need_a_login(client, bob):
    mine = MacroFactory(owner=bob)
    for url in (
        reverse("macros:list"),
        reverse("macros:new"),
        reverse("macros:edit", args=[mine.pk]),
        reverse("macros:delete", args=[mine.pk]),
    ):
        assert client.get(url).status_code == 302
    assert client.post(reverse("macros:delete", args=[mine.pk])).status_code == 302
    assert Macro.objects.filter(pk=mine.pk).exists()


def test_many_macros_are_paged_personal_ones_first(
    client, lead, team, django_assert_max_num_queries
):
    for n in range(20):
        MacroFactory(name=f"Mine {n:02}", owner=lead)
    for n in range(10):
        MacroFactory(name=f"Team {n:02}", team=team)
    client.force_login(lead)
    with django_assert_max_num_queries(20):
        first = client.get(reverse("macros:list")).content.decode()
    assert "Page 1 of 2" in first
    assert "Mine 00" in first and "Team 04" in first and "Team 05" not in first
    second = client.get(reverse("macros:list"), {"page": 2}).content.decode()
    assert "Team 05" in second and "Mine 00" not in second


def test_the_macro_picker_links_to_my_macros_even_before_the_first(client, bob, case):
    client.force_login(bob)
    page = client.get(reverse("console:case", args=[case.ref])).content.decode()
    assert "No macros yet" in page and reverse("macros:list") in page
    MacroFactory(name="Hello", owner=bob)
    page = client.get(reverse("console:case", args=[case.ref])).content.decode()
    assert "Hello (mine)" in page and f'href="{reverse("macros:list")}"' in page

"""``search``: what each group finds, in what order, and for whom."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.errors import InvalidInput
from lastmile.customers.models import Direction
from lastmile.people.viewers import SYSTEM
from lastmile.promises.services import promise_record
from lastmile.search import selectors
from lastmile.search.selectors import search, snippet
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory, IdentityFactory
from tests.search.helpers import ids, message

pytestmark = pytest.mark.django_db


# --- ordering and parsing ----------------------------------------------------------------


def test_messages_come_newest_first(case, now):
    # Given three messages with the same word, recorded an hour apart
    rows = [message(case, f"Boiler fault, visit {i}", now + timedelta(hours=i)) for i in range(3)]
    # When searching that word
    hits = search(viewer=SYSTEM, q="boiler").interactions
    # Then the newest comes first
    assert ids(hits) == [r.pk for r in reversed(rows)]


def test_a_message_recorded_late_takes_its_place_by_when_it_happened(case, now):
    # Given a message of 6 Dec 13:19, then one of the night before recorded after it (mail
    # fetched late, an import): the demo's "Aisha Khan" page listed 5 Dec 23:54 first
    today = message(case, "Parcel left at the door", now)
    last_night = message(case, "Parcel not delivered yet", now - timedelta(hours=13, minutes=25))
    assert last_night.pk > today.pk
    # When searching a word of both
    hits = search(viewer=SYSTEM, q="parcel").interactions
    # Then the page reads newest first by the times it shows
    assert ids(hits) == [today.pk, last_night.pk]


def test_cases_come_most_recently_updated_first(team, now):
    # Given a customer's cases numbered in one order and updated in another (LM-1542 updated
    # 6 Dec, LM-1541 5 Dec, LM-1512 6 Dec: the demo listed them by reference)
    aisha = CustomerFactory(display_name="Aisha Khan")
    old = CaseFactory(customer=aisha, team=team, number=1512, updated_at=now)
    mid = CaseFactory(customer=aisha, team=team, number=1541, updated_at=now - timedelta(days=1))
    new = CaseFactory(customer=aisha, team=team, number=1542, updated_at=now + timedelta(hours=1))
    by_subject = CaseFactory(
        team=team, number=1351, subject="Aisha Khan's parcel", updated_at=now - timedelta(days=9)
    )
    # When searching her name
    # Then the cases come by last update, newest first
    assert search(viewer=SYSTEM, q="Aisha Khan").cases == [new, old, mid, by_subject]


def test_each_group_is_cut_at_the_limit_and_says_there_is_more(case, now):
    for i in range(4):
        message(case, f"Meter reading {i}", now + timedelta(minutes=i))
    found = search(viewer=SYSTEM, q="meter", kind="interactions", limit=3)
    assert len(found.interactions) == 3
    assert found.more["interactions"] is True


QUERIES_WITH_SYNTAX = [
    '"',
    '"unclosed',
    "*",
    "boiler*",
    "-boiler",
    "boiler -fault",
    "boiler OR fault",
    "OR",
    "AND NOT",
    "(boiler",
    "boiler)",
    "NEAR(boiler fault)",
    "NEAR(boiler, 2",
    "body:boiler",
    "^boiler",
    "boiler & fault | !x",
    "'; DROP TABLE customers_interaction; --",
    "\\",
    "%_%",
    "ü",
    "!!",
    "👍🏽 boiler",
]


@pytest.mark.parametrize("q", QUERIES_WITH_SYNTAX)
def test_search_syntax_in_the_query_is_only_text(case, now, q):
    # Given a message
    message(case, "Boiler fault: no hot water (again)", now)
    # When the query holds a full-text operator of either database
    found = search(viewer=SYSTEM, q=q)
    # Then it is searched as words, with no error
    assert found.total >= 0


def test_operators_are_matched_as_words_not_obeyed(case, now):
    # Given a message without the word "fault"
    row = message(case, "Boiler serviced, all fine", now)
    # When searching "boiler -fault" (FTS5's NOT) or "boiler OR fault"
    # Then every word must be there: neither finds it
    assert search(viewer=SYSTEM, q="boiler -fault").interactions == []
    assert search(viewer=SYSTEM, q="boiler OR fault").interactions == []
    # and quoting the words it has finds it
    assert ids(search(viewer=SYSTEM, q='"boiler serviced"').interactions) == [row.pk]


@pytest.mark.parametrize("q", ["", " ", "a", " x "])
def test_a_query_under_two_characters_is_not_searched(case, now, q):
    message(case, "a x", now)
    found = search(viewer=SYSTEM, q=q)
    assert found.too_short is True
    assert found.total == 0


def test_an_unknown_kind_or_a_limit_out_of_range_names_the_field():
    with pytest.raises(InvalidInput) as bad_kind:
        search(viewer=SYSTEM, q="boiler", kind="tickets")
    assert bad_kind.value.errors[0].field == "kind"
    for limit in (0, 51):
        with pytest.raises(InvalidInput) as bad_limit:
            search(viewer=SYSTEM, q="boiler", limit=limit)
        assert bad_limit.value.errors[0].field == "limit"


def test_the_snippet_marks_the_matching_words_and_keeps_text_plain():
    pieces = snippet("<b>Refunds</b> are slow & the refund never came", ["refund"])
    assert [text for text, marked in pieces if marked] == ["Refunds", "refund"]
    assert "".join(text for text, _ in pieces) == "<b>Refunds</b> are slow & the refund never came"


# --- cases -------------------------------------------------------------------------------


def test_a_case_is_found_by_its_exact_reference_and_its_subject(case):
    # Given the case and another with the word in its subject
    other = CaseFactory(team=case.team, subject="Broken hinge on the wardrobe")
    # When searching its reference, in any letter case, with or without its dash, or its number
    compact = case.ref.replace("-", "")
    for q in (case.ref, case.ref.lower(), str(case.number), compact, compact.lower()):
        found = search(viewer=SYSTEM, q=q)
        # Then it is the exact case, first among cases
        assert found.exact_case == case
        assert found.cases[0] == case
    # and a subject word finds the other
    assert search(viewer=SYSTEM, q="hinge").cases == [other]


def test_a_subject_is_found_by_any_part_of_it_in_any_case(case):
    # Given a case whose subject holds a word, and one that does not
    kettle = CaseFactory(team=case.team, subject="Cracked kettle lid")
    CaseFactory(team=case.team, subject="Broken hinge")
    # When searching part of a word (the trigram index answers three characters or more;
    # two are looked for in every subject)
    for q in ("KETTLE", "ettl", "ked ket", "ck"):
        # Then the case is found
        assert kettle in search(viewer=SYSTEM, q=q).cases, q
    assert search(viewer=SYSTEM, q="kettles").cases == []


@pytest.mark.parametrize("q", ["%_", "_%_", "0% r", "00%", '"%"', "\\%"])
def test_like_wildcards_in_the_query_are_only_text(case, q):
    # Given a subject with a percent sign, and one without
    percent = CaseFactory(team=case.team, subject="Promised 100% refund")
    CaseFactory(team=case.team, subject="Plain refund")
    # When the query holds LIKE's wildcards
    found = search(viewer=SYSTEM, q=q, kind="cases").cases
    # Then they match themselves only
    assert found == ([percent] if q in ("0% r", "00%") else []), q


def test_searching_a_customer_finds_the_cases_of_theirs_the_viewer_may_open(
    alice, charlie, team, other_team
):
    # Given a customer with a front-office and a back-office case, neither subject naming them
    maya = CustomerFactory(display_name="Maya Fernandes")
    IdentityFactory(customer=maya, kind="email", value="maya.f@example.com")
    front = CaseFactory(customer=maya, team=team, subject="Wrong size delivered")
    back = CaseFactory(customer=maya, team=other_team, subject="Invoice charged twice")
    for q in ("Fernandes", "aya Fern", "maya.f@example.com"):
        # When each team searches her name or email
        # Then each finds her, and among cases the one it may open
        assert search(viewer=alice, q=q).cases == [front], q
        assert search(viewer=charlie, q=q).cases == [back], q
        # and an admin both, newest first
        assert search(viewer=SYSTEM, q=q).cases == [back, front], q
    # Only the cases kind asked for: the customer's cases all the same
    assert search(viewer=alice, q="fernandes", kind="cases").cases == [front]


# --- customers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    ["+44 20 7946 0321", "+442079460321", "020 7946 0321", "(020) 7946-0321", "0044 20 7946 0321"],
)
def test_a_customer_is_found_by_their_phone_in_any_format(case, q):
    # Given the case's customer with a phone number, stored normalised
    IdentityFactory(customer=case.customer, kind="phone", value="+442079460321")
    # When searching it in another format
    # Then the customer is found
    assert search(viewer=SYSTEM, q=q).customers == [case.customer]


def test_a_customer_is_found_by_name_email_and_handle(team):
    maya = CustomerFactory(display_name="Maya Fernandes")
    IdentityFactory(customer=maya, kind="email", value="maya.f@example.com")
    IdentityFactory(customer=maya, kind="social", network="twitter", value="mayaf")
    CaseFactory(customer=maya, team=team)
    for q in ("fernandes", "Maya.F@Example.com", "@mayaf", "mayaf"):
        assert search(viewer=SYSTEM, q=q).customers == [maya], q


def test_a_customer_is_found_by_part_of_their_name(team):
    maya = CustomerFactory(display_name="Maya Fernandes")
    CustomerFactory(display_name="Sam Okafor")
    for q in ("ERNAND", "a Fe", "ya"):
        assert search(viewer=SYSTEM, q=q, kind="customers").customers == [maya], q


def test_customers_come_newest_first(team):
    older = CustomerFactory(display_name="Sam Okafor")
    newer = CustomerFactory(display_name="Sam Okafor-Reid")
    assert search(viewer=SYSTEM, q="okafor").customers == [newer, older]


# --- scoping -----------------------------------------------------------------------------


@pytest.fixture
def back_case(other_team, now):
    """A back-office case with a message and an internal note."""
    back = CaseFactory(team=other_team, subject="Zebra crossing complaint")
    IdentityFactory(customer=back.customer, kind="email", value="zed@example.com")
    message(back, "The zebra crossing lights are out", now)
    message(back, "Zebra note: council contacted", now, direction=Direction.NOTE)
    return back


def test_an_agent_does_not_find_another_teams_case_messages_or_notes(alice, back_case):
    # When a front-office agent searches words of a back-office case
    found = search(viewer=alice, q="zebra")
    # Then nothing of it is found: not the case, its messages, its note or its customer
    assert found.total == 0
    assert search(viewer=alice, q=back_case.ref).exact_case is None
    assert search(viewer=alice, q="zed@example.com").customers == []


def test_the_owning_team_and_an_admin_find_all_of_it(charlie, admin_user, back_case):
    for viewer in (charlie, admin_user, SYSTEM):
        found = search(viewer=viewer, q="zebra")
        assert found.cases == [back_case]
        assert len(found.interactions) == 2
        assert found.customers == [] or found.customers == [back_case.customer]
        assert search(viewer=viewer, q="zed@example.com").customers == [back_case.customer]


def test_a_note_is_found_only_by_those_who_may_open_its_case(alice, charlie, case, now, other_team):
    # Given the customer also has a back-office case, so both teams see the customer
    back = CaseFactory(customer=case.customer, team=other_team)
    note = message(back, "Quokka escalation agreed", now, direction=Direction.NOTE)
    # Then the back office finds the note and the front office does not
    assert ids(search(viewer=charlie, q="quokka").interactions) == [note.pk]
    assert search(viewer=alice, q="quokka").interactions == []


def test_a_promise_is_found_by_its_words_by_those_who_may_see_it(alice, charlie, case, now):
    made = promise_record(
        case=case,
        text="Replacement kettle by Friday",
        terms={},
        due_at=now + timedelta(days=2),
        team=case.team,
        channel="email",
        actor=alice,
        now=now,
    )
    assert search(viewer=alice, q="kettle").promises == [made]
    assert search(viewer=charlie, q="kettle").promises == []


def test_a_team_scoped_search_looks_at_the_newest_matches_only_and_says_so(
    monkeypatch, alice, admin_user, case, other_team, now
):
    # Given one front-office message, then three newer back-office ones with the same word
    monkeypatch.setattr(selectors, "SCAN_CAP", 3)
    mine = message(case, "Gazebo quote sent", now)
    back = CaseFactory(team=other_team)
    for i in range(3):
        message(back, f"Gazebo order {i}", now + timedelta(minutes=1 + i))
    # When alice searches the word: the three newest matches are not hers
    found = search(viewer=alice, q="gazebo")
    # Then she is told older matches were not looked at
    assert found.interactions == []
    assert found.capped is True
    # and a word that narrows it finds hers
    assert ids(search(viewer=alice, q="gazebo quote").interactions) == [mine.pk]
    # An admin sees every match: nothing is cut
    everything = search(viewer=admin_user, q="gazebo")
    assert len(everything.interactions) == 4
    assert everything.capped is False


def test_an_agents_matches_older_than_the_first_slice_are_found(
    monkeypatch, alice, case, other_team, now
):
    # Given one front-office message, then five newer back-office ones with the same word
    monkeypatch.setattr(selectors, "SCAN_CAP", 100)
    mine = message(case, "Pergola quote sent", now)
    back = CaseFactory(team=other_team)
    for i in range(5):
        message(back, f"Pergola order {i}", now + timedelta(minutes=1 + i))
    # When alice searches the word, two at a time: the newest matches are not hers
    found = search(viewer=alice, q="pergola", kind="interactions", limit=2)
    # Then hers is found all the same, and nothing was cut short
    assert ids(found.interactions) == [mine.pk]
    assert found.capped is False

"""The search page, ``/search/?q=``."""

from __future__ import annotations

import pytest

from lastmile.customers.models import Direction
from lastmile.search import selectors
from tests.cases.factories import CaseFactory
from tests.search.helpers import message

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def test_results_are_grouped_with_counts_and_links(client, alice, case, now):
    case.subject = "Heron nesting on the roof"
    case.save()
    message(case, "A heron <script>alert(1)</script> is back", now)
    client.force_login(alice)
    r = client.get("/search/", {"q": "heron"})
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="results-cases"' in html
    assert 'id="results-interactions"' in html
    assert f'href="/cases/{case.ref}/"' in html
    # the matched word is marked, and the message's markup is text
    assert "<mark>heron</mark>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    # the top bar's box keeps the query
    assert 'id="top-search" name="q" value="heron"' in html


def test_no_results_says_so(client, alice):
    client.force_login(alice)
    html = client.get("/search/", {"q": "narwhal"}).content.decode()
    assert 'id="search-empty"' in html
    assert "No results for “narwhal”" in html


def test_a_one_character_query_gets_a_hint(client, alice):
    client.force_login(alice)
    html = client.get("/search/", {"q": "n"}).content.decode()
    assert 'id="search-hint"' in html
    assert "search-empty" not in html


def test_an_exact_reference_goes_to_the_case(client, alice, case):
    client.force_login(alice)
    for q in (case.ref.lower(), case.ref.replace("-", ""), case.ref.replace("-", "").lower()):
        r = client.get("/search/", {"q": q})
        assert r.status_code == 302, q
        assert r["Location"] == f"/cases/{case.ref}/"


def test_another_teams_reference_is_not_a_way_in(client, alice, other_team, now):
    back = CaseFactory(team=other_team, subject="Otter")
    message(back, "Otter note", now, direction=Direction.NOTE)
    client.force_login(alice)
    r = client.get("/search/", {"q": back.ref})
    assert r.status_code == 200
    html = r.content.decode()
    assert "search-empty" in html
    assert f'href="/cases/{back.ref}/"' not in html
    assert "Otter" not in html
    # but it says whose it is, as the case page does
    assert f"{back.ref} is held by Back office; you may not open it." in html


def test_the_page_needs_a_login(client):
    r = client.get("/search/", {"q": "heron"})
    assert r.status_code == 302
    assert "/login/" in r["Location"]


def test_a_search_cut_short_says_so(client, monkeypatch, alice, case, other_team, now):
    monkeypatch.setattr(selectors, "SCAN_CAP", 1)
    back = CaseFactory(team=other_team)
    message(case, "Gazebo quote", now)
    message(back, "Gazebo order", now)
    client.force_login(alice)
    html = client.get("/search/", {"q": "gazebo"}).content.decode()
    assert 'id="search-capped"' in html
    assert "More messages may match: only the newest 1 with these words were looked at." in html

"""The lists' shared paging (``lastmile.core.paging``), as the responders' and coaching pages
use it: a page's neighbour links keep the rest of the query, so paging one list of a screen
keeps the other list's page and the filters."""

from __future__ import annotations

from django.test import RequestFactory

from lastmile.core.paging import page_get

ROWS = list(range(45))


def test_a_pages_links_keep_the_rest_of_the_query(rf: RequestFactory) -> None:
    # given a screen with two lists and a filter, on the second page of the cases
    request = rf.get("/responders/", {"state": "all", "mp": "2", "cp": "2"})

    # when the cases list is paged
    page = page_get(request, ROWS, param="cp")

    # then its links move the cases only, and keep the mentions' page and the filter
    assert list(page) == list(range(20, 40))
    assert page.previous_query == "state=all&mp=2&cp=1"
    assert page.next_query == "state=all&mp=2&cp=3"


def test_the_last_page_links_back_only(rf: RequestFactory) -> None:
    page = page_get(rf.get("/coaching/", {"page": "3"}), ROWS)
    assert list(page) == [40, 41, 42, 43, 44]
    assert (page.previous_query, page.next_query) == ("page=2", "")


def test_a_bad_or_stale_number_gives_the_first_or_the_last_page(rf: RequestFactory) -> None:
    assert page_get(rf.get("/", {"page": "x"}), ROWS).number == 1
    assert page_get(rf.get("/", {"page": "99"}), ROWS).number == 3
    assert page_get(rf.get("/"), ROWS, per_page=50).next_query == ""

"""One page of a list from the request's query string, with links to the pages beside it
that keep the rest of the query (a filter, a period, another list's page on the same
screen). The coaching and responders lists page this way; the inbox pages with htmx in
``console.selectors.inbox``.

A bad or out-of-range number gives the first or the last page, as Django's
``Paginator.get_page`` does: a stale link never errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page, Paginator
from django.http import HttpRequest, QueryDict

PAGE_SIZE = 20


class LinkedPage(Page):
    """A page that knows the query strings of its neighbours (``""`` when there is none)."""

    paginator: LinkedPaginator

    @property
    def previous_query(self) -> str:
        return self.paginator.query_for(self.number - 1) if self.has_previous() else ""

    @property
    def next_query(self) -> str:
        return self.paginator.query_for(self.number + 1) if self.has_next() else ""


class LinkedPaginator(Paginator):
    """A ``Paginator`` whose pages link with ``param`` set and the rest of ``query`` kept."""

    def __init__(
        self, object_list: Sequence[Any] | Any, per_page: int, *, query: QueryDict, param: str
    ) -> None:
        super().__init__(object_list, per_page)
        self.query, self.param = query, param

    def query_for(self, number: int) -> str:
        query = self.query.copy()
        query[self.param] = str(number)
        return query.urlencode()

    def _get_page(self, *args: Any, **kwargs: Any) -> LinkedPage:
        return LinkedPage(*args, **kwargs)


def page_get(
    request: HttpRequest,
    items: Sequence[Any] | Any,
    *,
    param: str = "page",
    per_page: int = PAGE_SIZE,
) -> LinkedPage:
    """The page of ``items`` that ``?<param>=`` asks for, ``per_page`` rows to a page."""
    paginator = LinkedPaginator(items, per_page, query=request.GET, param=param)
    page = paginator.get_page(request.GET.get(param))
    assert isinstance(page, LinkedPage)
    return page

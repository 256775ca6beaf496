"""Console pages for listening: mentions, the unattended queue, influencers, an author.

Views parse the query string, read the clock (the edge) and call selectors; the one write
(setting a mention aside) goes through a service. Pages extend the console layout.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, PermissionDenied
from lastmile.listening import selectors
from lastmile.listening.models import Sentiment

PAGE_SIZE = 50


def _int(value: str | None) -> int | None:
    try:
        n = int(value or "")
    except ValueError:
        return None
    return n if 0 < n < 2**62 else None


def _filters(request: HttpRequest) -> selectors.MentionFilters:
    """The filters in the query string; a value that is not one of the choices is ignored."""
    get = request.GET
    sentiment = get.get("sentiment", "")
    scope = get.get("scope", "")
    network = get.get("network", "")
    return selectors.MentionFilters(
        term=_int(get.get("term")),
        sentiment=sentiment if sentiment in Sentiment.values else "",
        scope=scope if scope in selectors.SCOPES else "",
        network=network if network.isascii() and network.replace("_", "").isalnum() else "",
        unanswered=get.get("unanswered") in ("1", "on", "true"),
    )


@login_required
@require_GET
def mentions(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    filters = _filters(request)
    page = Paginator(selectors.mention_list(filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        **page_chrome(request, now),
        "page": page,
        "filters": filters,
        "terms": selectors.watchterms(),
        "networks": selectors.networks(),
        "sentiments": Sentiment.choices,
        "scopes": [
            ("brand", "To a brand"),
            ("competitor", "Competitors"),
            ("from_brand", "By a brand"),
        ],
    }
    template = (
        "listening/_mention_rows.html"
        if request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == "mention-rows"
        else "listening/mentions.html"
    )
    return render(request, template, context)


@login_required
@require_GET
def unattended(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    page = Paginator(selectors.unattended(viewer=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {"mention": m, "age_seconds": int(selectors.age(m, now=now).total_seconds())}
        for m in page.object_list
    ]
    return render(
        request,
        "listening/unattended.html",
        {**page_chrome(request, now), "page": page, "rows": rows},
    )


@login_required
@require_POST
def dismiss(request: HttpRequest, mention_id: int) -> HttpResponse:
    from lastmile.listening.services.replies import mention_dismiss

    now = utcnow()
    try:
        mention = selectors.mention_get(mention_id=mention_id)
        if not selectors.mention_actionable(mention=mention, viewer=request.user):
            raise PermissionDenied("this mention belongs to another team's brand")
        mention_dismiss(
            mention=mention, actor=request.user, reason=request.POST.get("reason", ""), now=now
        )
    except DomainError as exc:
        return error_response(request, exc)
    messages.success(request, f"Set aside the mention by @{mention.author.handle}.")
    return redirect("listening:unattended")


@login_required
@require_GET
def influencers(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    return render(
        request,
        "listening/influencers.html",
        {**page_chrome(request, now), "rows": selectors.influencers(limit=50, recent=3)},
    )


@login_required
@require_GET
def author(request: HttpRequest, author_id: int) -> HttpResponse:
    now = utcnow()
    try:
        row = selectors.author_get(author_id=author_id)
    except DomainError as exc:
        return error_response(request, exc)
    filters = selectors.MentionFilters(author=row.author.pk)
    page = Paginator(selectors.mention_list(filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "listening/author.html",
        {
            **page_chrome(request, now),
            "row": row,
            "a": row.author,
            "page": page,
            "filters": filters,
        },
    )

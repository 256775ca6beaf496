"""The search page: the top bar's box lands here (``/search/?q=``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from lastmile.cases.selectors import ref_number
from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import InvalidInput
from lastmile.search.selectors import KINDS, MIN_QUERY_LENGTH, search

LABELS = {
    "cases": "Cases",
    "customers": "Customers",
    "interactions": "Messages",
    "promises": "Promises",
    "articles": "Articles",
}


@login_required
@require_GET
def results(request: HttpRequest) -> HttpResponse:
    """Results grouped by kind; a case reference typed exactly (``LM-1042``) that the viewer
    may open goes straight to the case. A bad ``kind`` is ignored (every kind is shown)."""
    q = request.GET.get("q", "")
    kind = request.GET.get("kind") or None
    if kind not in KINDS:
        kind = None
    try:
        found = search(viewer=request.user, q=q, kind=kind, limit=20)
    except InvalidInput:  # pragma: no cover - kind and limit are checked above
        found = search(viewer=request.user, q=q, limit=20)
    if found.exact_case is not None and ref_number(found.q) is not None:
        return redirect("console:case", ref=found.exact_case.ref)
    groups = [
        {"kind": name, "label": LABELS[name], "items": items, "more": found.more.get(name, False)}
        for name, items in found.groups()
        if kind is None or name == kind
    ]
    context = {
        **page_chrome(request, utcnow()),
        "found": found,
        "groups": groups,
        "search_q": found.q,
        "kind": kind,
        "min_length": MIN_QUERY_LENGTH,
        "ref_example": f"{settings.LASTMILE_CASE_PREFIX}-1042",
    }
    return render(request, "search/results.html", context)

"""The search page: the top bar's box lands here (``/search/?q=``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from lastmile.cases.selectors import case_held, ref_number
from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.search import selectors
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
    held = None
    if ref_number(q) is not None and kind in (None, "cases"):
        # A reference typed exactly: look for that case first, and go there if it is open
        # to the viewer, without searching every other kind.
        exact = search(viewer=request.user, q=q, kind="cases", limit=1).exact_case
        if exact is not None:
            return redirect("console:case", ref=exact.ref)
        # Not a dead end: whose it is, and nothing of what is in it (as the case page).
        held = case_held(ref=q)
    found = search(viewer=request.user, q=q, kind=kind, limit=20)
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
        "held": held,
        "kind": kind,
        "min_length": MIN_QUERY_LENGTH,
        "scan_cap": f"{selectors.SCAN_CAP:,}",
        "ref_example": f"{settings.LASTMILE_CASE_PREFIX}-1042",
    }
    return render(request, "search/results.html", context)

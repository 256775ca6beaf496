"""Customer merges in the console: the history on a customer's page, merging this customer
into another, undoing a merge. The API (customers/api.py) does the same through the same
checks (``customers.merge_selectors``) and services (``customer_merge``, ``customer_unmerge``).

The form to merge into another customer starts with a picker: the agent types a name, an
email, a phone number or ``#42`` and the matches come back as they type
(``customer_merge_find``, htmx); picking one asks the server for the confirmation
(``customer_merge_confirm``), which names who goes into whom, or says why not, before
anything is posted.

The forms post normally and answer with a redirect: a merge moves the page's customer away,
so the next page is the survivor's; an undo brings the merged customer back under its own
address. A refusal goes back to the page it came from with the reason, once.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound
from lastmile.customers.matching import MIN_QUERY_LENGTH
from lastmile.customers.merge_selectors import (
    merge_candidates,
    merge_get,
    merge_list,
    merge_pair,
    merge_undo_allowed,
    merge_undo_check,
)
from lastmile.customers.selectors import customer_get
from lastmile.customers.services.customers import customer_merge, customer_unmerge


@login_required
@require_GET
def customer_merges(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The merge history and the merge form of a customer's page (``_merges.html``)."""
    try:
        customer = customer_get(customer_id=customer_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    rows = [
        {
            "merge": m,
            "may_undo": m.undone_at is None and merge_undo_allowed(merge=m, viewer=request.user),
            "into_here": m.survivor_id == customer.pk,
        }
        for m in merge_list(customer=customer, viewer=request.user)
    ]
    return render(request, "console/_merges.html", {"customer": customer, "merges": rows})


PICKER_LIMIT = 8


@login_required
@require_GET
def customer_merge_find(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The picker's matches for ``?q=`` (``_merge_found.html``): visible customers other than
    this one, each a button that loads the confirmation."""
    try:
        customer = customer_get(customer_id=customer_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    q = request.GET.get("q", "").strip()
    found = merge_candidates(customer=customer, viewer=request.user, q=q, limit=PICKER_LIMIT)
    context = {
        "customer": customer,
        "q": q,
        "too_short": len(q) < MIN_QUERY_LENGTH,
        "found": found[:PICKER_LIMIT],
        "more": len(found) > PICKER_LIMIT,
    }
    return render(request, "console/_merge_found.html", context)


@login_required
@require_GET
def customer_merge_confirm(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Who will be merged into whom, with the form that does it; or, in the same place, why
    this pair cannot be merged (the checks the merge itself runs, ``merge_pair``)."""
    try:
        customer = customer_get(customer_id=customer_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    context: dict[str, object] = {"customer": customer}
    try:
        merged, survivor = merge_pair(
            customer_id=customer_id,
            into_id=_into_id(request.GET.get("into", "")),
            viewer=request.user,
        )
    except DomainError as exc:
        context["refusal"] = exc.detail
        return render(request, "console/_merge_confirm.html", context)
    context.update(merged=merged, survivor=survivor)
    return render(request, "console/_merge_confirm.html", context)


def _into_id(raw: str) -> int:
    """The customer number typed in the form: ``42`` or ``#42``."""
    value = raw.strip().lstrip("#").strip()
    if not value.isdigit() or not 0 < int(value) < 2**62:
        raise InvalidInput(
            "give the number of the customer to keep, as on their page (Customer #42)",
            [FieldError("into", "a customer number")],
        )
    return int(value)


@login_required
@require_POST
def customer_merge_into(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Merge this customer into the one numbered in the form; then show that one."""
    try:
        merged, survivor = merge_pair(
            customer_id=customer_id,
            into_id=_into_id(request.POST.get("into", "")),
            viewer=request.user,
        )
        customer_merge(
            survivor=survivor,
            merged=merged,
            actor=request.user,
            now=utcnow(),
            reason=request.POST.get("reason", "").strip()[:200],
        )
    except NotFound as exc:
        return error_response(request, exc)
    except DomainError as exc:
        messages.error(request, f"Not merged: {exc.detail}.")
        return redirect("console:customer", customer_id)
    messages.success(request, f"{merged} (#{merged.pk}) merged into {survivor}. Undo below.")
    return redirect("console:customer", survivor.pk)


@login_required
@require_POST
def customer_merge_undo(request: HttpRequest, merge_id: int) -> HttpResponse:
    """Undo a merge; then show the customer it brought back."""
    try:
        merge = merge_get(merge_id=merge_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    try:
        merge_undo_check(merge=merge, viewer=request.user)
        back = customer_unmerge(merge=merge, actor=request.user, now=utcnow())
    except DomainError as exc:
        messages.error(request, f"Not undone: {exc.detail}.")
        return redirect("console:customer", merge.survivor_id)
    messages.success(request, f"Merge undone: {back} (#{back.pk}) stands on its own again.")
    return redirect("console:customer", back.pk)

"""Reads of customer merges for the console and the API: the history shown on a customer's
page, one merge by id, who may undo it, and the checks a merge request passes before
``customer_merge`` runs (with the field to blame, which the service's backstop errors lack).

Who may do what (the README's "Customer merges"):

- merge: whoever may see both customers (an agent of a team with a case or loop of each, an
  admin, an integration token). Merging a duplicate is everyday agent work.
- undo: the agent who made the merge, an admin, or an integration token. Undoing splits a
  history other people may since have worked on, so it is not for everyone who sees it.
"""

from __future__ import annotations

from django.db.models import Q

from lastmile.core.errors import (
    Conflict,
    ErrorCode,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from lastmile.customers.matching import customers_matching
from lastmile.customers.models import Customer, CustomerMerge
from lastmile.customers.selectors import customer_get
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check


def merge_list(*, customer: Customer, viewer: Viewer) -> list[CustomerMerge]:
    """Every merge into or out of ``customer``, newest first, undone ones too. The caller has
    checked ``viewer`` may see the customer."""
    viewer_check(viewer)
    return list(
        CustomerMerge.objects.filter(Q(survivor=customer) | Q(merged=customer))
        .select_related("survivor", "merged", "actor")
        .order_by("-merged_at", "-pk")
    )


def merge_get(*, merge_id: int, viewer: Viewer) -> CustomerMerge:
    """One merge, if ``viewer`` may see its survivor (or, once undone, either customer),
    otherwise the same 404 as missing."""
    viewer_check(viewer)
    merge = (
        CustomerMerge.objects.select_related("survivor", "merged", "actor")
        .filter(pk=merge_id)
        .first()
        if 0 < merge_id < 2**63
        else None
    )
    if merge is None:
        raise NotFound(f"merge {merge_id}")
    # The survivor may itself have been merged since: whoever sees where it lives now.
    ids = [merge.survivor_id] + ([merge.merged_id] if merge.undone_at is not None else [])
    if not any(_sees(customer_id=pk, viewer=viewer) for pk in ids):
        raise NotFound(f"merge {merge_id}")
    return merge


def _sees(*, customer_id: int, viewer: Viewer) -> bool:
    try:
        customer_get(customer_id=customer_id, viewer=viewer)
    except NotFound:
        return False
    return True


def merge_undo_allowed(*, merge: CustomerMerge, viewer: Viewer) -> bool:
    """The agent who merged, an admin, or ``SYSTEM`` may undo (module docstring)."""
    viewer = viewer_check(viewer)
    if viewer is SYSTEM or visible_team_ids(viewer) is None:
        return True
    return merge.actor_id is not None and merge.actor_id == viewer.pk


def merge_candidates(
    *, customer: Customer, viewer: Viewer, q: str, limit: int = 8
) -> list[Customer]:
    """The customers ``customer`` could be merged into, for the picker: those ``viewer``
    may see that match ``q`` (``customers_matching``: name, email, phone, handle, ``#42``),
    ``customer`` itself left out; at most ``limit + 1`` (one more says there are more)."""
    found = customers_matching(viewer=viewer, q=q, limit=limit + 1)
    return [c for c in found if c.pk != customer.pk][: limit + 1]


def merge_pair(
    *, customer_id: int, into_id: int | None, viewer: Viewer
) -> tuple[Customer, Customer]:
    """The customer to merge away and the one to keep, checked for a merge by ``viewer``:
    (merged, survivor). Refusals name the field: ``customer`` for the one in the address,
    ``into`` for the one to keep.

    - an unknown id, or one ``viewer`` may not see: 404 for ``customer``, 422 for ``into``;
    - a customer merged already (it no longer exists on its own): 409 ``already_merged``;
    - the same customer twice: 409 ``merge_self``.

    ``customer_merge`` checks the last two again inside its transaction.
    """
    merged = customer_get(customer_id=customer_id, viewer=viewer)  # 404 if not found
    if merged.pk != customer_id:
        raise Conflict(
            f"customer {customer_id} is already merged into {merged.pk}",
            code=ErrorCode.ALREADY_MERGED,
            errors=[FieldError("customer", f"already merged into customer {merged.pk}")],
        )
    if into_id is None:
        raise InvalidInput("give the customer to merge into", [FieldError("into", "required")])
    try:
        survivor = customer_get(customer_id=into_id, viewer=viewer)
    except NotFound:
        raise InvalidInput(
            f"customer {into_id} not found", [FieldError("into", "no such customer")]
        ) from None
    if survivor.pk != into_id:
        raise Conflict(
            f"customer {into_id} is already merged into {survivor.pk}",
            code=ErrorCode.ALREADY_MERGED,
            errors=[
                FieldError(
                    "into", f"already merged into customer {survivor.pk}; merge into that one"
                )
            ],
        )
    if survivor.pk == merged.pk:
        raise Conflict(
            "a customer cannot be merged into itself",
            code=ErrorCode.MERGE_SELF,
            errors=[FieldError("into", "must be another customer")],
        )
    return merged, survivor


def merge_undo_check(*, merge: CustomerMerge, viewer: Viewer) -> None:
    """Why ``viewer`` may not undo ``merge`` now, as the error the API and the console show
    (field ``merge``); ``customer_unmerge`` checks the state again under its row lock."""
    if not merge_undo_allowed(merge=merge, viewer=viewer):
        raise PermissionDenied("only the agent who made a merge, or an admin, may undo it")
    if merge.undone_at is not None:
        raise Conflict(
            "this merge was already undone",
            code=ErrorCode.ALREADY_UNDONE,
            errors=[FieldError("merge", f"undone at {merge.undone_at.isoformat()}")],
        )
    later = (
        CustomerMerge.objects.filter(merged=merge.survivor_id, undone_at__isnull=True)
        .order_by("-pk")
        .first()
    )
    if later is not None:
        raise Conflict(
            "the customer kept was itself merged later; undo that merge first",
            code=ErrorCode.MERGE_ORDER,
            errors=[FieldError("merge", f"undo merge {later.pk} first")],
        )

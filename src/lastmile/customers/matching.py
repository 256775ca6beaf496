"""Finding customers by what an agent types: a name, an email, a phone number in any format,
a social handle, or the number on a customer's page (``#42``).

One rule for every box that looks for a customer. It lives here, in the customers app, so
that the console (the merge picker) and the search app, which sit above and below each other
in the import order, can both call it; the search box's customer group finds the same
customers as ``customers_matching`` minus the ``#42`` form.
"""

from __future__ import annotations

import contextlib

from django.db.models import Q

from lastmile.customers.identities import IdentityError, identity_normalize
from lastmile.customers.models import Customer, Identity, IdentityKind
from lastmile.customers.selectors import customers_visible
from lastmile.people.viewers import Viewer, viewer_check

MIN_QUERY_LENGTH = 2
MAX_QUERY_LENGTH = 200


def identity_matches(q: str) -> Q | None:
    """The identities ``q`` is, in their stored form: any one of an email, a phone number
    (in whatever format ``phonenumbers`` parses, in the default region) or a handle."""
    keys = []
    if "@" in q[1:]:
        with contextlib.suppress(IdentityError):
            keys.append(identity_normalize(IdentityKind.EMAIL, q))
    if sum(ch.isdigit() for ch in q) >= 6:
        with contextlib.suppress(IdentityError):
            keys.append(identity_normalize(IdentityKind.PHONE, q))
    handle = q.lstrip("@").lower()
    match = Q()
    for key in keys:
        match |= Q(kind=key.kind, value=key.value)
    if handle and not any(ch.isspace() for ch in handle):
        match |= Q(kind=IdentityKind.SOCIAL, value=handle)
    return match or None


def customer_number(q: str) -> int | None:
    """The customer number in ``#42`` (as on a customer's page), else None. A bare ``42``
    is not one: it may be the start of a phone number."""
    rest = q.strip()
    if not rest.startswith("#"):
        return None
    rest = rest[1:].strip()
    return int(rest) if rest.isdigit() and 0 < int(rest) < 2**62 else None


def customers_matching(*, viewer: Viewer, q: str, limit: int = 8) -> list[Customer]:
    """The live customers ``viewer`` may see (``customers_visible``) whose name contains
    ``q``, who have the identity ``q`` normalises to, or whose number ``q`` is (``#42``),
    newest first; at most ``limit + 1`` (one more says there are more). A query under two
    characters finds nothing. Identities come prefetched, to show which customer is which.
    """
    viewer_check(viewer)
    q = (q or "").strip()[:MAX_QUERY_LENGTH]
    if len(q) < MIN_QUERY_LENGTH:
        return []
    wanted = Q(display_name__icontains=q)
    identities = identity_matches(q)
    if identities is not None:
        wanted |= Q(pk__in=Identity.objects.filter(identities).values("customer_id"))
    number = customer_number(q)
    if number is not None:
        wanted |= Q(pk=number)
    return list(
        customers_visible(viewer=viewer)
        .filter(wanted)
        .prefetch_related("identities")
        .order_by("-id")[: limit + 1]
    )

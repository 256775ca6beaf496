"""Reads of customers and the timeline, scoped to a viewer (a ``User``, or ``SYSTEM``, which
sees everything: an integration token, the CLI, a service)."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import (
    BooleanField,
    CharField,
    Exists,
    ExpressionWrapper,
    Max,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Concat

from lastmile.cases.selectors import cases_visible
from lastmile.core.errors import FieldError, InvalidInput, NotFound
from lastmile.core.instants import instant_parse
from lastmile.customers.models import Customer, CustomerMerge, Direction, Interaction, Sentiment
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer, viewer_check


def customer_get(*, customer_id: int, viewer: Viewer) -> Customer:
    """The live customer for ``customer_id`` (following merges), if ``viewer`` may see them.

    An agent sees a customer with a case they may open or a loop of one of their teams
    (``customers_visible``); not visible is the same 404 as missing.
    """
    viewer_check(viewer)  # before the lookup: a missing id must not hide a wrong viewer
    customer = Customer.objects.filter(pk=customer_id).first() if 0 < customer_id < 2**63 else None
    seen = set()
    while customer is not None and customer.merged_into_id and customer.pk not in seen:
        seen.add(customer.pk)
        customer = Customer.objects.filter(pk=customer.merged_into_id).first()
    if customer is None or not customer_visible(customer=customer, viewer=viewer):
        raise NotFound(f"customer {customer_id}")
    return customer


def customer_visible(*, customer: Customer, viewer: Viewer) -> bool:
    """Whether ``viewer`` may see ``customer`` (``customers_visible``'s rule, for one)."""
    teams = visible_team_ids(viewer)
    if teams is None:
        return True
    if not teams:
        return False
    return customers_visible(viewer=viewer).filter(pk=customer.pk).exists()


def customers_visible(*, viewer: Viewer) -> QuerySet[Customer]:
    """The live customers ``viewer`` may see: those with a case the viewer may open
    (``cases_visible``, the one case rule) or a loop one of the viewer's teams owns.

    Two ``EXISTS`` probes per customer the rest of the query picks (by the case's and the
    loop's index on the customer), never a join of every case and loop made distinct.
    """
    teams = visible_team_ids(viewer)
    qs = Customer.objects.filter(merged_into__isnull=True)
    if teams is None:
        return qs
    if not teams:
        return qs.none()
    case = cases_visible(viewer=viewer).filter(customer_id=OuterRef("pk")).values("pk")
    loop = Customer.objects.filter(pk=OuterRef("pk"), loops__team_id__in=teams).values("pk")
    return qs.filter(Q(Exists(case)) | Q(Exists(loop)))


def cases_last_outbound(
    *, case_ids: Iterable[int], excluding: Iterable[int]
) -> dict[int, datetime]:
    """When the latest outbound message on each of the cases ``case_ids`` was sent, leaving
    out the interactions ``excluding`` (a batch being recorded); a case with none is absent.
    One query."""
    return dict(
        Interaction.objects.filter(case_id__in=case_ids, direction=Direction.OUTBOUND)
        .exclude(pk__in=excluding)
        .values("case_id")
        .annotate(last=Max("occurred_at"))
        .values_list("case_id", "last")
    )


# What only those who may open the interaction's case may read: an agent's note is written
# for colleagues. Inbound messages are the customer's own words and outbound ones what the
# customer was sent: whoever sees the customer sees those, whichever team's case they are on.
INTERNAL_DIRECTIONS = frozenset({Direction.NOTE})


@dataclass
class Page:
    """One page of interactions as ``viewer`` may read them.

    ``withheld`` maps the id of each internal interaction on a case the viewer cannot open
    to the sentence shown instead; its row in ``items`` is a stand-in holding only the
    time, channel, direction and case (no body, data, actor or source id), so a renderer
    that forgets to look here still shows nothing of it. ``open_cases`` are the ids of the
    page's cases the viewer may open (every one for ``SYSTEM`` or an admin).
    """

    items: list[Interaction]
    next: str | None
    withheld: dict[int, str] = field(default_factory=dict)
    open_cases: set[int] = field(default_factory=set)


def _cursor_encode(row: Interaction) -> str:
    raw = f"{row.occurred_at.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _cursor_decode(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, pk = base64.urlsafe_b64decode(padded.encode()).decode().split("|")
        # Bounded like every API date: a forged year 1 or 9999 overflowed in the database's
        # time zone conversion (a 500), a forged huge pk in its integer type.
        when, number = instant_parse(at), int(pk)
        if not 0 < number < 2**62:
            raise ValueError("pk out of range")
        return when, number
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(
            "bad cursor", [FieldError("before", "not a cursor this API gave out")]
        ) from None


def timeline(
    *,
    customer: Customer,
    viewer: Viewer,
    before: str | None = None,
    limit: int = 50,
    sentiment: str | None = None,
) -> Page:
    """The customer's interactions, newest first, keyset-paginated on (occurred_at, id).

    ``before`` is the ``next`` cursor of the previous page. One indexed range scan per page,
    however deep the page. ``sentiment`` keeps the inbound messages with that label. The
    caller has checked ``viewer`` may see the customer; an internal note on a case the
    viewer cannot open is withheld (``Page.withheld``).
    """
    qs = Interaction.objects.filter(customer_id=customer.pk)
    return _page(_with_sentiment(qs, sentiment), before=before, limit=limit, viewer=viewer)


def interactions_list(
    *,
    viewer: Viewer,
    sentiment: str | None = None,
    customer: Customer | None = None,
    channel: str | None = None,
    direction: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """Interactions across customers, newest first, as ``timeline`` pages them.

    An agent sees the interactions of the customers they may see (``customers_visible``);
    ``SYSTEM`` (an integration token) sees all. ``sentiment`` or ``customer`` is
    required: each has an index to walk newest first (``sentiment`` the partial index of
    scored messages); anything else would sort the whole timeline table for one page.
    """
    if sentiment is None and customer is None:
        raise InvalidInput(
            "give sentiment or customer",
            [FieldError("sentiment", "required unless customer is given")],
        )
    qs = Interaction.objects.all()
    if customer is not None:
        qs = qs.filter(customer_id=customer.pk)
    if visible_team_ids(viewer) is not None:
        qs = qs.filter(customer_id__in=customers_visible(viewer=viewer).values("pk"))
    if channel:
        qs = qs.filter(channel=channel)
    if direction:
        qs = qs.filter(direction=direction)
    return _page(_with_sentiment(qs, sentiment), before=before, limit=limit, viewer=viewer)


def _with_sentiment(qs: Any, sentiment: str | None) -> Any:
    if sentiment is None:
        return qs
    if sentiment not in Sentiment.values:
        raise InvalidInput(
            f"unknown sentiment {sentiment!r}",
            [FieldError("sentiment", f"one of {', '.join(Sentiment.values)}")],
        )
    return qs.filter(sentiment_label=sentiment)


def _page(qs: Any, *, before: str | None, limit: int, viewer: Viewer) -> Page:
    if not 1 <= limit <= 200:
        raise InvalidInput("limit out of range", [FieldError("limit", "between 1 and 200")])
    if before:
        at, pk = _cursor_decode(before)
        qs = qs.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=pk))
    # The page's rows are picked from the interactions alone (the timeline index, stopping
    # after limit + 1) and only those joined to their case, team and actor: joined first,
    # PostgreSQL read, joined and sorted every interaction of the customer for one page.
    order = ("-occurred_at", "-id")
    picked = qs.order_by(*order).values("pk")[: limit + 1]
    rows = list(
        Interaction.objects.filter(pk__in=picked)
        .select_related("case", "case__team", "actor")
        .order_by(*order)
    )
    next_cursor = _cursor_encode(rows[limit - 1]) if len(rows) > limit else None
    return _as_seen_by(rows[:limit], next_cursor, viewer=viewer)


def _as_seen_by(rows: list[Interaction], next_cursor: str | None, *, viewer: Viewer) -> Page:
    """The page with every internal note on a case ``viewer`` cannot open replaced by a
    stand-in. Which cases the viewer may open is the cases app's rule (``cases_visible``,
    the one the case page's 404 uses): a case one of the viewer's teams owns is open to it
    (the rule's first clause, read from the rows' cases); the others are asked once for
    the page."""
    case_ids = {r.case_id for r in rows if r.case_id is not None}
    teams = visible_team_ids(viewer)
    if teams is None or not case_ids:
        return Page(items=rows, next=next_cursor, open_cases=case_ids)
    open_cases = {r.case.pk for r in rows if r.case is not None and r.case.team_id in teams}
    if case_ids - open_cases:
        open_cases |= set(
            cases_visible(viewer=viewer)
            .filter(pk__in=case_ids - open_cases)
            .values_list("pk", flat=True)
        )
    items: list[Interaction] = []
    withheld: dict[int, str] = {}
    for row in rows:
        if row.direction in INTERNAL_DIRECTIONS and row.case_id not in open_cases | {None}:
            withheld[row.pk] = withheld_notice(row)
            row = _stand_in(row)
        items.append(row)
    return Page(items=items, next=next_cursor, withheld=withheld, open_cases=open_cases)


def withheld_notice(row: Interaction) -> str:
    team = row.case.team if row.case is not None else None
    where = f"a case of {team.name}" if team is not None else "a case you cannot open"
    return f"Internal note on {where} — not visible to you"


def _stand_in(row: Interaction) -> Interaction:
    """An unsaved copy with only what the notice shows; never saved (it has no body)."""
    return Interaction(
        pk=row.pk,
        customer_id=row.customer_id,
        case=row.case,
        channel=row.channel,
        direction=row.direction,
        occurred_at=row.occurred_at,
        recorded_at=row.occurred_at,
        body="",
        data=None,
    )


def customers_grant_cases(teams: set[int], case: Any) -> QuerySet[Any]:
    """The ``case.view`` grant customers register for ``cases_visible``: what a member of one
    of ``teams`` wrote on ``case`` (a reply, a note, a call logged), as front office opens
    the case where its own call notes are. Through the partial (case, occurred_at) index."""
    return Interaction.objects.filter(case_id=case, actor__agent__teams__in=sorted(teams))


# --- for copies of the event store (funnels' analytics copy) ---------------------------------

MOVED_KEY = "customers.Interaction.customer"  # how a merge records the interactions it moved
CHUNK = 5000


def interactions_after_raw(
    *,
    after_id: int,
    limit: int,
    channels: Sequence[str],
    recorded_before: datetime | None = None,
) -> list[tuple[int, int, str, str | None, str, bool]]:
    """(id, customer, occurred_at as text, data as JSON text, channel, recorded late) of
    the next ``limit`` interactions on ``channels`` after ``after_id``, by id: a copy's next
    batch past its high-water mark, as stored, for an engine that parses the text itself.
    "Late" means recorded after ``recorded_before`` (never, when it is None).

    The channel is tested on each row, not looked up in its index: SQLite would otherwise
    read every web/app row after the mark through the (channel, source) index and sort
    them, three times the time of the id range it reads this way."""
    late: Any = (
        ExpressionWrapper(Q(recorded_at__gt=recorded_before), output_field=BooleanField())
        if recorded_before is not None
        else Value(False)
    )
    return list(
        Interaction.objects.filter(pk__gt=after_id)
        .alias(row_channel=Concat("channel", Value(""), output_field=CharField()))
        .filter(row_channel__in=list(channels))
        .order_by("pk")
        .annotate(
            at_text=Cast("occurred_at", TextField()),
            data_text=Cast("data", TextField()),
            late=late,
        )
        .values_list("pk", "customer_id", "at_text", "data_text", "channel", "late")[:limit]
    )


def customers_merged() -> list[tuple[int, int]]:
    """(merged customer, the live customer it now is) for every merged customer, chains
    followed (A into B, B into C: A is C). One read of every merged row, where
    ``customer_ids_live`` follows given ids hop by hop."""
    into: dict[int, int] = {
        pk: target
        for pk, target in Customer.objects.filter(merged_into__isnull=False).values_list(
            "pk", "merged_into"
        )
        if target is not None
    }
    out = []
    for pk in into:
        live, seen = pk, set()
        while live in into and live not in seen:
            seen.add(live)
            live = into[live]
        out.append((pk, live))
    return out


def interactions_moved_back(*, channels: Sequence[str]) -> list[tuple[int, int]]:
    """(interaction id, its customer now) for the interactions on ``channels`` that an undone
    merge moved (a copy made while the merge stood still holds the survivor)."""
    pks: set[int] = set()
    for moved in CustomerMerge.objects.filter(undone_at__isnull=False).values_list(
        "moved", flat=True
    ):
        pks.update((moved or {}).get(MOVED_KEY, []))
    ordered = sorted(pks)
    out: list[tuple[int, int]] = []
    for i in range(0, len(ordered), CHUNK):
        out += Interaction.objects.filter(
            pk__in=ordered[i : i + CHUNK], channel__in=list(channels)
        ).values_list("pk", "customer_id")
    return out

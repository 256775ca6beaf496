"""Reads of working together, scoped to a viewer: version stamps the pages poll, who is on
a case, a note's mentions, the viewer's notifications."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from lastmile.cases.models import Case, CaseEvent
from lastmile.cases.selectors import cases_visible, ref_number
from lastmile.core.errors import NotFound
from lastmile.customers.models import Interaction
from lastmile.live.models import Mention, Notification, Presence
from lastmile.loops.models import LoopEvent
from lastmile.people.viewers import Viewer

# A heartbeat older than this is nobody: the page beats every 5 s while its tab is visible.
PRESENCE_SECONDS = 15
NOTIFICATIONS_PER_PAGE = 25


def _last_id(qs: QuerySet[Any], key: str) -> Subquery:
    """The greatest id of ``qs`` (rows of one case, grouped by ``key``), as a subquery.

    ``id + 0``: the greatest plain ``id`` would let the planner walk the whole table's
    primary key backwards until a row of the case turns up (an old case's rows are far
    back); the expression makes it read the case's rows along the case's index instead.
    """
    return Subquery(qs.order_by().values(key).annotate(last=Max(F("id") + 0)).values("last")[:1])


def _versioned(cases: QuerySet[Case]) -> tuple[Any, ...] | None:
    return (
        cases.annotate(
            last_message=_last_id(Interaction.objects.filter(case_id=OuterRef("pk")), "case_id"),
            last_loop_event=_last_id(
                LoopEvent.objects.filter(loop__case_id=OuterRef("pk")), "loop__case_id"
            ),
            last_case_event=_last_id(CaseEvent.objects.filter(case_id=OuterRef("pk")), "case_id"),
        )
        .values_list("updated_at", "last_message", "last_loop_event", "last_case_event")
        .first()
    )


def _stamp(row: tuple[Any, ...]) -> str:
    updated_at, *ids = row
    return "-".join([f"{updated_at.timestamp():.6f}", *(str(i or 0) for i in ids)])


def case_version(*, ref: str, viewer: Viewer) -> str:
    """A stamp of what the case page shows that changes whenever a message is recorded on
    the case, a loop of it changes (every change of a loop writes one of its events), or the
    case itself does (status, assignee, team, priority, subject: ``updated_at``, and its
    events). NotFound if ``viewer`` may not open the case, as ``case_get``.

    One query (besides the viewer's teams): the case row with the last id of each of its
    three trails, each read backwards along an index of the case.
    """
    number = ref_number(ref)
    row = _versioned(cases_visible(viewer=viewer).filter(number=number)) if number else None
    if row is None:
        raise NotFound(f"case {ref}")
    return _stamp(row)


def case_version_of(*, case: Case) -> str:
    """The stamp of ``case`` (one the viewer has opened already), as ``case_version``."""
    row = _versioned(Case.objects.filter(pk=case.pk))
    return _stamp(row) if row is not None else ""


@dataclass(frozen=True)
class PresenceRow:
    user_id: int
    name: str
    typing: bool


def presence_on_case(*, case: Case, viewer: Viewer, now: datetime) -> list[PresenceRow]:
    """Who else has ``case`` open now (a heartbeat in the last ``PRESENCE_SECONDS``), and
    whether they are typing, by name. ``case`` is one the viewer may open (``case_get``)."""
    rows = (
        Presence.objects.filter(case=case, last_seen__gt=now - timedelta(seconds=PRESENCE_SECONDS))
        .exclude(user_id=viewer.pk if isinstance(viewer, User) else 0)
        .select_related("user")
        .order_by("user__first_name", "user__username")
    )
    return [
        PresenceRow(
            user_id=p.user_id,
            name=p.user.first_name or p.user.username,
            typing=p.typing_until is not None and p.typing_until > now,
        )
        for p in rows
    ]


def mentions_of(*, interaction_ids: Iterable[int]) -> dict[int, list[Mention]]:
    """The mentions of each of these notes, in the order written. One query."""
    found: dict[int, list[Mention]] = defaultdict(list)
    ids = [i for i in interaction_ids if i]
    if not ids:
        return found
    for m in Mention.objects.filter(interaction_id__in=ids).select_related("user").order_by("id"):
        found[m.interaction_id].append(m)
    return found


def notifications_unread_count(*, viewer: User) -> int:
    """How many of the viewer's notifications are unread (the badge). One indexed count: it
    counts the rows the lists show, held ones included (``notifications_readable``)."""
    return Notification.objects.filter(recipient=viewer, read_at__isnull=True).count()


def notifications_readable(*, viewer: User) -> QuerySet[Notification]:
    """The viewer's notifications, newest first, each annotated ``may_open``: whether the
    viewer may still open its case (``cases_visible``; a row with no case: yes).

    A notification keeps what it said when it was written (a note's words, a loop's title);
    an agent who has since lost the case (moved team, case moved away) must not read it
    there any more. The lists show such a row as "held by <team>", without its text
    (``redact``)."""
    return (
        Notification.objects.filter(recipient=viewer)
        .select_related("case__team", "actor")
        .annotate(
            may_open=ExpressionWrapper(
                Q(case__isnull=True)
                | Q(Exists(cases_visible(viewer=viewer).filter(pk=OuterRef("case_id")))),
                output_field=BooleanField(),
            )
        )
        .order_by("-created_at", "-id")
    )


def redact(rows: Iterable[Notification]) -> list[Notification]:
    """``rows`` (of ``notifications_readable``), the text of each the viewer may no longer
    open replaced by ``held_by``: the team that holds the case, and nothing of its content."""
    out = []
    for n in rows:
        n.held_by = ""  # type: ignore[attr-defined]
        if not getattr(n, "may_open", True):
            team = n.case.team if n.case is not None else None
            n.held_by = team.name if team is not None else "another team"  # type: ignore[attr-defined]
            n.text = ""
        out.append(n)
    return out


def notification_list(*, viewer: User, page_number: str | int | None = 1) -> Page:
    """The viewer's notifications, newest first, a page at a time; never anyone else's, and
    none's text of a case the viewer may no longer open (``redact``)."""
    page = Paginator(notifications_readable(viewer=viewer), NOTIFICATIONS_PER_PAGE).get_page(
        page_number
    )
    page.object_list = redact(page.object_list)
    return page


def notifications_latest(*, viewer: User, limit: int = 8) -> list[Notification]:
    """The viewer's latest notifications, for the top bar's list (redacted as the page)."""
    return redact(notifications_readable(viewer=viewer)[:limit])

"""Reads of the outbox: a customer's contact history, what the timeline shows, the contact
rule for a customer, and what the next contact with them would meet (``contact_preview``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce

from lastmile.channels.contact import (
    Contact,
    Decision,
    History,
    Outcome,
    Outgoing,
    RuleSpec,
    contact_allowed_at,
    contact_decide,
    rule_pick,
    timezone_pick,
)
from lastmile.channels.models import OUTBOX_STATUS, ContactRule, OutboxMessage, OutboxStatus
from lastmile.core.choices import Badge
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check

# Enough for any sane cap; a customer flooded beyond it is still over every cap.
HISTORY_LIMIT = 1000


def contact_history(*, customer_id: int, exclude: int | None = None) -> History:
    """What counts towards the contact rules for a customer, newest first.

    A contact is a message sent (at ``sent_at``) or in flight (claimed by a worker, at
    ``claimed_at``): a message a worker is sending right now counts, so two workers cannot
    both pass one cap. Failed and suppressed messages never reached the customer.
    ``last_inbound_at`` is when the customer last wrote, on any channel.
    """
    qs = (
        OutboxMessage.objects.filter(customer_id=customer_id)
        .filter(Q(status=OutboxStatus.SENT) | Q(claimed_at__isnull=False))
        .annotate(at=Coalesce("sent_at", "claimed_at"))
        .order_by("-at")
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    contacts = tuple(
        Contact(purpose, at) for purpose, at in qs.values_list("purpose", "at")[:HISTORY_LIMIT]
    )
    return History(contacts=contacts, last_inbound_at=_last_inbound_at(customer_id))


def _last_inbound_at(customer_id: int) -> datetime | None:
    # The timeline belongs to customers; its index (customer, -occurred_at) makes this one
    # short range scan. Read here rather than through a customers selector, which has none.
    from lastmile.customers.models import Direction, Interaction

    return (
        Interaction.objects.filter(customer_id=customer_id, direction=Direction.INBOUND)
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )


def outbox_for_customer(
    *,
    customer: Any,
    viewer: Viewer,
    limit: int = 20,
    statuses: Sequence[str] | None = None,
) -> list[OutboxMessage]:
    """The customer's outbound messages, newest first, with the rule that held or stopped each.

    For the timeline: the viewer must already be allowed to see ``customer``. Each message
    carries ``error_shown``, its last error as ``viewer`` may read it (``outbox_error_shown``),
    and ``badge``, how its status is shown (``outbox_status_badge``).
    """
    qs = OutboxMessage.objects.filter(customer_id=customer.pk).select_related("rule", "case")
    if statuses:
        qs = qs.filter(status__in=list(statuses))
    messages = list(qs.order_by("-created_at", "-id")[: max(1, min(limit, 200))])
    full = _sees_receivers_answers(viewer)
    for message in messages:
        message.error_shown = outbox_error_shown(message, viewer=viewer, full=full)  # type: ignore[attr-defined]
        message.badge = outbox_status_badge(message)  # type: ignore[attr-defined]
    return messages


def outbox_status_badge(message: OutboxMessage) -> Badge:
    """How a message's status is shown: a pending message a worker has claimed is "Sending";
    one a contact rule held and that was never tried is "Held"; otherwise its status."""
    if message.status == OutboxStatus.PENDING:
        if message.claimed_at:
            return OUTBOX_STATUS.derived("sending")
        if message.rule_check and not message.attempts:
            return OUTBOX_STATUS.derived("held")
    return OUTBOX_STATUS.badge(message.status)


# "HTTP 500: <what the receiver answered>", as ``lastmile.webhooks.sender.Outcome.describe``
# writes it into a transport's error.
_RECEIVER_ANSWER = re.compile(r"\bHTTP \d{3}(?=: )")


def outbox_error_shown(message: OutboxMessage, *, viewer: Viewer, full: bool | None = None) -> str:
    """``message.last_error`` as ``viewer`` may read it: in full for admins and ``SYSTEM``;
    for everyone else cut after the status line, so "shop: HTTP 500: <the receiver's
    page>" shows as "shop: HTTP 500".

    A receiver's answer may hold what only its operators should read (an internal
    service's page, had a target slipped through); the API keeps it from non-admins too
    (``lastmile.webhooks.api.sees_responses``). Errors of our own (no answer, a target
    refused before sending) are shown whole: they say nothing the receiver wrote.
    """
    text = message.last_error or ""
    if full is None:
        full = _sees_receivers_answers(viewer)
    else:
        viewer_check(viewer)  # the caller knows the answer, yet None is still no viewer
    if full:
        return text
    status = _RECEIVER_ANSWER.search(text)
    return text[: status.end()] if status else text


def _sees_receivers_answers(viewer: Viewer) -> bool:
    """Admins, superusers and ``SYSTEM`` (an integration token reads them in the API too)."""
    from lastmile.people.models import Role
    from lastmile.people.selectors import agent_for

    viewer = viewer_check(viewer)
    if viewer is SYSTEM or viewer.is_superuser:
        return True
    agent = agent_for(viewer)
    return agent is not None and agent.role == Role.ADMIN


# --- the contact rules, and what the next contact would meet -------------------------------


def contact_rules() -> list[RuleSpec]:
    """Every contact rule, as ``contact_decide`` reads them (the general rule of a purpose
    before its rules on attributes)."""
    return [RuleSpec.of(r) for r in ContactRule.objects.all()]


def contact_rule_for(*, purpose: str, customer: Any = None) -> RuleSpec | None:
    """The rule that governs a ``purpose`` contact with ``customer`` (a Customer, or None for
    a message that names none): the most specific for the customer's attributes, as the
    outbox worker picks it (``channels.contact.rule_pick``); None when the purpose has none."""
    rules = [RuleSpec.of(r) for r in ContactRule.objects.filter(purpose=purpose)]
    return rule_pick(rules, purpose, getattr(customer, "attributes", None))


# What an agent may be about to do, and the purpose whose rule governs it: a phone call is a
# call-back attempt; a message the agent starts (not a reply) is a notification.
PREVIEW_KINDS: dict[str, tuple[str, str]] = {
    "call": ("callback", "Call"),
    "message": ("notification", "Message"),
    "survey": ("survey", "Survey"),
}
# An outbound timeline row on these channels was a call: it counts for the callback rule.
CALL_CHANNELS = frozenset({"phone"})


@dataclass(frozen=True)
class RecentContact:
    """One contact the customer got, for the console's list: from the outbox (``kind`` is the
    message's purpose), from the timeline (an agent's call or reply given on a channel
    lastmile does not send on: ``kind`` is ``call`` or ``reply``) or from a registered
    source (a survey invite). ``purpose`` is what the contact rules count it as (``""``:
    shown, not counted)."""

    at: datetime
    kind: str
    channel: str
    team: str = ""
    case_ref: str = ""
    status: str = ""
    purpose: str = ""
    source: str = "outbox"


# Contacts kept outside the outbox and the timeline (a survey link or a portal invite) come
# from sources that upper apps register in their ``AppConfig.ready``: ``fn(customer_id)``
# returns those contacts and when the customer last answered (None when never). The source
# leaves out what the outbox already counts.
ContactSource = Callable[[int], tuple[Sequence[RecentContact], datetime | None]]
_contact_sources: dict[str, ContactSource] = {}


def contact_source_register(name: str, source: ContactSource) -> None:
    """Register (or replace) the contact source ``name`` for ``contact_preview``."""
    _contact_sources[name] = source


@dataclass(frozen=True)
class ContactPreview:
    """What a contact of ``kind`` with the customer would meet at ``now``: the rule's
    ``decision`` (send, or held or stopped with the rule and the reason), ``allowed_at``
    (the first instant it may go if nothing changes; None when only the customer writing
    lifts the stop), and the customer's ``recent`` contacts, newest first."""

    kind: str
    label: str
    purpose: str
    rule: RuleSpec | None
    decision: Decision
    allowed_at: datetime | None
    timezone: str
    recent: tuple[RecentContact, ...] = ()

    @property
    def breaks_policy(self) -> bool:
        return self.decision.outcome is not Outcome.SEND

    @property
    def stopped(self) -> bool:
        return self.decision.outcome is Outcome.SUPPRESS


def contact_preview(
    *, customer: Any, kind: str, now: datetime, viewer: Viewer, limit: int = 10
) -> ContactPreview:
    """Would a ``kind`` contact (``call``, ``message``, ``survey``: ``PREVIEW_KINDS``) with
    ``customer`` break the contact policy at ``now``? Decided by ``contact_decide`` over the
    rule ``contact_rule_for`` picks, in the customer's time zone, against their whole contact
    history: the outbox's (every team, every channel), the agents' calls on the timeline and
    any registered source. The viewer must already be allowed to see ``customer``."""
    return contact_previews(customer=customer, kinds=(kind,), now=now, viewer=viewer, limit=limit)[
        0
    ]


def contact_previews(
    *,
    customer: Any,
    now: datetime,
    viewer: Viewer,
    kinds: Sequence[str] = tuple(PREVIEW_KINDS),
    limit: int = 10,
) -> list[ContactPreview]:
    """``contact_preview`` for each of ``kinds``, reading the history once."""
    viewer_check(viewer)
    unknown = [k for k in kinds if k not in PREVIEW_KINDS]
    if unknown:
        raise ValueError(f"unknown contact kinds: {unknown}")
    history, recent = _preview_history(customer, now=now, limit=limit)
    purposes = [PREVIEW_KINDS[k][0] for k in kinds]
    rules = [RuleSpec.of(r) for r in ContactRule.objects.filter(purpose__in=purposes)]
    zone = timezone_pick(customer.timezone, default=settings.TIME_ZONE)
    out = []
    for kind, purpose in zip(kinds, purposes, strict=True):
        rule = rule_pick(rules, purpose, customer.attributes)
        outgoing = Outgoing(purpose=purpose, rule=rule, has_customer=True, timezone=zone)
        out.append(
            ContactPreview(
                kind=kind,
                label=PREVIEW_KINDS[kind][1],
                purpose=purpose,
                rule=rule,
                decision=contact_decide(outgoing, history, now),
                allowed_at=contact_allowed_at(outgoing, history, now),
                timezone=zone,
                recent=recent,
            )
        )
    return out


def _preview_history(
    customer: Any, *, now: datetime, limit: int
) -> tuple[History, tuple[RecentContact, ...]]:
    from lastmile.customers.models import Direction, Interaction

    outbox = contact_history(customer_id=customer.pk)
    shown = [
        RecentContact(
            at=m.sent_at or m.claimed_at or m.created_at,
            kind=m.purpose,
            channel=m.channel.split(":", 1)[0],
            team=_team_name(m.case),
            case_ref=m.case.ref if m.case is not None else "",
            status="sent" if m.status == OutboxStatus.SENT else "sending",
            purpose=m.purpose,
        )
        for m in OutboxMessage.objects.filter(customer_id=customer.pk)
        .filter(Q(status=OutboxStatus.SENT) | Q(claimed_at__isnull=False))
        .select_related("case__team")
        .annotate(at=Coalesce("sent_at", "claimed_at"))
        .order_by("-at", "-pk")[:limit]
    ]
    # The outbox's replies were written with their timeline row, at the same instant on the
    # same case: that row is the same contact, not another.
    replies = set(
        OutboxMessage.objects.filter(customer_id=customer.pk, purpose="reply").values_list(
            "case_id", "created_at"
        )[:HISTORY_LIMIT]
    )
    timeline = []
    for row in (
        Interaction.objects.filter(customer_id=customer.pk, direction=Direction.OUTBOUND)
        .select_related("case__team")
        .order_by("-occurred_at", "-id")[:200]
    ):
        if (row.case_id, row.occurred_at) in replies:
            continue
        call = row.channel in CALL_CHANNELS
        delivery = (row.data or {}).get("delivery", "") if isinstance(row.data, dict) else ""
        timeline.append(
            RecentContact(
                at=row.occurred_at,
                kind="call" if call else "reply",
                channel=row.channel.split(":", 1)[0],
                team=_team_name(row.case),
                case_ref=row.case.ref if row.case is not None else "",
                status=str(delivery) or "logged",
                purpose=PREVIEW_KINDS["call"][0] if call else "reply",
                source="timeline",
            )
        )
    extra: list[RecentContact] = []
    last_inbound = outbox.last_inbound_at
    for source in _contact_sources.values():
        contacts, answered = source(customer.pk)
        extra.extend(contacts)
        if answered is not None and (last_inbound is None or answered > last_inbound):
            last_inbound = answered
    counted = outbox.contacts + tuple(
        Contact(c.purpose, c.at) for c in (*timeline, *extra) if c.purpose and c.at <= now
    )
    history = History(
        contacts=tuple(sorted(counted, key=lambda c: c.at, reverse=True)),
        last_inbound_at=last_inbound,
    )
    recent = sorted((*shown, *timeline, *extra), key=lambda c: c.at, reverse=True)[:limit]
    return history, tuple(recent)


def _team_name(case: Any) -> str:
    team = getattr(case, "team", None) if case is not None else None
    return team.name if team is not None else ""

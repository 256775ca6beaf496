"""Writes of working together: presence on a case, @mentions in notes, notifications.

Presence is written by the case page's heartbeat; mentions, assignments and breaches come in
as events (``LiveConfig.ready`` subscribes), in the transaction of the change that caused
them, so a notification exists exactly when its cause committed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower

from lastmile.cases.models import Case
from lastmile.cases.selectors import cases_visible
from lastmile.core.errors import NotFound
from lastmile.customers.models import Direction
from lastmile.customers.services.timeline import InteractionRow
from lastmile.live.models import (
    Mention,
    MentionMatch,
    Notification,
    NotificationKind,
    Presence,
)
from lastmile.people.models import Agent, Team
from lastmile.people.viewers import SYSTEM

# A typing ping holds "is typing…" this long; the composer pings at most every 2 s while
# the agent types, so it lapses a few seconds after they stop.
TYPING_SECONDS = 6
# Presence rows of a case not seen for this long are deleted on the next heartbeat there.
PRESENCE_KEEP = timedelta(hours=1)

# ``@name``: not inside a word or an email address (``ana@example.com`` mentions nobody);
# a trailing dot or dash is punctuation, not part of the name.
MENTION_RE = re.compile(r"(?<![\w@.])@([\w][\w.-]*)")


def _person(user: Any) -> str:
    return (user.first_name or user.username) if user is not None else "Somebody"


def _snippet(text: str, size: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1].rstrip() + "…"


# --- presence ------------------------------------------------------------------------------


def presence_beat(*, user: User, case: Case, typing: bool, now: datetime) -> None:
    """``user`` has ``case`` open now (and is typing in its composer, if ``typing``).

    The caller checked that ``user`` may open ``case`` (``case_get``). One upsert on
    (user, case): concurrent beats of two tabs cannot collide on the unique constraint. A
    beat without typing leaves a typing ping's time as it was, so the other tab's heartbeat
    does not hide that the agent is typing in this one. Rows of the case not seen for
    ``PRESENCE_KEEP`` are deleted.
    """
    with transaction.atomic():
        Presence.objects.bulk_create(
            [
                Presence(
                    user=user,
                    case=case,
                    last_seen=now,
                    typing_until=now + timedelta(seconds=TYPING_SECONDS) if typing else None,
                )
            ],
            update_conflicts=True,
            unique_fields=["user", "case"],
            update_fields=["last_seen", *(["typing_until"] if typing else [])],
        )
        Presence.objects.filter(case=case, last_seen__lt=now - PRESENCE_KEEP).delete()


def presence_leave(*, user: User, case: Case) -> None:
    """``user`` closed ``case``'s page: nobody sees them there any more."""
    Presence.objects.filter(user=user, case=case).delete()


# --- mentions ------------------------------------------------------------------------------


def mention_tokens(body: str) -> list[str]:
    """The names ``@mentioned`` in ``body``, each once, in order (punctuation trimmed)."""
    seen: dict[str, str] = {}
    for m in MENTION_RE.finditer(body or ""):
        token = m.group(1).rstrip(".-")[:150]
        if token and token.lower() not in seen:
            seen[token.lower()] = token
    return list(seen.values())


@dataclass(frozen=True)
class MentionResolved:
    token: str
    user: User | None
    matched: str


def mentions_resolve(tokens: Sequence[str]) -> list[MentionResolved]:
    """Which agent each token names: an active agent whose username it is (any case), else
    the one active agent with that first name; several with it is ambiguous, none is none.
    One query for all the tokens."""
    if not tokens:
        return []
    lowered = {t.lower() for t in tokens}
    users = list(
        get_user_model()
        .objects.filter(is_active=True, agent__isnull=False)
        .annotate(u=Lower("username"), f=Lower("first_name"))
        .filter(Q(u__in=lowered) | Q(f__in=lowered))
    )
    found = []
    for token in tokens:
        key = token.lower()
        by_username = [u for u in users if u.u == key]
        by_first = [u for u in users if u.f == key]
        if by_username:
            found.append(MentionResolved(token, by_username[0], MentionMatch.USERNAME))
        elif len(by_first) == 1:
            found.append(MentionResolved(token, by_first[0], MentionMatch.FIRST_NAME))
        elif by_first:
            found.append(MentionResolved(token, None, MentionMatch.AMBIGUOUS))
        else:
            found.append(MentionResolved(token, None, MentionMatch.NONE))
    return found


def _may_open(user: User, case_id: int) -> bool:
    return cases_visible(viewer=user).filter(pk=case_id).exists()


def mentions_record(*, interactions: Sequence[InteractionRow], now: datetime) -> list[Mention]:
    """Record the ``@mentions`` of the internal notes among ``interactions`` (just written)
    and notify each agent they name.

    1. Only notes on a case with an ``@`` in them are read: anything else costs no query
       (the ingest's batches pass through here).
    2. Each token is matched (``mentions_resolve``) and stored as a ``Mention`` saying what
       it matched, shown under the note.
    3. The agent matched is notified, unless they wrote the note or may not open its case
       (``cases_visible``): a mention does not widen who sees a case, so they are told
       nothing, and the note shows that they were not notified.
    """
    notes = [
        (r, mention_tokens(r.body))
        for r in interactions
        if r.direction == Direction.NOTE
        and r.case_id is not None
        and r.pk is not None
        and "@" in r.body
    ]
    notes = [(r, tokens) for r, tokens in notes if tokens]
    if not notes:
        return []
    resolved = {
        m.token.lower(): m for m in mentions_resolve([t for _, tokens in notes for t in tokens])
    }
    cases = (
        cases_visible(viewer=SYSTEM)
        .select_related(None)
        .only("number")
        .in_bulk({r.case_id for r, _ in notes})
    )
    mentions: list[Mention] = []
    notifications: list[Notification] = []
    for r, tokens in notes:
        case = cases[r.case_id or 0]
        for token in tokens:
            m = resolved[token.lower()]
            matched, user = m.matched, m.user
            if user is not None and r.actor is not None and user.pk == r.actor.pk:
                matched = MentionMatch.SELF
            elif user is not None and not _may_open(user, case.pk):
                matched = MentionMatch.NO_ACCESS
            mentions.append(
                Mention(interaction_id=r.pk or 0, token=token, user=user, matched=matched)
            )
            if matched in (MentionMatch.USERNAME, MentionMatch.FIRST_NAME) and user is not None:
                notifications.append(
                    Notification(
                        recipient=user,
                        kind=NotificationKind.MENTION,
                        case=case,
                        actor=r.actor,
                        text=_snippet(
                            f"{_person(r.actor)} mentioned you on {case.ref}: {r.body}", 300
                        ),
                        created_at=now,
                    )
                )
    with transaction.atomic():
        Mention.objects.bulk_create(mentions)
        Notification.objects.bulk_create(notifications)
    return mentions


# --- notifications -------------------------------------------------------------------------


def notify_assignment(
    *, case: Case, assignee: User | None, actor: User | None, now: datetime
) -> Notification | None:
    """Tell ``assignee`` that ``case`` is theirs now, unless they took it themselves."""
    if assignee is None or (actor is not None and actor.pk == assignee.pk):
        return None
    by = f"{_person(actor)} assigned" if actor is not None else "Assigned"
    return Notification.objects.create(
        recipient=assignee,
        kind=NotificationKind.ASSIGNED,
        case=case,
        actor=actor,
        text=_snippet(f"{by} {case.ref} to you: {case.subject}", 300),
        created_at=now,
    )


def breach_recipients(loops: Iterable[dict[str, Any]]) -> dict[int, list[int]]:
    """Who hears of each breached loop (``loop.breached`` data): its assignee; when nobody
    holds it, its team's lead; a team with no lead, every member of the team. One query
    per kind of answer, whatever the number of loops."""
    loops = list(loops)
    answer: dict[int, list[int]] = {}
    team_ids = {lp["team"] for lp in loops if not lp.get("assignee") and lp.get("team")}
    leads = dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "lead_id"))
    leaderless = {t for t in team_ids if not leads.get(t)}
    members: dict[int, list[int]] = {}
    if leaderless:
        for team_id, user_id in Agent.teams.through.objects.filter(
            team_id__in=leaderless, agent__user__is_active=True
        ).values_list("team_id", "agent__user_id"):
            members.setdefault(team_id, []).append(user_id)
    for lp in loops:
        if lp.get("assignee"):
            answer[lp["loop"]] = [lp["assignee"]]
        elif lp.get("team") and leads.get(lp["team"]):
            answer[lp["loop"]] = [leads[lp["team"]]]
        else:
            answer[lp["loop"]] = sorted(members.get(lp.get("team") or 0, []))
    return answer


def notify_breaches(*, events: Sequence[tuple[dict[str, Any], datetime]]) -> list[Notification]:
    """Tell whoever answers for each loop that breached its SLA (``breach_recipients``).
    A batch of the sweeper costs the same few queries whatever its size."""
    data = [d for d, _ in events]
    if not data:
        return []
    recipients = breach_recipients(data)
    cases = (
        cases_visible(viewer=SYSTEM)
        .select_related(None)
        .only("number")
        .in_bulk({d["case"] for d in data if d.get("case")})
    )
    rows = []
    for d, at in events:
        case = cases.get(d.get("case") or 0)
        where = f" on {case.ref}" if case is not None else ""
        for user_id in recipients.get(d["loop"], []):
            rows.append(
                Notification(
                    recipient_id=user_id,
                    kind=NotificationKind.ESCALATION,
                    case=case,
                    text=_snippet(f"SLA breached{where}: {d.get('title') or 'a loop'}", 300),
                    created_at=at,
                )
            )
    with transaction.atomic():
        return Notification.objects.bulk_create(rows)


def notification_open(*, user: User, notification_id: int, now: datetime) -> Notification:
    """Mark one of ``user``'s notifications read (NotFound for anyone else's: the same as
    missing) and answer it, for the page to go to its case."""
    with transaction.atomic():
        n = Notification.objects.filter(recipient=user, pk=notification_id).first()
        if n is None:
            raise NotFound(f"notification {notification_id}")
        if n.read_at is None:
            Notification.objects.filter(pk=n.pk, read_at__isnull=True).update(read_at=now)
            n.read_at = now
    return n


def notifications_mark_read(*, user: User, now: datetime) -> int:
    """Mark every unread notification of ``user`` read; how many were."""
    with transaction.atomic():
        return Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=now)

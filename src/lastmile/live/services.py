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

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import IntegerField, Q, Value
from django.db.models.functions import Lower

from lastmile.cases.models import Case
from lastmile.cases.selectors import cases_visible
from lastmile.core.db import rows_insert
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
        .select_related("agent")
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


def _openable(users: Iterable[User], case_ids: set[int]) -> set[tuple[int, int]]:
    """Which of ``case_ids`` each of ``users`` may open (``cases_visible``), as (user id,
    case id) pairs: one statement for all of them (a UNION of each user's scoped query),
    besides the teams of each user that ``cases_visible`` reads."""
    queries = [
        cases_visible(viewer=u)
        .filter(pk__in=sorted(case_ids))
        .order_by()
        .annotate(viewer_id=Value(u.pk, output_field=IntegerField()))
        .values_list("viewer_id", "pk")
        for u in {u.pk: u for u in users}.values()
    ]
    if not queries or not case_ids:
        return set()
    first, *rest = queries
    return set(first.union(*rest, all=True)) if rest else set(first)


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
    openable = _openable(
        [m.user for m in resolved.values() if m.user is not None],
        {r.case_id or 0 for r, _ in notes},
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
            elif user is not None and (user.pk, case.pk) not in openable:
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


# Who answers for a loop with nobody named: its assignee, else its team's lead, else the
# team as a whole (see ``notify_loops``).
ANSWERER = "answerer"
# The words of each loop notification: what happened, before " on LM-1: <title>".
LOOP_WORDS = {
    "breach": "SLA breached",
    "notify_owner": "A loop of yours is running late",
    "notify_lead": "Escalated to you",
    "reassign_to_lead": "Given to you as team lead",
    "assigned": "Loop given to you",
}


@dataclass(frozen=True)
class LoopNews:
    """One loop event to tell: its data (``loop_event_data``), when, the rung's action
    (``LOOP_WORDS``) and who: a user id, or ``ANSWERER``."""

    data: dict[str, Any]
    at: datetime
    action: str
    to: int | str | None


def notify_loops(*, news: Sequence[LoopNews]) -> int:
    """Tell the people each loop event names; bounded, whatever the batch. Returns how many
    notifications it wrote.

    1. A named recipient (a user id) gets one row per loop. ``ANSWERER`` is the loop's
       assignee, else its team's lead; one row per (recipient, loop), however many events of
       that loop the batch holds (the last one's words: where the loop is now).
    2. A loop with neither assignee nor lead is told to its team as a whole: each active
       member gets ONE row per team per call (a sweeper batch), naming the loop when it is
       the only one, else "SLA breached on 37 loops of Front office" with the first few
       titles and no case. A batch costs members x leaderless teams rows at most, never
       members x loops (a team of 40 with 2,000 breaches was 80,000 rows in the sweep's
       transaction).
    3. The reads are one query each (teams, members, cases), whatever the batch's size, and
       read plain values, not model instances; every row is written with one ``rows_insert``
       (the sweeper writes thousands per batch in its transaction, where ``bulk_create``'s
       model instances and per-value preparation were a quarter of the sweep).
    """
    if not news:
        return 0
    team_ids = {
        n.data["team"]
        for n in news
        if n.to == ANSWERER and not n.data.get("assignee") and n.data.get("team")
    }
    teams: dict[int, tuple[str, int | None]] = {
        pk: (name, lead_id)
        for pk, name, lead_id in Team.objects.filter(pk__in=team_ids).values_list(
            "pk", "name", "lead_id"
        )
    }
    # Each case's ref as ``Case.ref`` writes it, from its number alone.
    prefix = settings.LASTMILE_CASE_PREFIX
    refs: dict[int, str] = {
        pk: f"{prefix}-{number}"
        for pk, number in cases_visible(viewer=SYSTEM)
        .select_related(None)
        .filter(pk__in={n.data["case"] for n in news if n.data.get("case")})
        .values_list("pk", "number")
    }

    def case_of(n: LoopNews) -> int | None:
        case_id = n.data.get("case")
        return case_id if case_id in refs else None

    def text(n: LoopNews) -> str:
        ref = refs.get(n.data.get("case") or 0)
        where = f" on {ref}" if ref is not None else ""
        words = LOOP_WORDS.get(n.action, "Escalated")
        return _snippet(f"{words}{where}: {n.data.get('title') or 'a loop'}", 300)

    rows: dict[tuple[int, int], dict[str, Any]] = {}
    for_team: dict[int, list[LoopNews]] = {}
    for n in news:
        user_id: int | None = None
        if isinstance(n.to, int):
            user_id = n.to
        elif n.to == ANSWERER:
            team_id = n.data.get("team") or 0
            team = teams.get(team_id)
            user_id = n.data.get("assignee") or (team[1] if team is not None else None)
            if user_id is None and team is not None:
                for_team.setdefault(team_id, []).append(n)
        if user_id is not None:
            # The last event of the loop for this person wins: it says where the loop is now.
            rows[(user_id, n.data["loop"])] = {
                "recipient_id": user_id,
                "kind": (
                    NotificationKind.ASSIGNED
                    if n.action == "assigned"
                    else NotificationKind.ESCALATION
                ).value,
                "case_id": case_of(n),
                "actor_id": None,
                "text": text(n),
                "created_at": n.at,
                "read_at": None,
            }
    summaries: list[dict[str, Any]] = []
    if for_team:
        members: dict[int, list[int]] = {}
        for team_id, user_id in Agent.teams.through.objects.filter(
            team_id__in=sorted(for_team), agent__user__is_active=True
        ).values_list("team_id", "agent__user_id"):
            members.setdefault(team_id, []).append(user_id)
        for team_id, told in for_team.items():
            loops = list({n.data["loop"]: n for n in told}.values())
            if len(loops) == 1:
                case_id, said = case_of(loops[0]), text(loops[0])
            else:
                words = LOOP_WORDS.get(loops[0].action, "Escalated")
                titles = "; ".join(n.data.get("title") or "a loop" for n in loops[:3])
                case_id = None
                said = _snippet(
                    f"{words} on {len(loops)} loops of {teams[team_id][0]}: {titles}", 300
                )
            summaries.extend(
                {
                    "recipient_id": user_id,
                    "kind": NotificationKind.ESCALATION.value,
                    "case_id": case_id,
                    "actor_id": None,
                    "text": said,
                    "created_at": max(n.at for n in loops),
                    "read_at": None,
                }
                for user_id in sorted(set(members.get(team_id, [])))
            )
    written = [*rows.values(), *summaries]
    with transaction.atomic():
        rows_insert(Notification, written)
    return len(written)


def notify_breaches(*, events: Sequence[tuple[dict[str, Any], datetime]]) -> int:
    """Tell whoever answers for each loop that breached its SLA (``loop.breached``): its
    assignee, else its team's lead, else its team as a whole (``notify_loops``)."""
    return notify_loops(news=[LoopNews(d, at, "breach", ANSWERER) for d, at in events])


def notify_escalations(*, events: Sequence[tuple[dict[str, Any], datetime]]) -> int:
    """Tell the person each escalation rung names (``loop.escalated``): ``notify_owner`` the
    loop's assignee (nobody holding it: whoever answers for it), ``notify_lead`` the team's
    lead (no lead: the team as a whole), ``reassign_to_lead`` the lead the loop was given to
    (nobody when the rung was skipped: no lead, or the lead held it already)."""
    news = []
    for d, at in events:
        action = d.get("action") or ""
        to: int | str | None = ANSWERER
        if action == "notify_lead":
            to = d.get("lead") or ANSWERER
            if to == ANSWERER:
                d = {**d, "assignee": None}
        elif action == "reassign_to_lead":
            to = None if d.get("skipped") else d.get("to")
        if to is not None:
            news.append(LoopNews(d, at, action, to))
    return notify_loops(news=news)


def notification_read(*, user: User, notification_id: int, now: datetime) -> Notification:
    """Mark one of ``user``'s notifications read (NotFound for anyone else's: the same as
    missing). Asked by a POST only: following a notification's link reads nothing."""
    with transaction.atomic():
        n = Notification.objects.filter(recipient=user, pk=notification_id).first()
        if n is None:
            raise NotFound(f"notification {notification_id}")
        if n.read_at is None:
            Notification.objects.filter(pk=n.pk, read_at__isnull=True).update(read_at=now)
            n.read_at = now
    return n


def notifications_mark_read(*, user: User, now: datetime, before: datetime | None = None) -> int:
    """Mark every unread notification of ``user`` read (only those created before
    ``before``, when given); how many were."""
    rows = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    with transaction.atomic():
        return rows.update(read_at=now)


def notifications_read_for_case(*, user: User, case: Case, now: datetime) -> int:
    """Mark ``user``'s unread notifications about ``case`` read; how many were.

    Asked by the case page once it is open (a POST from live.js, never the page's GET): the
    agent is looking at the case, so the bell no longer needs to point at it. Notifications
    about other cases, and everyone else's, stay as they are."""
    with transaction.atomic():
        return Notification.objects.filter(recipient=user, case=case, read_at__isnull=True).update(
            read_at=now
        )

"""Reads for guarded responders, scoped to a viewer.

Who sees what: a responder their own enrolment and replies; a lead the enrolments of the
teams they lead (named as the team's lead, or holding the lead role in it) and those they
approve for; an admin (and ``SYSTEM``) everything. Anything else is 404, the same as missing.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.selectors import case_tag_names
from lastmile.core.errors import NotFound
from lastmile.customers.models import Direction, Interaction
from lastmile.listening.models import Mention
from lastmile.listening.selectors import unattended
from lastmile.loops.selectors import reply_loops_open
from lastmile.people.models import Agent, Role, Team
from lastmile.people.selectors import agent_for, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check
from lastmile.responders.models import Enrolment, ReplyState, ResponderEvent, ResponderReply

MESSAGE_DIRECTIONS = (Direction.INBOUND, Direction.OUTBOUND)
MAX_ID = 2**62  # a larger id is no row's (and overflows a database integer)


# --- who leads what ----------------------------------------------------------------------------


def teams_led(viewer: Viewer) -> set[int] | None:
    """Ids of the teams ``viewer`` leads; ``None`` means every team (admins, ``SYSTEM``)."""
    viewer = viewer_check(viewer)
    if viewer is SYSTEM or visible_team_ids(viewer) is None:
        return None
    led = set(Team.objects.filter(lead=viewer).values_list("id", flat=True))
    agent = agent_for(viewer)
    if agent is not None and agent.role == Role.LEAD:
        led |= set(agent.teams.values_list("id", flat=True))
    return led


def may_decide(*, viewer: Viewer, enrolment: Enrolment) -> bool:
    """Whether ``viewer`` may approve or return the responder's held replies and change the
    enrolment: an admin, a lead of the sponsoring team, or the named approver; never the
    responder themselves."""
    viewer = viewer_check(viewer)
    if viewer is not SYSTEM and viewer.pk == enrolment.user_id:
        return False
    led = teams_led(viewer)
    if led is None:
        return True
    return enrolment.team_id in led or (viewer is not SYSTEM and enrolment.approver_id == viewer.pk)


def may_enrol(*, viewer: Viewer, team: Team) -> bool:
    """Admins enrol for any team; a lead for the teams they lead."""
    led = teams_led(viewer)
    return led is None or team.pk in led


def _scope_q(viewer: Viewer, prefix: str = "") -> Q | None:
    """The rows ``viewer`` may see, as a filter on an enrolment (``prefix``: the path to it);
    ``None``: every row."""
    led = teams_led(viewer)
    if led is None:
        return None
    assert viewer is not SYSTEM  # teams_led is None for SYSTEM
    return (
        Q(**{f"{prefix}user": viewer})
        | Q(**{f"{prefix}team_id__in": led})
        | Q(**{f"{prefix}approver": viewer})
    )


# --- enrolments --------------------------------------------------------------------------------


def enrolments_visible(*, viewer: Viewer) -> QuerySet[Enrolment]:
    qs = Enrolment.objects.select_related("user", "team", "approver").prefetch_related("macros")
    scope = _scope_q(viewer)
    return qs if scope is None else qs.filter(scope)


def enrolment_get(*, enrolment_id: int, viewer: Viewer) -> Enrolment:
    row = (
        enrolments_visible(viewer=viewer).filter(pk=enrolment_id).first()
        if 0 < enrolment_id < MAX_ID
        else None
    )
    if row is None:
        raise NotFound(f"enrolment {enrolment_id}")
    return row


def enrolment_of(user: Any) -> Enrolment | None:
    """The enrolment of ``user`` (a responder reading their own), or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return (
        Enrolment.objects.select_related("team", "approver", "team__lead")
        .prefetch_related("macros")
        .filter(user=user)
        .first()
    )


def enrolment_for_username(*, username: str, viewer: Viewer) -> Enrolment:
    row = enrolments_visible(viewer=viewer).filter(user__username=username).first()
    if row is None:
        raise NotFound(f"responder {username}")
    return row


def approver_of(enrolment: Enrolment) -> User | None:
    """Who approves: the named approver, else the team's lead."""
    return enrolment.approver or enrolment.team.lead


def enrolment_expired(enrolment: Enrolment, *, now: datetime) -> bool:
    return enrolment.valid_until is not None and enrolment.valid_until <= now


def approved_count(enrolment: Enrolment) -> int:
    """Replies the lead approved and that went out: the first-N gate counts these."""
    return ResponderReply.objects.filter(
        enrolment=enrolment, state=ReplyState.SENT, decided_by__isnull=False
    ).count()


# --- what a responder may answer -------------------------------------------------------------


def _held_mentions() -> QuerySet[ResponderReply]:
    return ResponderReply.objects.filter(
        state__in=[ReplyState.HELD, ReplyState.SENT], mention__isnull=False
    )


def mentions_answerable(*, enrolment: Enrolment) -> QuerySet[Mention]:
    """Brand mentions on the enrolment's networks nobody has answered or set aside, whose
    case (if any) is the sponsoring team's or no team's, with no responder's reply waiting for a lead
    or sent; oldest first."""
    held = _held_mentions().values("mention_id")
    return (
        unattended(viewer=SYSTEM)
        .filter(network__in=list(enrolment.networks or []))
        .filter(Q(case__team_id=enrolment.team_id) | Q(case__team__isnull=True))
        .exclude(pk__in=held)
    )


def case_messages(case: Case) -> int:
    return Interaction.objects.filter(case=case, direction__in=MESSAGE_DIRECTIONS).count()


def case_not_simple(*, enrolment: Enrolment, case: Case) -> str:
    """Why ``case`` is not a simple case for this enrolment, in words; "" when it is."""
    if case.team_id != enrolment.team_id:
        return f"{case.ref} is not a case of {enrolment.team.name}"
    if case.status not in (CaseStatus.OPEN, CaseStatus.PENDING):
        return f"{case.ref} is {case.get_status_display().lower()}"
    if enrolment.simple_tag and enrolment.simple_tag not in case_tag_names(case_ids=[case.pk]).get(
        case.pk, []
    ):
        return f"{case.ref} is not tagged {enrolment.simple_tag}"
    if enrolment.simple_max_messages:
        n = case_messages(case)
        if n > enrolment.simple_max_messages:
            return (
                f"{case.ref} has {n} messages; a simple case has at most "
                f"{enrolment.simple_max_messages}"
            )
    return ""


def cases_answerable(*, enrolment: Enrolment) -> QuerySet[Case]:
    """The sponsoring team's simple cases, unsolved, most recently changed first (empty when
    the enrolment does not take case replies)."""
    if not enrolment.case_replies:
        return Case.objects.none()
    qs = Case.objects.select_related("customer").filter(
        team_id=enrolment.team_id, status__in=[CaseStatus.OPEN, CaseStatus.PENDING]
    )
    if enrolment.simple_tag:
        qs = qs.filter(tags__name=enrolment.simple_tag)
    if enrolment.simple_max_messages:
        qs = qs.annotate(
            n_messages=Count(
                "interactions", filter=Q(interactions__direction__in=MESSAGE_DIRECTIONS)
            )
        ).filter(n_messages__lte=enrolment.simple_max_messages)
    held = ResponderReply.objects.filter(state=ReplyState.HELD, case__isnull=False).values(
        "case_id"
    )
    return qs.exclude(pk__in=held).order_by("-updated_at", "-id")


def awaiting_reply(case_ids: list[int]) -> set[int]:
    """Which of ``case_ids`` have an open reply loop (the customer waits for an answer)."""
    return set(reply_loops_open(case_ids=case_ids))


# --- replies ---------------------------------------------------------------------------------


def replies_visible(*, viewer: Viewer) -> QuerySet[ResponderReply]:
    qs = ResponderReply.objects.select_related(
        "responder", "team", "case", "mention", "mention__author", "decided_by", "enrolment"
    )
    scope = _scope_q(viewer, "enrolment__")
    return qs if scope is None else qs.filter(scope)


def reply_get(*, reply_id: int, viewer: Viewer) -> ResponderReply:
    row = (
        replies_visible(viewer=viewer).filter(pk=reply_id).first()
        if 0 < reply_id < MAX_ID
        else None
    )
    if row is None:
        raise NotFound(f"reply {reply_id}")
    return row


def replies_held_for(*, viewer: Viewer) -> QuerySet[ResponderReply]:
    """Held replies ``viewer`` may decide, oldest first (the lead's approvals queue)."""
    viewer = viewer_check(viewer)
    qs = replies_visible(viewer=viewer).filter(state=ReplyState.HELD)
    if viewer is not SYSTEM:
        qs = qs.exclude(responder=viewer)
    return with_approved_now(qs).order_by("created_at", "id")


def with_approved_now(qs: QuerySet[ResponderReply]) -> QuerySet[ResponderReply]:
    """Each reply with ``approved_now``: its enrolment's approved replies at this moment (the
    count ``approved_count`` gives), so a held reply's page never repeats the count it was
    held with as if it were still true."""
    approved = (
        ResponderReply.objects.filter(
            enrolment=OuterRef("enrolment"), state=ReplyState.SENT, decided_by__isnull=False
        )
        .order_by()
        .values("enrolment")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(approved_now=Coalesce(Subquery(approved), 0))


def reply_events(*, reply: ResponderReply) -> list[ResponderEvent]:
    return list(reply.events.select_related("actor").order_by("at", "id"))


def responders_led(*, viewer: Viewer) -> list[Enrolment]:
    """The enrolments ``viewer`` decides for (their responders), by username."""
    viewer = viewer_check(viewer)
    qs = enrolments_visible(viewer=viewer)
    if viewer is not SYSTEM:
        qs = qs.exclude(user=viewer)
    return list(qs.order_by("user__username"))


# --- a responder's scorecard -------------------------------------------------------------------

SCORECARD_DEFINITIONS = {
    "attempts": "Replies the responder submitted in the period, whatever became of them.",
    "sent": "Replies that went out to the customer in the period (sent or logged on the "
    "network), with or without the lead's approval.",
    "held": "Replies submitted in the period that were held for the lead: one of the first "
    "replies, or a policy warned.",
    "approved": "Held replies the lead approved in the period (then sent).",
    "returned": "Held replies the lead returned with a note in the period.",
    "waiting": "Replies held and not yet decided, now.",
    "policy_blocks": "Replies submitted in the period that a blocking policy refused.",
    "limit_refusals": "Replies submitted in the period refused by a limit of the enrolment "
    "(channel, saved response, free text, simple case, paused or expired).",
    "median_minutes_to_reply": "Median minutes from the customer's message (the mention's "
    "posting, or the case's latest message) to the reply going out, for replies sent in the "
    "period.",
    "sentiment_after": "For replies sent in the period, the sentiment of the customer's next "
    "scored message on the same case: how many were positive, neutral, negative, and how "
    "many had no answer yet.",
}


@dataclass
class ResponderCard:
    enrolment: Enrolment
    metrics: dict[str, Any]
    sentiment: dict[str, int] = field(default_factory=dict)


def responder_card(*, enrolment: Enrolment, start: datetime, end: datetime) -> ResponderCard:
    """One responder's figures for ``[start, end)`` (``SCORECARD_DEFINITIONS``)."""
    rows = ResponderReply.objects.filter(enrolment=enrolment)
    made = rows.filter(created_at__gte=start, created_at__lt=end)
    counts = made.aggregate(
        attempts=Count("id"),
        held=Count("id", filter=~Q(hold=[])),
        policy_blocks=Count("id", filter=Q(state=ReplyState.BLOCKED)),
        limit_refusals=Count("id", filter=Q(state=ReplyState.REFUSED)),
    )
    decided = rows.filter(decided_at__gte=start, decided_at__lt=end).aggregate(
        approved=Count("id", filter=Q(state=ReplyState.SENT)),
        returned=Count("id", filter=Q(state=ReplyState.RETURNED)),
    )
    # The customer's next scored message on the case after the reply, in the same query.
    after = (
        Interaction.objects.filter(
            case_id=OuterRef("case_id"),
            direction=Direction.INBOUND,
            pk__gt=OuterRef("interaction_id"),
            sentiment_label__isnull=False,
        )
        .order_by("occurred_at", "id")
        .values("sentiment_label")[:1]
    )
    sent = list(
        rows.filter(state=ReplyState.SENT, sent_at__gte=start, sent_at__lt=end)
        .annotate(after=Subquery(after))
        .values("target_at", "sent_at", "after")
    )
    minutes = [
        (r["sent_at"] - r["target_at"]).total_seconds() / 60
        for r in sent
        if r["target_at"] is not None and r["sent_at"] is not None
    ]
    sentiment = {"positive": 0, "neutral": 0, "negative": 0, "no_answer": 0}
    for r in sent:
        sentiment[r["after"] if r["after"] in sentiment else "no_answer"] += 1
    metrics = {
        **counts,
        "sent": len(sent),
        **decided,
        "waiting": rows.filter(state=ReplyState.HELD).count(),
        "median_minutes_to_reply": round(statistics.median(minutes), 1) if minutes else None,
        "sentiment_after": sentiment,
    }
    return ResponderCard(enrolment=enrolment, metrics=metrics, sentiment=sentiment)


def responder_cards(*, viewer: Viewer, start: datetime, end: datetime) -> list[ResponderCard]:
    """The cards of every responder ``viewer`` may see (own, led, all)."""
    return [
        responder_card(enrolment=e, start=start, end=end)
        for e in enrolments_visible(viewer=viewer).order_by("user__username")
    ]


def agent_in_team(user: Any, team: Team) -> bool:
    """Whether ``user`` works in ``team`` (work of the team may be assigned to them)."""
    return Agent.objects.filter(user=user, teams=team).exists()

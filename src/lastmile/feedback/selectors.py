"""Reads of feedback, scoped to a viewer: surveys, invites, responses and the NPS summary.

An agent sees the surveys of their teams (and their invites and responses); admins,
superusers and integration tokens see every survey. Not yours = 404, as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet

from lastmile.channels.selectors import RecentContact
from lastmile.core.errors import NotFound
from lastmile.customers.models import Customer
from lastmile.feedback.models import (
    Band,
    Invite,
    InviteChannel,
    InviteState,
    ReminderState,
    Response,
    Survey,
)
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import Viewer

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
SURVEY_PURPOSE = "survey"  # the contact rule survey invites and reminders are counted under
INVITE_KEY = "feedback:invite:"  # an invite's outbox message: this and the invite's id
REMINDER_KEY = "feedback:reminder:"  # an invite's reminder message: this and the invite's id


def surveys_visible(*, viewer: Viewer) -> QuerySet[Survey]:
    qs = Survey.objects.select_related("team")
    teams = visible_team_ids(viewer)
    return qs if teams is None else qs.filter(team_id__in=teams)


def survey_get(*, survey_id: int, viewer: Viewer) -> Survey:
    found = (
        surveys_visible(viewer=viewer).filter(pk=survey_id).first()
        if 0 < survey_id < 2**63
        else None
    )
    if found is None:
        raise NotFound(f"survey {survey_id}")
    return found


def invite_get(*, invite_id: int, survey: Survey) -> Invite:
    """An invite of ``survey`` (which the caller may see): 404 otherwise."""
    found = (
        Invite.objects.select_related("survey__team", "customer", "case")
        .filter(pk=invite_id, survey=survey)
        .first()
        if 0 < invite_id < 2**63
        else None
    )
    if found is None:
        raise NotFound(f"invite {invite_id} of survey {survey.pk}")
    return found


def invites_of_customer(*, customer: Any, viewer: Viewer, limit: int = 50) -> list[Invite]:
    """The customer's invites, newest first, suppressed ones with their reason (for the
    customer's page)."""
    teams = visible_team_ids(viewer)
    qs = Invite.objects.filter(customer_id=customer.pk).select_related("survey", "response")
    if teams is not None:
        qs = qs.filter(survey__team_id__in=teams)
    return list(qs.order_by("-created_at", "-pk")[: max(1, min(limit, 200))])


def responses_list(
    *,
    viewer: Viewer,
    survey: int | None = None,
    team: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    band: str | None = None,
    customer: int | None = None,
) -> QuerySet[Response]:
    """Responses, newest first, of the surveys ``viewer`` may see."""
    qs = Response.objects.select_related(
        "invite__customer", "invite__case", "survey__team", "reason", "recovery_loop"
    ).filter(survey__in=surveys_visible(viewer=viewer).values("pk"))
    qs = _filtered(qs, survey=survey, team=team, start=start, end=end, at="at")
    if band:
        qs = qs.filter(band=band)
    if customer is not None:
        qs = qs.filter(invite__customer_id=customer)
    return qs.order_by("-at", "-pk")


def response_get(*, response_id: int, viewer: Viewer) -> Response:
    """One response, for a viewer who may see its survey or its recovery loop (the loop may
    be the case's team's, not the survey's): 404 otherwise."""
    from lastmile.loops.selectors import loops_visible

    found = None
    if 0 < response_id < 2**63:
        qs = Response.objects.select_related(
            "invite__customer", "invite__case", "survey__team", "reason", "recovery_loop"
        ).filter(pk=response_id)
        found = qs.filter(
            Q(survey__in=surveys_visible(viewer=viewer).values("pk"))
            | Q(recovery_loop__in=loops_visible(viewer=viewer).values("pk"))
        ).first()
    if found is None:
        raise NotFound(f"response {response_id}")
    return found


def response_recovery_get(*, response_id: int, viewer: Viewer) -> Response:
    """A response whose recovery the viewer may close: one they may see (``response_get``)
    whose recovery loop, if any, they may see too (the loop may be the case's team's: a
    viewer of the survey alone may read the answer but not close another team's loop). 404
    otherwise, as missing."""
    from lastmile.loops.selectors import loops_visible

    found = response_get(response_id=response_id, viewer=viewer)
    if (
        found.recovery_loop_id is not None
        and not loops_visible(viewer=viewer).filter(pk=found.recovery_loop_id).exists()
    ):
        raise NotFound(f"response {response_id}")
    return found


def _filtered(
    qs: QuerySet[Any],
    *,
    survey: int | None,
    team: str | None,
    start: datetime | None,
    end: datetime | None,
    at: str,
    prefix: str = "",
) -> QuerySet[Any]:
    if survey is not None:
        qs = qs.filter(**{f"{prefix}survey_id": survey})
    if team:
        qs = qs.filter(**{f"{prefix}survey__team__slug": team})
    if start is not None:
        qs = qs.filter(**{f"{at}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{at}__lt": end})
    return qs


@dataclass(frozen=True)
class Nps:
    """The net score of ``responses`` answers and its 95 % interval, in points (-100..100)."""

    responses: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    low: float | None
    high: float | None


def nps_of(promoters: int, passives: int, detractors: int) -> Nps:
    """NPS = 100 (P - D) / n, with a 95 % confidence interval by the adjusted Wald method.

    The answers are one multinomial sample (promoter, passive, detractor), so the NPS is the
    difference of two proportions of the same sample, p_P - p_D, whose variance is
    (p_P + p_D - (p_P - p_D)^2) / n (the two proportions are negatively correlated:
    Cov = -p_P p_D / n). The plain Wald interval, estimate ± 1.96 sqrt(that / n),
    collapses to a point when every answer is a promoter (or none is) and covers too little
    at small n; so the interval is an adjusted Wald one: three pseudo-answers are added
    (3/4 promoter, 3/2 passive, 3/4 detractor: n + 3 answers, the Agresti-Caffo idea for a
    difference of proportions, applied to the one multinomial sample) and the interval is
    centred on the adjusted difference. It is clipped to [-100, 100]; ``nps`` itself is the plain estimate. No answers: all None.
    """
    n = promoters + passives + detractors
    if n == 0:
        return Nps(0, 0, 0, 0, None, None, None)
    nps = 100.0 * (promoters - detractors) / n
    n_adj = n + 3
    p = (promoters + 0.75) / n_adj
    d = (detractors + 0.75) / n_adj
    centre = p - d
    half = Z95 * math.sqrt(max(0.0, p + d - centre * centre) / n_adj)
    low = max(-100.0, 100.0 * (centre - half))
    high = min(100.0, 100.0 * (centre + half))
    return Nps(n, promoters, passives, detractors, nps, low, high)


@dataclass(frozen=True)
class Summary:
    nps: Nps
    invites: int  # invites that went out (not suppressed) in the window
    answered: int  # of those, how many were answered

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.invites if self.invites else None


def feedback_summary(
    *,
    viewer: Viewer,
    survey: int | None = None,
    team: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Summary:
    """The bands of the responses given in [start, end) (one aggregate over the stored
    band) and the response rate of the invites made in [start, end): answered over those
    not suppressed. Only the surveys ``viewer`` may see count."""
    # Whoever sees every team reads the tables unfiltered: a ``survey IN (every survey)``
    # filter made SQLite read each answer through the survey index instead of scanning.
    teams = visible_team_ids(viewer)
    mine = Q() if teams is None else Q(survey__team_id__in=teams)
    responses = _filtered(
        Response.objects.filter(mine),
        survey=survey,
        team=team,
        start=start,
        end=end,
        at="at",
    )
    counts = {
        row["band"]: row["n"] for row in responses.values("band").annotate(n=Count("pk")).order_by()
    }
    invites = _filtered(
        Invite.objects.filter(mine).exclude(state=InviteState.SUPPRESSED),
        survey=survey,
        team=team,
        start=start,
        end=end,
        at="created_at",
    ).aggregate(total=Count("pk"), answered=Count("pk", filter=Q(state=InviteState.ANSWERED)))
    return Summary(
        nps=nps_of(
            counts.get(Band.PROMOTER, 0), counts.get(Band.PASSIVE, 0), counts.get(Band.DETRACTOR, 0)
        ),
        invites=invites["total"],
        answered=invites["answered"],
    )


# A scheduled ask the contact rule suppressed is tried again this long after (never sooner
# than the survey's own period allows): not every minute, which would write a suppressed
# invite a minute for every customer the rule holds back.
SCHEDULE_RETRY = timedelta(days=7)


def schedule_due(*, survey: Survey, now: datetime, limit: int) -> list[Customer]:
    """The customers a ``schedule`` survey should ask at ``now``, lowest id first, at most
    ``limit``: live customers with an address on the survey's channel (an email address, a
    phone number; any customer for the portal) who had at least one interaction, whom this
    survey never asked or last asked (an invite not suppressed) ``every_days`` days ago or
    more, and whom it did not try (a suppressed invite) in the last ``SCHEDULE_RETRY``.

    Customers and their identities and interactions are read here, as ``EXISTS`` probes:
    customers has no selector for "reachable and known". Which customers a schedule asks is
    fixed for now (everyone reachable who was ever in touch); a per-survey audience (a
    segment, a team's customers) would narrow this one query.
    """
    from lastmile.customers.models import Identity, IdentityKind, Interaction

    every = timedelta(days=survey.every_days or 1)
    asked = Invite.objects.filter(
        survey=survey, customer=OuterRef("pk"), created_at__gt=now - every
    ).exclude(state=InviteState.SUPPRESSED)
    tried = Invite.objects.filter(
        survey=survey,
        customer=OuterRef("pk"),
        state=InviteState.SUPPRESSED,
        created_at__gt=now - min(every, SCHEDULE_RETRY),
    )
    qs = Customer.objects.filter(merged_into__isnull=True).filter(
        Exists(Interaction.objects.filter(customer=OuterRef("pk")))
    )
    kind = {InviteChannel.EMAIL: IdentityKind.EMAIL, InviteChannel.SMS: IdentityKind.PHONE}.get(
        InviteChannel(survey.channel)
    )
    if kind is not None:
        qs = qs.filter(Exists(Identity.objects.filter(customer=OuterRef("pk"), kind=kind)))
    qs = qs.exclude(Exists(asked)).exclude(Exists(tried))
    return list(qs.order_by("pk")[: max(1, limit)])


# --- the customer's own invites (the portal) -------------------------------------------------

PENDING_STATES = (InviteState.QUEUED, InviteState.SENT)


def invites_pending_for_customer(*, customer: Any, now: datetime, limit: int = 5) -> list[Invite]:
    """The customer's invites still waiting for an answer at ``now``, newest first: queued
    or sent (on any channel: the portal's own, or a link or message they have not answered),
    not expired, of an active survey. Only the customer's own: the caller passes the
    signed-in customer."""
    return list(
        Invite.objects.filter(
            customer_id=customer.pk,
            state__in=PENDING_STATES,
            expires_at__gt=now,
            survey__active=True,
        )
        .select_related("survey")
        .order_by("-created_at", "-pk")[: max(1, min(limit, 50))]
    )


def answers_changeable_for_customer(
    *, customer: Any, now: datetime, window: timedelta, limit: int = 5
) -> list[Response]:
    """The customer's answers given in the last ``window`` (the time an answer can be
    changed), newest first, with their invite and survey: what the portal lets them change.
    Only the customer's own: the caller passes the signed-in customer."""
    return list(
        Response.objects.filter(invite__customer_id=customer.pk, at__gt=now - window)
        .select_related("invite", "survey")
        .order_by("-at", "-pk")[: max(1, min(limit, 50))]
    )


def invite_of_customer(*, customer: Any, invite_id: int) -> tuple[Invite, Response | None]:
    """One of the customer's own invites and its answer (None if unanswered): NotFound
    for another customer's invite, as for one that does not exist (nothing tells them
    apart)."""
    found = (
        Invite.objects.select_related("survey", "customer")
        .filter(pk=invite_id, customer_id=customer.pk)
        .first()
        if 0 < invite_id < 2**63
        else None
    )
    if found is None:
        raise NotFound(f"survey {invite_id}")
    return found, Response.objects.filter(invite=found).first()


# --- the survey contacts feedback keeps outside the outbox ------------------------------------


def survey_contacts(
    customer_id: int, *, excluding: int | None = None
) -> tuple[list[RecentContact], datetime | None]:
    """The customer's survey contacts the outbox does not count, newest first, and when they
    last answered a survey (None if never): what ``services.survey_history`` adds to the
    outbox's history, and the source feedback registers for channels' ``contact_preview``
    (the console's warning before a contact).

    Every invite that was not suppressed, at its creation (a link or portal invite never
    passes through the outbox; an email or SMS invite counts from the moment it is made),
    unless the outbox already counts its message; and every reminder queued or sent, at the
    moment it was made, as a ``survey`` contact (its outbox message has a purpose of its own,
    which the survey rule does not count). ``excluding``: an invite left out (the one a
    reminder follows up).
    """
    from lastmile.channels.models import OutboxMessage, OutboxStatus

    # channels' history has no keys: the invites' messages it counted, read by their key.
    counted = set(
        OutboxMessage.objects.filter(customer_id=customer_id, key__startswith=INVITE_KEY)
        .filter(Q(status=OutboxStatus.SENT) | Q(claimed_at__isnull=False))
        .values_list("key", flat=True)
    )
    rows = (
        Invite.objects.filter(customer_id=customer_id)
        .exclude(state=InviteState.SUPPRESSED)
        .select_related("survey__team", "case")
        .order_by("-created_at", "-pk")[:1000]
    )
    contacts: list[RecentContact] = []
    for invite in rows:
        if invite.pk == excluding:
            continue
        common = {
            "channel": invite.channel,
            "team": invite.survey.team.name,
            "case_ref": invite.case.ref if invite.case is not None else "",
            "purpose": SURVEY_PURPOSE,
            "source": "feedback",
        }
        if f"{INVITE_KEY}{invite.pk}" not in counted:
            contacts.append(
                RecentContact(at=invite.created_at, kind="survey", status=invite.state, **common)
            )
        reminded = invite.reminder_state in (ReminderState.QUEUED, ReminderState.SENT)
        if reminded and invite.reminded_at is not None:
            contacts.append(
                RecentContact(
                    at=invite.reminded_at,
                    kind="survey reminder",
                    status=invite.reminder_state,
                    **common,
                )
            )
    answered = Response.objects.filter(invite__customer_id=customer_id).aggregate(last=Max("at"))
    contacts.sort(key=lambda c: c.at, reverse=True)
    return contacts, answered["last"]

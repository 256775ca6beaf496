"""Every write of feedback: surveys, invites under the one contact budget, responses, and the
recovery loop a detractor opens.

The contact budget is the outbox's: an invite is decided by ``channels.contact.contact_decide``
under the ``survey`` contact rule, against the customer's whole contact history (every
message the outbox sent them, of every purpose, plus every survey invite on any channel, the
link and the portal included, which never pass through the outbox). A suppressed invite is
kept with the rule's reason; an email or SMS invite is queued in the outbox, which decides
again when it sends (quiet hours hold it there).

The worker (``tasks.py``) also reminds a sent, unanswered invite once, decided under the same
rule (``invites_remind``), and asks the customers a ``schedule`` survey is due to ask
(``surveys_schedule_run``). A detractor's recovery loop closes with its outcome, and may ask
again, through ``recovery_close``.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from lastmile.channels.contact import (
    Contact,
    Decision,
    History,
    Outcome,
    Outgoing,
    RuleSpec,
    contact_decide,
    timezone_pick,
)
from lastmile.channels.selectors import contact_history, contact_rule_for
from lastmile.channels.services import contact_lock, outbox_enqueue, outbox_message
from lastmile.core.audit import audited_save
from lastmile.core.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    FieldError,
    InvalidInput,
    PermissionDenied,
)
from lastmile.core.events import event_emit
from lastmile.customers.models import Customer, IdentityKind
from lastmile.feedback.models import (
    SCALES,
    Band,
    Invite,
    InviteChannel,
    InviteState,
    ReasonTag,
    RecoveryOutcome,
    ReminderState,
    Response,
    Survey,
    Trigger,
    band_of,
)
from lastmile.feedback.selectors import (
    INVITE_KEY,
    REMINDER_KEY,
    SURVEY_PURPOSE,
    survey_contacts,
)
from lastmile.loops.business_time import Calendar, add_business_time
from lastmile.loops.models import Loop, LoopKind, LoopState
from lastmile.loops.services import calendar_for, loop_cancel, loop_open, policy_match
from lastmile.people.viewers import Actor

log = logging.getLogger(__name__)

PURPOSE = SURVEY_PURPOSE  # the outbox purpose, and the contact rule every invite is decided by
# The outbox purpose of reminders. Not ``survey``: the outbox decides again at sending,
# against its own history, where the reminded invite itself would stop its reminder (ask
# once, one a week). feedback decides a reminder under the survey rule without the invite it
# follows up, and counts it as a survey contact from then on (``survey_history``); a
# contact rule for this purpose, if an admin writes one, applies at sending too.
REMINDER_PURPOSE = "survey_reminder"
CHANGE_WINDOW = timedelta(hours=24)  # how long an answer can be changed through the link
SURVEY_FIELDS = (
    "name",
    "kind",
    "team",
    "trigger",
    "trigger_loop_kind",
    "trigger_event",
    "every_days",
    "all_teams",
    "channel",
    "language",
    "wording",
    "comment_question",
    "recovery_business_days",
    "invite_days",
    "remind_after_hours",
    "active",
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_url(token: str) -> str:
    return f"{settings.LASTMILE_PUBLIC_URL.rstrip('/')}/feedback/r/{token}/"


# --- surveys --------------------------------------------------------------------------------


def _validation_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(name if name != "__all__" else "survey", str(reason))
        for name, reasons in exc.message_dict.items()
        for reason in reasons
    ]


def survey_save(*, survey: Survey, actor: Actor, now: datetime) -> Survey:
    """Create or change a survey, checked as the admin checks it (InvalidInput names the
    fields, nothing written), with its audit row."""
    if survey.created_at is None:
        survey.created_at = now
    survey.updated_at = now
    try:
        survey.full_clean()
    except ValidationError as exc:
        raise InvalidInput("the survey is not valid", _validation_errors(exc)) from None
    audited_save(survey, actor=actor, now=now)  # type: ignore[arg-type]
    return survey


def survey_teams_managed(actor: Actor) -> set[int] | None:
    """Ids of the teams whose surveys ``actor`` may write; None means every team: admins,
    superusers and integrations (None) every team; a team lead the teams they lead; an
    agent none."""
    from lastmile.people.models import Role, Team
    from lastmile.people.selectors import agent_for, visible_team_ids

    if actor is None:
        return None
    teams = visible_team_ids(actor)
    if teams is None:
        return None
    agent = agent_for(actor)
    as_role = teams if agent is not None and agent.role == Role.LEAD else set()
    return as_role | set(Team.objects.filter(lead=actor).values_list("id", flat=True))


def survey_create(*, actor: Actor, now: datetime, **fields: Any) -> Survey:
    """A new survey from ``fields`` (those of ``SURVEY_FIELDS``), by an admin, an
    integration or a lead of its team (PermissionDenied otherwise, nothing written)."""
    managed = survey_teams_managed(actor)
    team = fields.get("team")
    if managed is not None and (team is None or team.pk not in managed):
        raise PermissionDenied("only admins and the team's leads may create its surveys")
    unknown = set(fields) - set(SURVEY_FIELDS)
    if unknown:
        raise InvalidInput("unknown survey fields", [FieldError(f, "unknown") for f in unknown])
    return survey_save(survey=Survey(**fields), actor=actor, now=now)


def reason_save(*, reason: ReasonTag, actor: Actor, now: datetime) -> ReasonTag:
    try:
        reason.full_clean()
    except ValidationError as exc:
        raise InvalidInput("the reason is not valid", _validation_errors(exc)) from None
    audited_save(reason, actor=actor, now=now)  # type: ignore[arg-type]
    return reason


# --- the contact budget ---------------------------------------------------------------------


def _lock_customer(customer_id: int) -> None:
    """The outbox's per-customer contact lock (``channels.services.contact_lock``): an
    invite's decision and the outbox worker's decisions for one customer take turns, so
    neither passes a cap the other is about to use up."""
    contact_lock(customer_ids=[customer_id])


def _survey_rule(customer: Customer) -> RuleSpec | None:
    """The survey contact rule for ``customer``: the most specific for their attributes (a
    VIP's own gap), as the outbox worker picks it."""
    return contact_rule_for(purpose=PURPOSE, customer=customer)


def survey_history(*, customer_id: int, excluding: Invite | None = None) -> History:
    """The customer's contacts as the survey rule counts them: every message the outbox
    sent them (or is sending), of every purpose and sender, plus every invite that was not
    suppressed, at its creation: a link or portal invite never passes through the outbox,
    and an email or SMS invite counts from the moment it is made (two asks in one minute
    must not both pass). An invite whose outbox message the outbox already counts is not
    counted again. A reminder counts as a survey contact from the moment it is made (the
    outbox's own count of it, under its own purpose, is left out). The customer's last
    answer to a survey counts as their writing to us (ask once starts again).

    ``excluding``: the history a reminder of that invite is decided on, without the invite
    and its message (the reminder follows that ask up; it is not a second one)."""
    from lastmile.channels.models import OutboxMessage

    own = None
    if excluding is not None:
        own = (
            OutboxMessage.objects.filter(key=f"{INVITE_KEY}{excluding.pk}")
            .values_list("pk", flat=True)
            .first()
        )
    outbox = contact_history(customer_id=customer_id, exclude=own)
    kept, answered = survey_contacts(
        customer_id, excluding=excluding.pk if excluding is not None else None
    )
    others = tuple(c for c in outbox.contacts if c.purpose != REMINDER_PURPOSE)
    inbound = outbox.last_inbound_at
    if answered is not None and (inbound is None or answered > inbound):
        inbound = answered
    contacts = others + tuple(Contact(c.purpose, c.at) for c in kept)
    return History(
        contacts=tuple(sorted(contacts, key=lambda c: c.at, reverse=True)),
        last_inbound_at=inbound,
    )


def invite_decide(
    *, customer: Customer, now: datetime, excluding: Invite | None = None
) -> Decision:
    """Send, defer or suppress a survey invite to ``customer`` at ``now``: the ``survey``
    contact rule over ``survey_history``, in the customer's time zone (a reminder of
    ``excluding``: over the history without that invite)."""
    rule = _survey_rule(customer)
    zone = timezone_pick(customer.timezone, default=settings.TIME_ZONE)
    outgoing = Outgoing(purpose=PURPOSE, rule=rule, has_customer=True, timezone=zone)
    history = survey_history(customer_id=customer.pk, excluding=excluding)
    return contact_decide(outgoing, history, now)


# --- invites --------------------------------------------------------------------------------


def _identity(customer: Customer, kind: str) -> str:
    found = sorted((i.pk, i.value) for i in customer.identities.all() if i.kind == kind)
    return found[0][1] if found else ""


def _sms_channel() -> str:
    """``sms:<slug>`` of the first SMS integration that is on and can send ("" if none).
    Read from the integration's row: webhooks has no selector for it."""
    from lastmile.webhooks.models import Integration, MessagingChannel

    slug = (
        Integration.objects.filter(channel=MessagingChannel.SMS, active=True)
        .exclude(url="")
        .order_by("slug")
        .values_list("slug", flat=True)
        .first()
    )
    return f"sms:{slug}" if slug else ""


def invite_create(
    *,
    survey: Survey,
    customer: Customer,
    channel: str,
    now: datetime,
    case: Any = None,
    key: str = "",
    actor: Actor = None,
) -> tuple[Invite, str]:
    """Ask ``customer`` ``survey``'s question on ``channel``: the invite and its link's token
    (returned this once; only its hash is stored).

    1. Checks: an active survey, a known channel, an address on it, the case's customer.
    2. Under the customer's contact lock, decides against the ``survey`` contact rule
       (``invite_decide``). Suppressed: the invite is kept with the rule's reason and
       nothing goes out. Otherwise queued (held until the quiet hours or the gap end, if
       they hold it), and for email and SMS a message with the link goes into the outbox.
    3. ``key`` (a trigger's, ``case_solved:<case>``) is asked once per survey: the same key
       again is a Conflict and writes nothing.
    """
    errors: list[FieldError] = []
    if channel not in InviteChannel.values:
        errors.append(FieldError("channel", f"one of {', '.join(InviteChannel.values)}"))
    if not survey.active:
        errors.append(FieldError("survey", "the survey is switched off"))
    if case is not None and case.customer_id != customer.pk:
        errors.append(FieldError("case", f"{case.ref} is another customer's case"))
    recipient, outbox_channel = "", ""
    if channel == InviteChannel.EMAIL:
        recipient, outbox_channel = _identity(customer, IdentityKind.EMAIL), "email"
        if not recipient:
            errors.append(FieldError("channel", "the customer has no email address"))
    elif channel == InviteChannel.SMS:
        recipient, outbox_channel = _identity(customer, IdentityKind.PHONE), _sms_channel()
        if not recipient:
            errors.append(FieldError("channel", "the customer has no phone number"))
        elif not outbox_channel:
            errors.append(FieldError("channel", "no SMS integration is on to send it"))
    if errors:
        raise InvalidInput(errors[0].reason, errors)

    token = secrets.token_urlsafe(24)
    language = str((customer.attributes or {}).get("language") or survey.language)[:10]
    try:
        with transaction.atomic():
            _lock_customer(customer.pk)
            # Looked up among this customer's invites of the survey (``invite_survey_customer``):
            # a prepared query's generic plan cannot use the partial unique index on
            # (survey, key) and would read every invite of the survey. A key made for another
            # customer (a merge moved the case) still meets the unique index: IntegrityError.
            if key and Invite.objects.filter(survey=survey, customer=customer, key=key).exists():
                raise Conflict(f"survey {survey.pk} was asked for {key} already")
            decision = invite_decide(customer=customer, now=now)
            suppressed = decision.outcome is Outcome.SUPPRESS
            invite = Invite.objects.create(
                survey=survey,
                customer=customer,
                case=case,
                channel=channel,
                state=InviteState.SUPPRESSED if suppressed else InviteState.QUEUED,
                rule_check=decision.check,
                reason=decision.reason,
                token_hash=token_hash(token),
                language=language,
                key=key[:200],
                created_by=actor,
                created_at=now,
                held_until=decision.until if decision.outcome is Outcome.DEFER else None,
                expires_at=now + timedelta(days=survey.invite_days),
            )
            if not suppressed and outbox_channel:
                _outbox_send(invite, token=token, recipient=recipient, channel=outbox_channel)
    except IntegrityError:  # the same key, made at the same moment by another run
        raise Conflict(f"survey {survey.pk} was asked for {key} already") from None
    return invite, token


def _outbox_send(
    invite: Invite,
    *,
    token: str,
    recipient: str,
    channel: str,
    reminder: bool = False,
    now: datetime | None = None,
) -> None:
    """The invite's message (or its reminder's) with the link into the outbox."""
    texts = invite.survey.text(invite.language)
    url = invite_url(token)
    sms = channel.startswith("sms")
    body = f"{texts['question']} ({texts['scale']}) {url}"
    if reminder:
        body = f"{texts['reminder']} {body}"
    if not sms:
        name = str(invite.customer.display_name or "").strip()
        again = f"{texts['reminder']}\n\n" if reminder else ""
        body = (
            f"Hello{' ' + name.split()[0] if name else ''},\n\n{again}{texts['question']}\n\n"
            f"Answer here (one click, no account needed): {url}\n"
        )
    data: dict[str, Any] = {"invite": invite.pk, "survey": invite.survey_id}
    if sms:
        data["integration"] = channel.partition(":")[2]
    message = outbox_message(
        key=f"{REMINDER_KEY if reminder else INVITE_KEY}{invite.pk}",
        purpose=REMINDER_PURPOSE if reminder else PURPOSE,
        channel=channel,
        recipient=recipient,
        customer=invite.customer_id,
        case=invite.case_id,
        subject="" if sms else texts["reminder_subject" if reminder else "subject"],
        body=body,
        data=data,
        now=now or invite.created_at,
    )
    outbox_enqueue([message])


def invite_by_token(token: str) -> Invite | None:
    """The invite a link's token (the invite's or its reminder's) opens, or None (forged,
    or never made)."""
    if not token or len(token) > 100:
        return None
    hashed = token_hash(token)
    return (
        Invite.objects.select_related("survey", "customer")
        .filter(Q(token_hash=hashed) | Q(reminder_token_hash=hashed))
        .first()
    )


# --- responses ------------------------------------------------------------------------------


class AlreadyAnswered(Conflict):
    def __init__(self, detail: str) -> None:
        super().__init__(
            detail, code=ErrorCode.ALREADY_ANSWERED, errors=[FieldError("invite", detail)]
        )


class InviteClosed(DomainError):
    """The invite cannot be answered: suppressed (never sent) or past its end."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail=detail,
            errors=[FieldError("invite", detail)],
            code=ErrorCode.INVITE_CLOSED,
            status=410,
        )


def score_check(survey: Survey, score: Any) -> int:
    low, high = SCALES[survey.kind]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise InvalidInput(
            f"the score must be a whole number from {low} to {high}",
            [FieldError("score", f"a whole number from {low} to {high} ({survey.kind.upper()})")],
        )
    return score


def _negative(comment: str) -> str:
    """The sentiment label of a comment ("" when there is none or no model to score it)."""
    if not comment.strip():
        return ""
    try:
        from lastmile.sentiment.model import predict_one

        return predict_one(comment[:2000])[0]
    except Exception:  # a missing model must not lose the answer
        log.warning("could not score a survey comment's sentiment", exc_info=True)
        return ""


def response_record(
    *,
    invite: Invite,
    score: Any,
    now: datetime,
    comment: str = "",
    source: str = "link",
    change: bool = False,
) -> Response:
    """Record ``invite``'s answer; with ``change`` (the link), change it instead within 24 h.

    1. The score is on the survey's scale; the invite was not suppressed and has not
       expired (410); an answered invite is a Conflict unless ``change`` and within
       ``CHANGE_WINDOW`` of the first answer. Refused: nothing is written.
    2. The answer is stored with its band (promoter, passive, detractor) and the comment's
       sentiment; ``survey.responded`` is told (for webhooks).
    3. A detractor (by score, or a negative comment) opens one ``recovery`` loop
       (``detractor_loop_open``) and ``survey.detractor`` is told; a changed answer that
       becomes a detractor opens it then, and never a second. A changed answer that is no
       longer a detractor's cancels its loop still open, naming the new score.
    """
    survey = invite.survey
    score = score_check(survey, score)
    comment = (comment or "").strip()[:5000]
    sentiment = _negative(comment)
    with transaction.atomic():
        invite = Invite.objects.select_for_update().select_related("survey").get(pk=invite.pk)
        if invite.state == InviteState.SUPPRESSED:
            raise InviteClosed(f"invite {invite.pk} was suppressed and never sent")
        existing = Response.objects.filter(invite=invite).first()
        if existing is None and now >= invite.expires_at:
            raise InviteClosed(f"invite {invite.pk} expired on {invite.expires_at:%Y-%m-%d}")
        if existing is not None:
            if not change:
                raise AlreadyAnswered(f"invite {invite.pk} is answered already")
            if now >= existing.at + CHANGE_WINDOW:
                raise AlreadyAnswered(
                    f"invite {invite.pk} was answered more than 24 hours ago; "
                    "the answer can no longer be changed"
                )
        band = band_of(survey.kind, score)
        detractor = band == Band.DETRACTOR or sentiment == "negative"
        if existing is None:
            response = Response.objects.create(
                invite=invite,
                survey=survey,
                score=score,
                band=band,
                comment=comment,
                sentiment=sentiment,
                detractor=detractor,
                reason=reason_suggest(comment),
                source=source[:10],
                at=now,
            )
            Invite.objects.filter(pk=invite.pk).update(state=InviteState.ANSWERED)
            invite.state = InviteState.ANSWERED
        else:
            response = existing
            response.score, response.band, response.comment = score, band, comment
            response.sentiment, response.changed_at = sentiment, now
            response.detractor = detractor
            response.reason = response.reason or reason_suggest(comment)
            response.save(
                update_fields=[
                    "score",
                    "band",
                    "comment",
                    "sentiment",
                    "changed_at",
                    "detractor",
                    "reason",
                ]
            )
        response.invite = invite
        if existing is not None and not detractor and response.recovery_loop_id is not None:
            _recovery_withdraw(response=response, now=now)
        event_emit(
            "survey.responded",
            response_event_data(response, changed=existing is not None),
            at=now,
        )
        if detractor and response.recovery_loop_id is None:
            detractor_loop_open(response=response, now=now)
    return response


def _recovery_withdraw(*, response: Response, now: datetime) -> None:
    """A changed answer that is no longer a detractor's: its recovery loop, still open and
    without an outcome, is cancelled with a reason naming the new score, and the response
    forgets it (a later change back to a detractor opens a fresh one). A loop closed or
    cancelled already stays as it is, and stays the response's."""
    loop_id = response.recovery_loop_id
    loop = None if loop_id is None else Loop.objects.filter(pk=loop_id).first()
    if loop is None or loop.state != LoopState.OPEN or response.recovery_outcome:
        return
    loop_cancel(
        loop=loop,
        reason=(
            f"Answer changed to {response.survey.kind.upper()} {response.score}"
            f" ({Band(response.band).label.lower()}): no longer a detractor"
        ),
        now=now,
    )
    Response.objects.filter(pk=response.pk).update(recovery_loop=None)
    response.recovery_loop = None


def response_event_data(response: Response, **extra: Any) -> dict[str, Any]:
    """The data of a ``survey.*`` event, as webhooks deliver it (``team`` picks the
    subscriptions of the survey's team)."""
    invite = response.invite
    return {
        "response": response.pk,
        "invite": invite.pk,
        "survey": response.survey_id,
        "kind": response.survey.kind,
        "score": response.score,
        "band": response.band,
        "comment": response.comment,
        "customer": invite.customer_id,
        "case": invite.case_id,
        "team": response.survey.team_id,
        "loop": response.recovery_loop_id,
        **extra,
    }


def reason_suggest(comment: str) -> ReasonTag | None:
    """The first active reason one of whose keywords is in ``comment`` (None if none)."""
    text = comment.lower()
    if not text:
        return None
    for reason in ReasonTag.objects.filter(active=True).exclude(keywords=""):
        words = [w.strip().lower() for w in reason.keywords.split(",") if w.strip()]
        if any(w in text for w in words):
            return reason
    return None


def business_days_due(*, now: datetime, days: int, calendar: Calendar) -> datetime:
    """``days`` business days after ``now``: the calendar's mean open time of an open day,
    ``days`` times, added in business time (Monday 10:00 on 09:00-17:00 weekdays plus 2
    business days is Wednesday 10:00; 24/7 is 48 hours)."""
    if calendar.always_open or not calendar.weekly:
        return now + timedelta(days=days)
    open_seconds = [
        sum(
            (
                (c.hour * 3600 + c.minute * 60 + c.second or 86400)
                - (o.hour * 3600 + o.minute * 60 + o.second)
            )
            for o, c in intervals
        )
        for _, intervals in calendar.weekly
    ]
    per_day = sum(open_seconds) / len(open_seconds)
    return add_business_time(now, timedelta(seconds=per_day * days), calendar)


def detractor_loop_open(*, response: Response, now: datetime) -> None:
    """Open the detractor's ``recovery`` loop on the invite's case (else the customer),
    owned by the team that served them (the case's team) or the survey's, due in the
    survey's business days on that team's recovery calendar (the SLA policy matching its
    recovery loops; 24/7 when none does), its reason saying so (the loop's explanation
    repeats it); the sweeper escalates it by the ladder like every loop. Tells
    ``survey.detractor``. Called in ``response_record``'s transaction."""
    invite, survey = response.invite, response.survey
    case = invite.case
    team = case.team if case is not None and case.team is not None else survey.team
    policy = policy_match(kind=LoopKind.RECOVERY, team_id=team.pk)
    calendar = calendar_for(policy)
    days = survey.recovery_business_days
    due = business_days_due(now=now, days=days, calendar=calendar)
    customer = invite.customer
    said = f"{survey.kind.upper()} {response.score}"
    if response.sentiment == "negative" and response.band != Band.DETRACTOR:
        said += ", negative comment"
    plural = "s" if days != 1 else ""
    hours = policy.business_hours if policy is not None else None
    if hours is not None and not calendar.always_open and calendar.weekly:
        deadline = f"{days} business day{plural} on {team.name}'s calendar ({hours.name})"
    else:
        deadline = (
            f"{days} day{plural} round the clock (no business hours for {team.name}'s recovery)"
        )
    loop = loop_open(
        customer=customer if case is None else None,
        case=case,
        kind=LoopKind.RECOVERY,
        title=f"Call back {customer}: {said} on {survey.name}"[:300],
        team=team,
        due_at=due,
        # the loop's explanation (loops.selectors.loop_explain) says this: why it is due then
        reason=(
            f"{deadline} after the answer ({said} on {survey.name}"
            + (f': "{response.comment[:200]}")' if response.comment else ")")
        )[:500],
        now=now,
    )
    Response.objects.filter(pk=response.pk).update(recovery_loop=loop)
    response.recovery_loop = loop
    event_emit("survey.detractor", response_event_data(response), at=now)


# --- triggers -------------------------------------------------------------------------------


def _triggered(survey_filter: dict[str, Any], *, team_id: int | None) -> list[Survey]:
    surveys = Survey.objects.filter(active=True, **survey_filter).select_related("team")
    return [s for s in surveys if s.all_teams or s.team_id == team_id]


def _invite_quietly(
    survey: Survey, *, customer: Customer, case: Any, key: str, now: datetime
) -> Invite | None:
    """A trigger's invite, in a savepoint: a refusal (no address, asked already) is logged
    and must not undo the change that fired it (a case being solved)."""
    try:
        with transaction.atomic():
            invite, _ = invite_create(
                survey=survey,
                customer=customer,
                channel=survey.channel,
                case=case,
                key=key,
                now=now,
            )
    except DomainError as exc:
        log.info("survey %s not sent for %s: %s", survey.pk, key, exc.detail)
        return None
    return invite


def _customer(customer_id: int) -> Customer | None:
    """The live customer (following merges), or None."""
    from lastmile.customers.selectors import customer_get
    from lastmile.people.viewers import SYSTEM

    try:
        return customer_get(customer_id=customer_id, viewer=SYSTEM)
    except DomainError:
        return None


def on_case_solved(name: str, data: dict[str, Any], at: datetime) -> None:
    """``case.solved`` subscriber: each active ``case_solved`` survey of the case's team (or
    of every team) asks the case's customer, once per case."""
    from lastmile.cases.selectors import cases_routing

    surveys = _triggered({"trigger": Trigger.CASE_SOLVED}, team_id=data.get("team"))
    if not surveys or not data.get("customer"):
        return
    case = cases_routing(case_ids=[data["case"]]).get(data["case"])
    customer = _customer(data["customer"])
    if case is None or customer is None:
        return
    for survey in surveys:
        _invite_quietly(survey, customer=customer, case=case, key=f"case_solved:{case.pk}", now=at)


def on_loops_closed(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """``loop.closed`` subscriber: each active ``loop_closed`` survey of a closed loop's kind
    (of its team, or of every team) asks the loop's customer, once per loop. A recovery
    loop a survey opened never asks again. One query for a run of closed loops (the
    ingest closes reply loops by the batch), more only when a survey wants one of them."""
    closed = [(data, at) for data, at in events if data.get("customer")]
    if not closed:
        return
    wanted: dict[str, list[Survey]] = {}
    for survey in Survey.objects.filter(
        active=True,
        trigger=Trigger.LOOP_CLOSED,
        trigger_loop_kind__in={data.get("kind") for data, _ in closed},
    ).order_by("pk"):
        wanted.setdefault(survey.trigger_loop_kind, []).append(survey)
    for data, at in closed:
        surveys = [
            s
            for s in wanted.get(data.get("kind") or "", ())
            if s.all_teams or s.team_id == data.get("team")
        ]
        if not surveys or Response.objects.filter(recovery_loop_id=data.get("loop")).exists():
            continue
        customer = _customer(data["customer"])
        if customer is None:
            continue
        case = None
        if data.get("case"):
            from lastmile.cases.selectors import cases_routing

            case = cases_routing(case_ids=[data["case"]]).get(data["case"])
        for survey in surveys:
            _invite_quietly(
                survey, customer=customer, case=case, key=f"loop_closed:{data['loop']}", now=at
            )


def on_loop_closed(name: str, data: dict[str, Any], at: datetime) -> None:
    on_loops_closed(name, [(data, at)])


EVENT_CHANNELS = ("web", "app")  # where the Segment API records events


def on_interactions_recorded(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """``interaction.recorded`` (customers, internal): a Segment ``track`` whose event name
    an active ``event`` survey names (``Order Completed``) asks that person, once per event.
    The ingest's hot path: no query for a batch without track events, one for the rest."""
    tracks = [
        r
        for data, _ in events
        if (r := data["interaction"]).channel in EVENT_CHANNELS
        and isinstance(r.data, dict)
        and r.data.get("type") == "track"
        and isinstance(r.data.get("event"), str)
        and r.customer_id
    ]
    if not tracks:
        return
    surveys: dict[str, list[Survey]] = {}
    for survey in Survey.objects.filter(
        active=True, trigger=Trigger.EVENT, trigger_event__in={r.data["event"] for r in tracks}
    ).order_by("pk"):
        surveys.setdefault(survey.trigger_event, []).append(survey)
    if not surveys:
        return
    now = events[0][1]
    for row in tracks:
        for survey in surveys.get(row.data["event"], ()):
            customer = _customer(row.customer_id)
            if customer is not None:
                _invite_quietly(
                    survey, customer=customer, case=None, key=f"event:{row.pk}", now=now
                )


def on_interaction_recorded(name: str, data: dict[str, Any], at: datetime) -> None:
    on_interactions_recorded(name, [(data, at)])


def surveys_schedule_run(*, now: datetime, batch_size: int = 200) -> tuple[int, int]:
    """Ask the customers each active ``schedule`` survey is due to ask (``schedule_due``):
    (queued, suppressed) invites made.

    At most ``batch_size`` customers a survey a run, lowest id first; the next run takes the
    next ones (those asked drop out of ``schedule_due``). Each ask is ``invite_create`` under
    the one contact budget, keyed ``schedule:<customer>:<day>``: two runs at the same moment
    ask once (the second's same key is refused), and a run repeated the same minute finds
    nobody due. A suppressed ask is kept with its reason and tried again after
    ``SCHEDULE_RETRY``.
    """
    from lastmile.feedback.selectors import schedule_due

    queued = suppressed = 0
    surveys = Survey.objects.filter(
        active=True, trigger=Trigger.SCHEDULE, every_days__gte=1
    ).order_by("pk")
    for survey in surveys:
        if survey.channel == InviteChannel.SMS and not _sms_channel():
            log.warning("schedule survey %s: no SMS integration is on to ask by", survey.pk)
            continue
        for customer in schedule_due(survey=survey, now=now, limit=batch_size):
            invite = _invite_quietly(
                survey,
                customer=customer,
                case=None,
                key=f"schedule:{customer.pk}:{now:%Y-%m-%d}",
                now=now,
            )
            if invite is None:
                continue
            if invite.state == InviteState.SUPPRESSED:
                suppressed += 1
            else:
                queued += 1
    return queued, suppressed


# --- following the outbox -------------------------------------------------------------------


def invites_follow(*, now: datetime, batch_size: int = 500) -> tuple[int, int, int]:
    """Bring queued invites up to date: (sent, stopped, expired).

    1. An email or SMS invite whose outbox message went out is ``sent`` (at its
       ``sent_at``); one the outbox suppressed when it decided again at sending (something
       else reached the customer meanwhile) is ``suppressed`` with the rule's reason; one it
       could not deliver is ``suppressed`` too, saying so (it never reached them, so it no
       longer counts against the budget).
    2. A queued or sent invite past ``expires_at`` with no answer is ``expired``.
    Each change is a conditional UPDATE on the state read: running it twice changes nothing
    more, and an answer recorded meanwhile is never overwritten.
    """
    from lastmile.channels.models import OutboxMessage, OutboxStatus

    sent = stopped = 0
    queued = list(
        Invite.objects.filter(
            state=InviteState.QUEUED, channel__in=[InviteChannel.EMAIL, InviteChannel.SMS]
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    # channels has no selector by key; the outbox's rows are read as its admin reads them.
    keys = {f"{INVITE_KEY}{pk}": pk for pk in queued}
    rows = OutboxMessage.objects.filter(
        key__in=list(keys),
        status__in=[OutboxStatus.SENT, OutboxStatus.SUPPRESSED, OutboxStatus.FAILED],
    ).values_list("key", "status", "sent_at", "rule_check", "rule_reason", "last_error")
    for key, status, sent_at, check, reason, error in rows:
        claim = Invite.objects.filter(pk=keys[key], state=InviteState.QUEUED)
        if status == OutboxStatus.SENT:
            sent += claim.update(state=InviteState.SENT, sent_at=sent_at or now)
        elif status == OutboxStatus.SUPPRESSED:
            stopped += claim.update(
                state=InviteState.SUPPRESSED, rule_check=check, reason=reason[:300]
            )
        else:
            stopped += claim.update(
                state=InviteState.SUPPRESSED,
                rule_check="undelivered",
                reason=f"the outbox could not deliver it: {error.splitlines()[0] if error else ''}"[
                    :300
                ],
            )
    expired = Invite.objects.filter(
        state__in=[InviteState.QUEUED, InviteState.SENT], expires_at__lte=now
    ).update(state=InviteState.EXPIRED)
    return sent, stopped, expired


# --- reminders ------------------------------------------------------------------------------


def _reminder_address(invite: Invite) -> tuple[str, str]:
    """(recipient, outbox channel) of an invite's reminder: where the invite went."""
    customer = invite.customer
    if invite.channel == InviteChannel.EMAIL:
        return _identity(customer, IdentityKind.EMAIL), "email"
    return _identity(customer, IdentityKind.PHONE), _sms_channel()


def invite_remind(*, invite: Invite, now: datetime) -> Invite | None:
    """Remind ``invite``'s customer once; the invite as changed, or None when it is not one
    to remind now (answered, expired, reminded already, or held until later).

    1. Under the customer's contact lock, the invite is read again: it must still be a sent
       email or SMS invite, unanswered, not expired, not reminded, not held past ``now``.
    2. The reminder is decided under the ``survey`` contact rule over the customer's history
       without this invite (``invite_decide(excluding=…)``): another survey contact in the
       period, or another unanswered survey, suppresses it, recorded with the rule's reason
       (and never tried again).
    3. Quiet hours or a gap hold it: nothing is queued, ``reminded_at`` says until when
       (``reminder_state`` stays empty), and a run after that decides again. Held here, not
       in the outbox: an answer given meanwhile means no reminder goes out at all.
    4. Queued: a new link (only its hash is kept, beside the invite's) goes into the outbox
       under ``REMINDER_KEY``; from now on it counts against the budget.
    Running it twice reminds once: the second run finds ``reminder_state`` set.
    """
    with transaction.atomic():
        _lock_customer(invite.customer_id)
        fresh = (
            Invite.objects.select_for_update(of=("self",))
            .select_related("survey", "customer")
            .filter(
                pk=invite.pk,
                state=InviteState.SENT,
                reminder_state=ReminderState.NONE,
                channel__in=[InviteChannel.EMAIL, InviteChannel.SMS],
                expires_at__gt=now,
            )
            .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=now))
            .first()
        )
        if fresh is None:
            return None
        recipient, channel = _reminder_address(fresh)
        decision = invite_decide(customer=fresh.customer, now=now, excluding=fresh)
        if not recipient or not channel:
            decision = Decision(
                Outcome.SUPPRESS,
                PURPOSE,
                None,
                "no_address",
                "the customer's address or the SMS integration is gone",
            )
        fresh.reminded_at = now
        fresh.reminder_check = decision.check
        fresh.reminder_reason = decision.reason[:300]
        if decision.outcome is Outcome.DEFER and decision.until is not None:
            fresh.reminded_at = decision.until  # held: tried again then
        elif decision.outcome is Outcome.SUPPRESS:
            fresh.reminder_state = ReminderState.SUPPRESSED
        else:
            token = secrets.token_urlsafe(24)
            fresh.reminder_state = ReminderState.QUEUED
            fresh.reminder_token_hash = token_hash(token)
            _outbox_send(
                fresh,
                token=token,
                recipient=recipient,
                channel=channel,
                reminder=True,
                now=now,
            )
        fresh.save(
            update_fields=[
                "reminded_at",
                "reminder_check",
                "reminder_reason",
                "reminder_state",
                "reminder_token_hash",
            ]
        )
    return fresh


def invites_remind(*, now: datetime, batch_size: int = 200) -> tuple[int, int]:
    """Remind the sent, unanswered invites of every survey that reminds, ``remind_after_hours``
    after they went out: (queued, suppressed); held ones (quiet hours) are tried again when
    their hold ends. Oldest first, ``batch_size`` a survey a run; the next run takes the rest. Queued reminders follow their outbox messages first
    (``reminders_follow``)."""
    reminders_follow(now=now)
    queued = suppressed = 0
    for survey in Survey.objects.filter(active=True, remind_after_hours__gt=0).order_by("pk"):
        due = list(
            Invite.objects.filter(
                survey=survey,
                state=InviteState.SENT,
                reminder_state=ReminderState.NONE,
                channel__in=[InviteChannel.EMAIL, InviteChannel.SMS],
                sent_at__lte=now - timedelta(hours=survey.remind_after_hours),
                expires_at__gt=now,
            )
            .filter(Q(reminded_at__isnull=True) | Q(reminded_at__lte=now))
            .order_by("sent_at", "pk")[:batch_size]
        )
        for invite in due:
            done = invite_remind(invite=invite, now=now)
            if done is None or done.reminder_state == ReminderState.NONE:  # held
                continue
            if done.reminder_state == ReminderState.SUPPRESSED:
                suppressed += 1
            else:
                queued += 1
    return queued, suppressed


def reminders_follow(*, now: datetime, batch_size: int = 500) -> tuple[int, int]:
    """Queued reminders follow their outbox messages: (sent, stopped). One the outbox sent
    is ``sent``; one it stopped at sending or could not deliver is ``suppressed`` with the
    reason (it no longer counts against the budget). Conditional updates: safe to run twice."""
    from lastmile.channels.models import OutboxMessage, OutboxStatus

    queued = list(
        Invite.objects.filter(reminder_state=ReminderState.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    keys = {f"{REMINDER_KEY}{pk}": pk for pk in queued}
    rows = OutboxMessage.objects.filter(
        key__in=list(keys),
        status__in=[OutboxStatus.SENT, OutboxStatus.SUPPRESSED, OutboxStatus.FAILED],
    ).values_list("key", "status", "rule_check", "rule_reason", "last_error")
    sent = stopped = 0
    for key, status, check, reason, error in rows:
        claim = Invite.objects.filter(pk=keys[key], reminder_state=ReminderState.QUEUED)
        if status == OutboxStatus.SENT:
            sent += claim.update(reminder_state=ReminderState.SENT)
        elif status == OutboxStatus.SUPPRESSED:
            stopped += claim.update(
                reminder_state=ReminderState.SUPPRESSED,
                reminder_check=check,
                reminder_reason=reason[:300],
            )
        else:
            first = error.splitlines()[0] if error else ""
            stopped += claim.update(
                reminder_state=ReminderState.SUPPRESSED,
                reminder_check="undelivered",
                reminder_reason=f"the outbox could not deliver it: {first}"[:300],
            )
    return sent, stopped


# --- closing a detractor's recovery loop ----------------------------------------------------


def recovery_close(
    *,
    response: Response,
    outcome: str,
    actor: Actor,
    now: datetime,
    note: str = "",
    resurvey: bool = False,
    channel: str = "",
) -> tuple[Response, Invite | None, str]:
    """Close a detractor's recovery loop with its outcome, and optionally ask again: the
    response, the new invite (or None) and its link's token ("" if none).

    1. ``outcome`` is one of ``RecoveryOutcome`` (InvalidInput naming ``outcome``); the
       response has a recovery loop, with no outcome yet (Conflict naming ``response``).
    2. The loop closes through ``loops.services.loop_close``, as any loop closes: its trail
       says the outcome and the note (``Outcome: refunded. …``), by ``actor``. A loop closed
       (or broken) elsewhere already, e.g. the console's "Mark done", is not closed again:
       the outcome is recorded all the same. A cancelled loop (nothing owed any more: the
       answer changed) is a Conflict (``loop_not_open``). The outcome, note, time and actor
       are stored on the response.
    3. ``resurvey``: the same survey asks the customer again (``invite_create``, keyed
       ``resurvey:<response>``, on ``channel`` or the first invite's), under the one contact
       budget: it may well be suppressed (the rule's reason says why). A refusal (no
       address on the channel, the survey switched off) refuses the whole: nothing written.
    """
    from lastmile.loops.services import loop_close

    errors: list[FieldError] = []
    if outcome not in RecoveryOutcome.values:
        errors.append(FieldError("outcome", f"one of {', '.join(RecoveryOutcome.values)}"))
    if resurvey and channel and channel not in InviteChannel.values:
        errors.append(FieldError("channel", f"one of {', '.join(InviteChannel.values)}"))
    if errors:
        raise InvalidInput(errors[0].reason, errors)
    note = (note or "").strip()[:400]
    with transaction.atomic():
        fresh = (
            Response.objects.select_for_update(of=("self",))
            .select_related("invite__customer", "invite__case", "survey", "recovery_loop")
            .get(pk=response.pk)
        )
        if fresh.recovery_loop is None:
            raise Conflict(
                f"response {fresh.pk} opened no recovery loop",
                errors=[FieldError("response", "not a detractor's: no recovery loop")],
            )
        if fresh.recovery_outcome:
            raise Conflict(
                f"response {fresh.pk}'s recovery closed already ({fresh.recovery_outcome})",
                errors=[FieldError("response", "its recovery loop has its outcome")],
            )
        loop = Loop.objects.select_for_update(of=("self",)).get(pk=fresh.recovery_loop.pk)
        if loop.state == LoopState.CANCELLED:
            raise Conflict(
                f"response {fresh.pk}'s recovery loop #{loop.pk} was cancelled: nothing is owed",
                code=ErrorCode.LOOP_NOT_OPEN,
                errors=[FieldError("response", "its recovery loop was cancelled")],
            )
        label = RecoveryOutcome(outcome).label
        if loop.state == LoopState.OPEN:
            loop_close(
                loop=loop,
                actor=actor,
                reason=f"Outcome: {label.lower()}." + (f" {note}" if note else ""),
                now=now,
            )
        invite: Invite | None = None
        token = ""
        if resurvey:
            first = fresh.invite
            invite, token = invite_create(
                survey=fresh.survey,
                customer=first.customer,
                channel=channel or first.channel,
                case=first.case,
                key=f"resurvey:{fresh.pk}",
                actor=actor,
                now=now,
            )
        fresh.recovery_outcome = outcome
        fresh.recovery_note = note
        fresh.recovery_closed_at = now
        fresh.recovery_closed_by = actor
        fresh.resurvey = invite
        fresh.save(
            update_fields=[
                "recovery_outcome",
                "recovery_note",
                "recovery_closed_at",
                "recovery_closed_by",
                "resurvey",
            ]
        )
    return fresh, invite, token

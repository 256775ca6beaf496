"""What the portal shows a customer, read in a few queries and scoped to that customer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.dateformat import format as date_format

from lastmile.cases.models import Case
from lastmile.customers.models import Channel, Customer, Direction, Interaction
from lastmile.feedback.models import InviteState
from lastmile.feedback.selectors import (
    answers_changeable_for_customer,
    invite_of_customer,
    invites_pending_for_customer,
)
from lastmile.feedback.services import CHANGE_WINDOW
from lastmile.invoices.money import money_format
from lastmile.jobs.models import Job, JobState
from lastmile.jobs.selectors import jobs_of_customer, slots_offered
from lastmile.jobs.services import window_words as job_window_words
from lastmile.jobs.services import zone_of as job_zone_of
from lastmile.journeys.models import CustomerAction, JourneyState, JourneyStep, StepState
from lastmile.journeys.selectors import CustomerJourney, CustomerStep, journeys_for_customer
from lastmile.journeys.services import step_windows, window_words
from lastmile.knowledge.selectors import articles_public
from lastmile.promises.selectors import promises_for_customer

# What the customer wrote or was sent: messages on the channels people write on, both ways.
# Everything else is the team's own, whatever its direction: notes, a phone call or a visit
# written up by an agent ("Us · phone" was an agent's call notes), web and app events, the
# API's records. A new channel stays internal until it is added here.
CONVERSATION_DIRECTIONS = (Direction.INBOUND, Direction.OUTBOUND)
WRITTEN_CHANNELS = (Channel.EMAIL, Channel.CHAT, Channel.SMS, Channel.WHATSAPP, Channel.PORTAL)
SOCIAL_PREFIX = f"{Channel.SOCIAL}:"  # stored as social:<network>
HELP_ON_HOME = 5
# The home page shows the newest; a customer with more sees the rest on each case's page.
JOURNEYS_ON_HOME = 20
PROMISES_ON_HOME = 50


def customer_title(case: Case) -> str:
    """The case's title for its customer: the one the team wrote for them, else a neutral
    one. Never the subject, which is the team's (often made from the first message)."""
    if case.customer_title:
        return case.customer_title
    opened = date_format(timezone.localtime(case.created_at), "j M")
    return f"Your request {case.ref} · opened {opened}"


def conversation_for_customer(case: Case) -> Any:
    """The messages of ``case`` the customer wrote or was sent, oldest first."""
    return (
        Interaction.objects.filter(case=case, direction__in=CONVERSATION_DIRECTIONS)
        .filter(Q(channel__in=WRITTEN_CHANNELS) | Q(channel__startswith=SOCIAL_PREFIX))
        .order_by("occurred_at", "id")
    )


def portal_cases(customer: Customer) -> list[Case]:
    return list(Case.objects.filter(customer=customer).order_by("-created_at")[:50])


def steps_waiting_for(
    journeys: list[CustomerJourney],
) -> list[tuple[CustomerJourney, CustomerStep]]:
    """The customer's own steps that are open now, with their journey, earliest due first."""
    todo = [(j, s) for j in journeys for s in j.steps if s.can_act]
    return sorted(
        todo, key=lambda pair: (pair[1].due_at is None, pair[1].due_at or pair[0].started_at)
    )


def portal_overview(customer: Customer, *, now: datetime) -> dict[str, Any]:
    """The home page: cases, what waits for the customer (steps, surveys not answered yet),
    journeys, promises, help."""
    journeys = journeys_for_customer(customer=customer, limit=JOURNEYS_ON_HOME)
    return {
        "cases": portal_cases(customer),
        "journeys": journeys,
        "todo": steps_waiting_for(journeys=journeys),
        "promises": promises_for_customer(customer=customer, limit=PROMISES_ON_HOME),
        "jobs": jobs_of_customer(customer=customer, now=now),
        "articles": articles_public(limit=HELP_ON_HOME),
        "surveys": [
            (invite, invite.survey.text(invite.language))
            for invite in invites_pending_for_customer(customer=customer, now=now)
        ],
        "answers": [
            (answer, answer.survey.text(answer.invite.language), answer.at + CHANGE_WINDOW)
            for answer in answers_changeable_for_customer(
                customer=customer, now=now, window=CHANGE_WINDOW
            )
        ],
        "now": now,
    }


def portal_survey(customer: Customer, invite_id: int, *, now: datetime) -> dict[str, Any]:
    """One of the customer's own survey invites, as its page shows it: the question in their
    language, the scale, their answer if they gave one, and whether it can still be given
    or changed (``open``) or why not (``closed``). Another customer's invite is NotFound."""
    invite, response = invite_of_customer(customer=customer, invite_id=invite_id)
    survey = invite.survey
    low, high = survey.scale
    closed = ""
    if invite.state == InviteState.SUPPRESSED:
        closed = "We did not send this survey, so it takes no answer."
    elif response is None and now >= invite.expires_at:
        closed = f"It could be answered until {invite.expires_at:%d %B %Y}."
    elif response is not None and now >= response.at + CHANGE_WINDOW:
        closed = "An answer can be changed for 24 hours; that time is over."
    return {
        "invite": invite,
        "texts": survey.text(invite.language),
        "scores": list(range(low, high + 1)),
        "response": response,
        "change_until": response.at + CHANGE_WINDOW if response is not None else None,
        "closed": closed,
    }


def portal_case(case: Case, *, now: datetime) -> dict[str, Any]:
    """A case page: the conversation, and the journeys and promises that belong to the case."""
    messages = conversation_for_customer(case)
    journeys = journeys_for_customer(customer=case.customer, case=case)
    promises = promises_for_customer(customer=case.customer, case=case)
    return {
        "case": case,
        "messages": list(messages[:200]),
        "journeys": journeys,
        "promises": promises,
        "now": now,
    }


def slot_choices(step: JourneyStep, *, now: datetime) -> list[dict[str, str]]:
    """The windows the customer may still choose on a slot step (not yet started), each
    with the form's value ("start/end") and its words in the step's time zone."""
    return [
        {"value": f"{a.isoformat()}/{b.isoformat()}", "label": window_words(step, a, b)}
        for a, b in step_windows(step)
        if a > now
    ]


def portal_step(step: JourneyStep, *, now: datetime) -> dict[str, Any]:
    """A step page, as the customer may see it: a team's step shows its title, state and
    team only — its instructions and data are for the teams."""
    journey = step.journey
    mine = step.customer_performs
    chosen = ""
    if mine and step.slot_starts_at is not None and step.slot_ends_at is not None:
        chosen = window_words(step, step.slot_starts_at, step.slot_ends_at)
    return {
        "windows": slot_choices(step, now=now)
        if mine and step.customer_action == CustomerAction.CHOOSE_SLOT
        else [],
        "chosen_window": chosen,
        "step": step,
        "journey_name": journey.name,
        "case_ref": journey.case.ref,
        "owner": "you" if mine else (step.team.name if step.team is not None else ""),
        "instructions": step.instructions if mine else "",
        "data": dict(step.data or {}) if mine else {},
        "can_act": mine and step.state == StepState.OPEN and journey.state == JourneyState.ACTIVE,
        "action": step.customer_action if mine else "",
    }


def portal_job(job: Job, *, now: datetime) -> dict[str, Any]:
    """A delivery or visit page: its window in words (the team's time zone), and the slots
    the customer may choose: to move it while it is scheduled and before its slot's cut-off,
    or to book its re-attempt when it failed."""
    zone = job_zone_of(job.team)
    cutoff = job.slot.starts_at - timedelta(minutes=job.slot.cutoff_minutes)
    movable = job.state == JobState.SCHEDULED and now < cutoff
    choosing = movable or job.state == JobState.FAILED
    offered = slots_offered(job=job, now=now) if choosing else []
    return {
        "job": job,
        "window": job_window_words(job.window_start, job.window_end, zone),
        "movable": movable,
        "cutoff": cutoff,
        "cutoff_words": f"{cutoff.astimezone(zone):%a %d %b %H:%M %Z}",
        "reattempt": job.state == JobState.FAILED,
        "slots": [
            {"id": s.slot.pk, "label": job_window_words(s.slot.starts_at, s.slot.ends_at, zone)}
            for s in offered
        ],
        "now": now,
        "done": _job_done(job, zone) if job.state == JobState.COMPLETED else None,
    }


def _job_done(job: Job, zone: Any) -> dict[str, Any]:
    """A completed job as its page tells it: when it was done, the proofs taken (kind and
    time, in the team's zone), and its invoice (number and total; its PDF is served under
    the job's tracking token)."""
    done = "Delivered" if job.kind == "delivery" else "Completed"
    at = job.completed_at.astimezone(zone) if job.completed_at else None
    invoice = job.invoice if isinstance(job.invoice, dict) else None
    return {
        "words": f"{done} {at:%a %d %b %H:%M %Z}" if at else done,
        "proofs": [
            f"{p.get_kind_display()} at {p.at.astimezone(zone):%H:%M}" for p in job.proofs.all()
        ],
        "invoice": {
            "number": str(invoice.get("number") or ""),
            "total": money_format(
                int(invoice.get("total") or 0), str(invoice.get("currency") or "")
            ),
        }
        if invoice and isinstance(invoice.get("id"), int)
        else None,
    }

"""Every write to cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from lastmile.cases.models import Case, CaseEvent, CaseStatus, Priority
from lastmile.core.audit import Action as AuditAction
from lastmile.core.audit import audit_record, changes, snapshot
from lastmile.core.db import rows_insert
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.events import event_emit, guard_check
from lastmile.core.ids import counter_next, counter_reserve
from lastmile.people.selectors import assignee_check
from lastmile.people.viewers import Actor

_UNSET: Any = object()


def case_subject_checked(subject: str | None) -> str:
    """A case's subject as stored: stripped, at most 300 characters; InvalidInput if empty."""
    subject = (subject or "").strip()
    if not subject:
        raise InvalidInput("a case needs a subject", [FieldError("subject", "must not be empty")])
    return subject[:300]


def case_customer_title_checked(title: str | None) -> str:
    """The title a customer sees, as stored: stripped, at most 200 characters ("" = none)."""
    title = " ".join((title or "").split())
    if len(title) > 200:
        raise InvalidInput(
            "the customer's title is too long",
            [FieldError("customer_title", "at most 200 characters")],
        )
    return title


def _priority_check(priority: str) -> None:
    if priority not in Priority.values:
        raise InvalidInput(
            f"unknown priority {priority!r}",
            [FieldError("priority", f"one of {', '.join(Priority.values)}")],
        )


@transaction.atomic
def case_create(
    *,
    customer: Any,
    subject: str,
    now: datetime,
    team: Any = None,
    assignee: Any = None,
    priority: str = Priority.NORMAL,
    channel: str = "",
    actor: Actor = None,
) -> Case:
    subject = case_subject_checked(subject)
    _priority_check(priority)
    case = Case.objects.create(
        number=counter_next("case"),
        customer=customer,
        subject=subject,
        priority=priority,
        channel=channel,
        team=team,
        assignee=assignee,
        created_at=now,
        updated_at=now,
    )
    CaseEvent.objects.create(
        case=case, kind="created", actor=actor, at=now, data={"team": team and team.slug}
    )
    return case


@dataclass
class CaseIn:
    """One case for :func:`cases_insert`: what ``case_create`` takes (no assignee, no actor)."""

    customer_id: int
    subject: str
    now: datetime
    team: Any = None
    channel: str = ""
    priority: str = Priority.NORMAL


def cases_insert(*, cases: Sequence[CaseIn]) -> list[int]:
    """Create many cases at once, as ``case_create`` creates each; their ids, in order.

    1. Check every subject and priority (InvalidInput: nothing written).
    2. Reserve one number per case from the ``case`` counter, in order.
    3. Insert the cases, then their ``created`` events, one multi-row INSERT each.

    For bulk importers (listening's mention import). Nothing else reacts to a new case, so
    no domain event is emitted, as ``case_create`` emits none. All or nothing: inside the
    caller's transaction when there is one (no savepoint of its own: a batch's query count
    stays flat), else in its own.
    """
    if not cases:
        return []
    subjects = [case_subject_checked(c.subject) for c in cases]
    for c in cases:
        _priority_check(c.priority)
    with transaction.atomic(savepoint=False):
        numbers = counter_reserve("case", len(cases))
        pks = rows_insert(
            Case,
            [
                {
                    "number": number,
                    "customer_id": c.customer_id,
                    "subject": subject,
                    "priority": c.priority,
                    "channel": c.channel,
                    "team_id": c.team.pk if c.team is not None else None,
                    "created_at": c.now,
                    "updated_at": c.now,
                }
                for c, subject, number in zip(cases, subjects, numbers, strict=True)
            ],
            returning=True,
        )
        rows_insert(
            CaseEvent,
            [
                {
                    "case_id": pk,
                    "kind": "created",
                    "at": c.now,
                    "data": {"team": c.team.slug if c.team is not None else None},
                }
                for c, pk in zip(cases, pks, strict=True)
            ],
        )
    return list(pks)


@transaction.atomic
def case_set_status(*, case: Case, status: str, actor: Actor = None, now: datetime) -> Case:
    """Change a case's status. Solving or closing it is first put to the ``case.close``
    guards of the apps above (loops refuses while one of the case's loops is open)."""
    if status not in CaseStatus.values:
        raise InvalidInput(
            f"unknown status {status!r}",
            [FieldError("status", f"one of {', '.join(CaseStatus.values)}")],
        )
    case = Case.objects.select_for_update().get(pk=case.pk)
    if status in (CaseStatus.SOLVED, CaseStatus.CLOSED):
        guard_check("case.close", {"case": case, "status": status})
    if case.status == status:
        return case
    previous = case.status
    case.status = status
    case.updated_at = now
    case.solved_at = now if status == CaseStatus.SOLVED else case.solved_at
    case.save(update_fields=["status", "updated_at", "solved_at"])
    CaseEvent.objects.create(
        case=case, kind="status", actor=actor, at=now, data={"from": previous, "to": status}
    )
    if status == CaseStatus.SOLVED:
        event_emit(
            "case.solved",
            {
                "case": case.pk,
                "reference": case.ref,
                "customer": case.customer_id,
                "team": case.team_id,
            },
            at=now,
        )
    return case


def _assign(*, case: Case, team: Any, assignee: Any, actor: Actor, now: datetime) -> Case:
    """Give ``case`` exactly this team and assignee: the trail's ``assigned`` event and the
    audit row (the changed ids before and after) are written with it."""
    assignee_check(assignee=assignee, team=team)
    before = snapshot(case, ["team", "assignee"])
    case.team = team
    case.assignee = assignee
    case.updated_at = now
    case.save(update_fields=["team", "assignee", "updated_at"])
    CaseEvent.objects.create(
        case=case,
        kind="assigned",
        actor=actor,
        at=now,
        data={"team": case.team and case.team.slug, "assignee": assignee and assignee.username},
    )
    old, new = changes(before, snapshot(case, ["team", "assignee"]))
    if new:
        audit_record(
            actor=actor, now=now, obj=case, action=AuditAction.CHANGED, before=old, after=new
        )
    return case


@transaction.atomic
def case_assign(
    *, case: Case, team: Any = None, assignee: Any = None, actor: Actor = None, now: datetime
) -> Case:
    """Give the case to ``assignee``, and to ``team`` when one is given (None keeps the team)."""
    return _assign(
        case=case,
        team=team if team is not None else case.team,
        assignee=assignee,
        actor=actor,
        now=now,
    )


@transaction.atomic
def case_team_set(
    *, case: Case, team: Any, assignee: Any = _UNSET, actor: Actor, now: datetime
) -> Case:
    """Give the case to ``team`` (None: to no team) and, when given, to ``assignee``; the
    assignee must be in the team (InvalidInput, nothing written). The admin's change form."""
    return _assign(
        case=case,
        team=team,
        assignee=case.assignee if assignee is _UNSET else assignee,
        actor=actor,
        now=now,
    )


@transaction.atomic
def case_update(
    *,
    case: Case,
    subject: str | None = None,
    priority: str | None = None,
    customer_title: str | None = None,
    actor: Actor = None,
    now: datetime,
) -> Case:
    """Change the subject, the priority or the title the customer sees (None: unchanged;
    an empty ``customer_title`` gives the customer the neutral title again)."""
    if priority is not None:
        _priority_check(priority)
    if subject is not None:
        case.subject = case_subject_checked(subject)
    if customer_title is not None:
        case.customer_title = case_customer_title_checked(customer_title)
    if priority is not None:
        case.priority = priority
    case.updated_at = now
    case.save(update_fields=["subject", "customer_title", "priority", "updated_at"])
    return case


def case_reopen_on_message(*, case: Case, now: datetime) -> Case:
    """A customer writing again reopens a pending or solved case (a closed one stays closed)."""
    status = Case.objects.values_list("status", flat=True).get(pk=case.pk)
    if status in (CaseStatus.PENDING, CaseStatus.SOLVED):
        return case_set_status(case=case, status=CaseStatus.OPEN, now=now)
    return case


@transaction.atomic
def case_change(
    *,
    case: Case,
    now: datetime,
    actor: Actor = None,
    subject: str | None = None,
    priority: str | None = None,
    customer_title: str | None = None,
    team: Any = _UNSET,
    assignee: Any = _UNSET,
    status: str | None = None,
) -> Case:
    """Apply several changes at once, all or nothing (the API's PATCH).

    Status goes last, so a refused solve (loops still open) rolls back the other changes too.
    """
    if subject is not None or priority is not None or customer_title is not None:
        case = case_update(
            case=case,
            subject=subject,
            priority=priority,
            customer_title=customer_title,
            actor=actor,
            now=now,
        )
    if team is not _UNSET or assignee is not _UNSET:
        case = case_assign(
            case=case,
            team=None if team is _UNSET else team,
            assignee=case.assignee if assignee is _UNSET else assignee,
            actor=actor,
            now=now,
        )
    if status is not None:
        case = case_set_status(case=case, status=status, actor=actor, now=now)
    return case

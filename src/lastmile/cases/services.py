"""Every write to cases."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q

from lastmile.cases.models import Case, CaseEvent, CaseStatus, CaseTag, Priority, SavedView, Tag
from lastmile.core.audit import Action as AuditAction
from lastmile.core.audit import audit_record, changes, snapshot
from lastmile.core.db import rows_insert
from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.core.events import event_emit, guard_check
from lastmile.core.ids import counter_next, counter_reserve
from lastmile.people.selectors import agent_team_for, assignee_check, person_name
from lastmile.people.viewers import Actor

_UNSET: Any = object()

MAX_TAGS = 20
BULK_LIMIT = 500  # rows a bulk action takes at once (a page of a list is at most 100)
_TAG_RE = re.compile(r"[\w.:-]+")


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
    audit row (the changed ids before and after) are written with it; nothing when neither
    changes. A new assignee (or none) is told as the internal event ``case.assigned``; a
    new team as ``case.moved`` (with ``from_team``: loops moves the case's open loops that
    team held, in this transaction)."""
    assignee_check(assignee=assignee, team=team)
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("team", "assignee")
        .get(pk=case.pk)
    )
    if case.team_id == (team and team.pk) and case.assignee_id == (assignee and assignee.pk):
        return case
    before = snapshot(case, ["team", "assignee"])
    from_team = case.team
    team_changed = case.team_id != (team and team.pk)
    assignee_changed = case.assignee_id != (assignee and assignee.pk)
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
    if team_changed:
        event_emit(
            "case.moved",
            {"case": case, "from_team": from_team, "team": team, "actor": actor},
            at=now,
            internal=True,
        )
    if assignee_changed:
        event_emit(
            "case.assigned",
            {"case": case, "assignee": assignee, "team": team, "actor": actor},
            at=now,
            internal=True,
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
    an empty ``customer_title`` gives the customer the neutral title again). Each field that
    changes gets an event in the trail (``subject``, ``priority``, ``customer_title``, with
    ``from`` and ``to``); nothing changed, nothing written."""
    if priority is not None:
        _priority_check(priority)
    wanted: dict[str, str] = {}
    if subject is not None:
        wanted["subject"] = case_subject_checked(subject)
    if customer_title is not None:
        wanted["customer_title"] = case_customer_title_checked(customer_title)
    if priority is not None:
        wanted["priority"] = priority
    case = Case.objects.select_for_update().get(pk=case.pk)
    changed = {name: value for name, value in wanted.items() if getattr(case, name) != value}
    if not changed:
        return case
    events = []
    for name, value in changed.items():
        events.append(
            CaseEvent(
                case=case,
                kind=name,
                actor=actor,
                at=now,
                data={"from": getattr(case, name), "to": value},
            )
        )
        setattr(case, name, value)
    case.updated_at = now
    case.save(update_fields=[*changed, "updated_at"])
    CaseEvent.objects.bulk_create(events)
    return case


def tag_names_checked(names: Iterable[str]) -> list[str]:
    """Tags as stored: stripped, lower case, inner spaces as "-", unique, in order; at most
    50 characters each and 20 on a case (InvalidInput naming ``tags`` otherwise)."""
    out: list[str] = []
    for raw in names:
        name = "-".join((raw or "").strip().lower().split())
        if not name:
            continue
        if len(name) > 50 or not _TAG_RE.fullmatch(name):
            raise InvalidInput(
                f"bad tag {raw!r}",
                [FieldError("tags", "letters, digits, - _ . : and at most 50 characters")],
            )
        if name not in out:
            out.append(name)
    if len(out) > MAX_TAGS:
        raise InvalidInput(
            "too many tags", [FieldError("tags", f"at most {MAX_TAGS} tags on a case")]
        )
    return out


def _tags_of(names: list[str]) -> list[Tag]:
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    return [existing[n] for n in names]


@transaction.atomic
def case_tags_set(
    *,
    case: Case,
    tags: Iterable[str] | None = None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    actor: Actor = None,
    now: datetime,
) -> Case:
    """Give the case exactly ``tags`` (when given), or add and remove some. Writes a ``tags``
    event with what was added and removed; nothing changed, nothing written."""
    case = Case.objects.select_for_update().get(pk=case.pk)
    current = list(
        Tag.objects.filter(casetag_rows(case)).order_by("name").values_list("name", flat=True)
    )
    if tags is not None:
        wanted = tag_names_checked(tags)
    else:
        gone = set(tag_names_checked(remove))
        wanted = tag_names_checked([*(n for n in current if n not in gone), *add])
    added = [n for n in wanted if n not in current]
    removed = [n for n in current if n not in wanted]
    if not added and not removed:
        return case
    if len(wanted) > MAX_TAGS:
        raise InvalidInput(
            "too many tags", [FieldError("tags", f"at most {MAX_TAGS} tags on a case")]
        )
    if removed:
        CaseTag.objects.filter(case=case, tag__name__in=removed).delete()
    if added:
        CaseTag.objects.bulk_create([CaseTag(case=case, tag=t) for t in _tags_of(added)])
    case.updated_at = now
    case.save(update_fields=["updated_at"])
    CaseEvent.objects.create(
        case=case, kind="tags", actor=actor, at=now, data={"added": added, "removed": removed}
    )
    return case


def casetag_rows(case: Case) -> Q:
    """The tags on ``case``, as a filter of Tag."""
    return Q(pk__in=CaseTag.objects.filter(case=case).values("tag_id"))


@transaction.atomic
def case_take(*, case: Case, actor: Any, now: datetime) -> Case:
    """The actor takes the case: it is assigned to them, in its team when they are in it,
    else in their own team (the case moves with them). Refused (InvalidInput) for someone
    in no team."""
    team = agent_team_for(actor, prefer=case.team)
    if team is None:
        raise InvalidInput(
            "you are in no team, so you cannot take a case",
            [FieldError("assignee", "not a member of any team")],
        )
    return _assign(case=case, team=team, assignee=actor, actor=actor, now=now)


@transaction.atomic
def case_move(*, case: Case, team: Any, actor: Actor, now: datetime) -> Case:
    """Move the case to ``team``; its assignee stays if they are in that team, else the case
    is unassigned (the new team picks it up)."""
    fresh = Case.objects.select_related("assignee").get(pk=case.pk)
    assignee = fresh.assignee
    try:
        assignee_check(assignee=assignee, team=team)
    except InvalidInput:
        assignee = None
    return _assign(case=fresh, team=team, assignee=assignee, actor=actor, now=now)


def case_loops_moved_record(
    *, case: Case, team: Any, loops: Sequence[int], actor: Actor, now: datetime
) -> CaseEvent:
    """The case's history says that its open loops ``loops`` moved with it to ``team``
    (kind ``loops_moved``; loops tells it, as cases does not know loops)."""
    return CaseEvent.objects.create(
        case=case,
        kind="loops_moved",
        actor=actor,
        at=now,
        data={"team": team.slug if team is not None else None, "loops": list(loops)},
    )


def cases_touch(*, case_ids: Iterable[int | None], at: datetime) -> int:
    """A message was recorded on these cases at ``at``: their ``updated_at`` moves up to it
    (never back), so the lists sorted by "Updated" show the latest activity, not only edits
    to the case's own fields. One UPDATE for the whole batch (the ingest's hot path); the
    number of cases moved."""
    ids = {pk for pk in case_ids if pk is not None}
    if not ids:
        return 0
    return Case.objects.filter(pk__in=ids, updated_at__lt=at).update(updated_at=at)


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
    tags: Iterable[str] | None = None,
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
    if tags is not None:
        case = case_tags_set(case=case, tags=tags, actor=actor, now=now)
    if status is not None:
        case = case_set_status(case=case, status=status, actor=actor, now=now)
    return case


# --- bulk actions ------------------------------------------------------------------------


@dataclass
class BulkResult:
    """What a bulk action did: the cases it changed (all of those asked) and a sentence."""

    cases: list[Case]
    message: str


def _bulk_cases(case_ids: Iterable[int], *, visible: Any) -> list[Case]:
    """The cases ``case_ids`` among ``visible`` (the viewer's query), locked, in id order (a
    second bulk action on the same cases waits, never deadlocks); NotFound if one is not
    there, so nothing is done for any."""
    ids = sorted({int(i) for i in case_ids})
    if not ids:
        raise InvalidInput("select at least one case", [FieldError("ids", "nothing selected")])
    if len(ids) > BULK_LIMIT:
        raise InvalidInput(
            f"at most {BULK_LIMIT} cases at once", [FieldError("ids", f"at most {BULK_LIMIT}")]
        )
    allowed = set(visible.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [i for i in ids if i not in allowed]
    if missing:
        raise NotFound(f"case id {missing[0]}")
    return list(Case.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def _n_cases(n: int) -> str:
    return f"{n} case{'s' if n != 1 else ''}"


def _refused(case: Case, exc: DomainError) -> DomainError:
    """``exc`` naming the case it was refused for, so the message says which and why."""
    exc.detail = f"{case.ref}: {exc.detail}. Nothing was changed."
    return exc


@transaction.atomic
def cases_bulk_assign(
    *, case_ids: Iterable[int], visible: Any, assignee: Any, actor: Actor, now: datetime
) -> BulkResult:
    """Assign every case to ``assignee`` (None: unassign), all or nothing: an assignee not in
    a case's team refuses the whole action, naming that case."""
    cases = _bulk_cases(case_ids, visible=visible)
    for case in cases:
        try:
            _assign(case=case, team=case.team, assignee=assignee, actor=actor, now=now)
        except DomainError as exc:
            raise _refused(case, exc) from None
    who = person_name(assignee) or "nobody"
    return BulkResult(cases, f"{_n_cases(len(cases))} assigned to {who}.")


@transaction.atomic
def cases_bulk_move(
    *, case_ids: Iterable[int], visible: Any, team: Any, actor: Actor, now: datetime
) -> BulkResult:
    """Move every case to ``team`` (assignees outside it are unassigned), all or nothing."""
    cases = _bulk_cases(case_ids, visible=visible)
    for case in cases:
        case_move(case=case, team=team, actor=actor, now=now)
    return BulkResult(cases, f"{_n_cases(len(cases))} moved to {team.name if team else 'no team'}.")


@transaction.atomic
def cases_bulk_status(
    *, case_ids: Iterable[int], visible: Any, status: str, actor: Actor, now: datetime
) -> BulkResult:
    """Set every case's status, all or nothing: a case that may not be solved or closed (a
    loop on it is open) refuses the whole action, naming that case."""
    cases = _bulk_cases(case_ids, visible=visible)
    for case in cases:
        try:
            case_set_status(case=case, status=status, actor=actor, now=now)
        except DomainError as exc:
            raise _refused(case, exc) from None
    return BulkResult(cases, f"{_n_cases(len(cases))} now {CaseStatus(status).label.lower()}.")


@transaction.atomic
def cases_bulk_priority(
    *, case_ids: Iterable[int], visible: Any, priority: str, actor: Actor, now: datetime
) -> BulkResult:
    """Set every case's priority, all or nothing."""
    _priority_check(priority)
    cases = _bulk_cases(case_ids, visible=visible)
    for case in cases:
        case_update(case=case, priority=priority, actor=actor, now=now)
    return BulkResult(
        cases, f"{_n_cases(len(cases))} set to {Priority(priority).label.lower()} priority."
    )


@transaction.atomic
def cases_bulk_tag(
    *,
    case_ids: Iterable[int],
    visible: Any,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    actor: Actor,
    now: datetime,
) -> BulkResult:
    """Add and remove tags on every case, all or nothing."""
    add, remove = tag_names_checked(add), tag_names_checked(remove)
    if not add and not remove:
        raise InvalidInput("name a tag to add or remove", [FieldError("tag", "empty")])
    cases = _bulk_cases(case_ids, visible=visible)
    for case in cases:
        try:
            case_tags_set(case=case, add=add, remove=remove, actor=actor, now=now)
        except DomainError as exc:
            raise _refused(case, exc) from None
    what = ", ".join([*(f"+{n}" for n in add), *(f"-{n}" for n in remove)])
    return BulkResult(cases, f"{_n_cases(len(cases))} tagged {what}.")


# --- saved views -------------------------------------------------------------------------


@transaction.atomic
def saved_view_create(
    *, name: str, query: str, actor: Any, now: datetime, team: Any = None
) -> SavedView:
    """Save a case list for the actor, or share it with ``team`` (one of the actor's teams,
    else PermissionDenied). A second view of the same name for the same owner replaces the
    first's query."""
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise InvalidInput("a saved view needs a name", [FieldError("name", "1 to 80 characters")])
    if len(query) > 500:
        raise InvalidInput("too many filters", [FieldError("query", "at most 500 characters")])
    if team is not None and agent_team_for(actor, prefer=team) != team:
        raise PermissionDenied(f"you are not in {team.name}")
    owner = None if team is not None else actor
    view, _ = SavedView.objects.update_or_create(
        name=name,
        owner=owner,
        team=team,
        defaults={"query": query},
        create_defaults={"query": query, "created_by": actor, "created_at": now},
    )
    return view


@transaction.atomic
def saved_view_delete(*, view: SavedView, actor: Any) -> None:
    """Delete a saved view: the owner's own, or one shared with a team the actor is in."""
    if view.owner_id is not None and view.owner_id != actor.pk:
        raise PermissionDenied("this is someone else's view")
    if view.team_id is not None and agent_team_for(actor, prefer=view.team) != view.team:
        raise PermissionDenied(f"you are not in {view.team}")
    view.delete()

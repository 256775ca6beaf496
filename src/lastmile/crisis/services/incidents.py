"""Public incident notes of an alert (``/status/<slug>``): written, updated, published and
withdrawn by the alert's team, every step in the note's audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput, PermissionDenied
from lastmile.core.events import event_emit
from lastmile.crisis.models import (
    Alert,
    IncidentAction,
    IncidentAudit,
    IncidentNote,
    IncidentUpdate,
)
from lastmile.crisis.services.alerts import actor_id
from lastmile.people.models import Role, Team
from lastmile.people.selectors import agent_for
from lastmile.people.viewers import Actor

NOTE_BODY_MAX = 2000
NEXT_UPDATE_MAX = timedelta(days=7)


def can_publish(user: Actor, team: Team) -> bool:
    """A team's public statements are published by its lead or an admin.

    Lead: the team's ``lead``, or an agent with the lead role in the team. Admin: an agent
    with the admin role, or a Django superuser.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False) or team.lead_id == user.pk:
        return True
    agent = agent_for(user)
    if agent is None:
        return False
    if agent.role == Role.ADMIN:
        return True
    return agent.role == Role.LEAD and agent.teams.filter(pk=team.pk).exists()


def _audit(note: IncidentNote, action: str, actor: Actor, now: datetime, **data: Any) -> None:
    update = data.pop("update", None)
    IncidentAudit.objects.create(
        note=note, update=update, action=action, actor=actor, at=now, data=data
    )


def incident_note_create(
    *,
    alert: Alert,
    title: str,
    actor: Actor,
    now: datetime,
    slug: str = "",
    brand: str = "",
) -> IncidentNote:
    """Start a (not yet public) note for an alert; the slug is made from the title if blank."""
    title = (title or "").strip()
    if not title:
        raise InvalidInput("a note needs a title", [FieldError("title", "required")])
    team = alert.team
    if team is None:
        raise Conflict("this alert has no team to own a public note", code=ErrorCode.NO_TEAM)
    wanted = (slug or "").strip()
    slug = slugify(wanted or title)[:60].strip("-")
    if not slug:
        raise InvalidInput(
            "the slug needs letters or digits", [FieldError("slug", "letters, digits, hyphens")]
        )
    if wanted and slug != wanted.lower():
        raise InvalidInput(
            "the slug may only hold letters, digits and hyphens",
            [FieldError("slug", f"try {slug!r}")],
        )
    with transaction.atomic():
        if not wanted:
            base, n = slug, 2
            while IncidentNote.objects.filter(slug=slug).exists():
                slug = f"{base[:55]}-{n}"
                n += 1
        elif IncidentNote.objects.filter(slug=slug).exists():
            raise Conflict(
                f"/status/{slug} is taken",
                code=ErrorCode.DUPLICATE,
                errors=[FieldError("slug", "taken")],
            )
        note = IncidentNote.objects.create(
            slug=slug,
            title=title[:200],
            brand=(brand or "").strip()[:100],
            team=team,
            alert=alert,
            created_by=actor,
            created_at=now,
        )
        _audit(note, IncidentAction.CREATED, actor, now, title=note.title, slug=note.slug)
    return note


def incident_update_post(
    *,
    note: IncidentNote,
    body: str,
    actor: Actor,
    now: datetime,
    next_update_at: datetime | None = None,
    publish: bool = False,
) -> IncidentUpdate:
    """Write an update; with ``publish`` it goes on the public page at once (lead or admin)."""
    body = (body or "").strip()
    errors = []
    if not body:
        errors.append(FieldError("body", "required"))
    elif len(body) > NOTE_BODY_MAX:
        errors.append(FieldError("body", f"at most {NOTE_BODY_MAX} characters"))
    if next_update_at is not None and not now < next_update_at <= now + NEXT_UPDATE_MAX:
        errors.append(FieldError("next_update_at", "in the future, at most 7 days ahead"))
    if errors:
        raise InvalidInput(errors[0].reason if len(errors) == 1 else "check the update", errors)
    if publish and not can_publish(actor, note.team):
        raise PermissionDenied(f"only a lead of {note.team.name} or an admin may publish")
    with transaction.atomic():
        update = IncidentUpdate.objects.create(
            note=note, body=body, next_update_at=next_update_at, author=actor, created_at=now
        )
        _audit(note, IncidentAction.WROTE, actor, now, update=update, body=body)
        if publish:
            _publish(update, actor=actor, now=now)
    return update


def incident_update_publish(
    *, update: IncidentUpdate, actor: Actor, now: datetime
) -> IncidentUpdate:
    """Put a draft update on the public page (lead or admin of the note's team)."""
    note = update.note
    if not can_publish(actor, note.team):
        raise PermissionDenied(f"only a lead of {note.team.name} or an admin may publish")
    with transaction.atomic():
        fresh = IncidentUpdate.objects.select_for_update().get(pk=update.pk)
        if fresh.published_at is not None:
            raise Conflict("this update is already published", code=ErrorCode.ALREADY_PUBLISHED)
        _publish(fresh, actor=actor, now=now)
    return fresh


def _publish(update: IncidentUpdate, *, actor: Actor, now: datetime) -> None:
    update.published_at = now
    update.published_by = actor
    update.save(update_fields=["published_at", "published_by"])
    note = update.note
    was_public = note.published
    if not was_public:
        IncidentNote.objects.filter(pk=note.pk).update(published=True)
        note.published = True
    _audit(
        note,
        IncidentAction.PUBLISHED,
        actor,
        now,
        update=update,
        body=update.body,
        next_update_at=update.next_update_at.isoformat() if update.next_update_at else None,
        page_was_public=was_public,
    )
    event_emit(
        "incident.published",
        {"note": note.pk, "slug": note.slug, "update": update.pk, "actor": actor_id(actor)},
        at=now,
    )


def incident_note_unpublish(
    *, note: IncidentNote, actor: Actor, reason: str, now: datetime
) -> None:
    """Take the public page down (it answers 404 again); lead or admin, with a reason."""
    if not can_publish(actor, note.team):
        raise PermissionDenied(f"only a lead of {note.team.name} or an admin may withdraw it")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why the page is withdrawn", [FieldError("reason", "required")])
    with transaction.atomic():
        changed = IncidentNote.objects.filter(pk=note.pk, published=True).update(published=False)
        if not changed:
            raise Conflict("the page is not public", code=ErrorCode.NOT_PUBLISHED)
        note.published = False
        _audit(note, IncidentAction.UNPUBLISHED, actor, now, reason=reason[:400])

"""The audit of configuration changes: one row per change, in the change's transaction.

Every configuration service (SLA policies, business hours, contact rules, agent role and
authority, case team and assignee, token revocation) writes through :func:`audit_record`, or
saves through :func:`audited_save` / deletes through :func:`audited_delete`, which snapshot the
row as stored before and after; a key or token is revoked through :func:`audited_revoke`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import models, transaction

from lastmile.core.models import AuditEntry

if TYPE_CHECKING:
    # The actor of a write (``lastmile.people.viewers.Actor``: a user, or None for the
    # system); spelt out here because core sits below people.
    from django.contrib.auth.models import User

Action = AuditEntry.Action


def json_safe(value: Any) -> Any:
    """``value`` as JSON: datetimes, dates and times in ISO 8601, durations in seconds,
    Decimals and UUIDs as strings, lists and dicts element by element."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The instance's concrete fields as JSON-safe values; a foreign key as its id, under the
    field's name (``team``, not ``team_id``). ``fields`` limits the snapshot to those names."""
    wanted = set(fields) if fields is not None else None
    out: dict[str, Any] = {}
    for f in obj._meta.concrete_fields:
        if f.primary_key or (wanted is not None and f.name not in wanted):
            continue
        out[f.name] = json_safe(getattr(obj, f.attname))
    return out


def changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value differs, from each side."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    keys += [k for k in before if k not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def object_type(obj: models.Model) -> str:
    return f"{obj._meta.app_label}.{obj._meta.model_name}"


def audit_record(
    *,
    actor: User | None,
    now: dt.datetime,
    obj: models.Model,
    action: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEntry:
    """Write one audit row for ``actor`` changing ``obj``; call it inside the change's
    transaction, so the row exists exactly when the change does.

    ``actor`` is a user or None (then ``actor_label`` says who: ``cli``, ``system``). For
    ``changed`` pass only the changed fields (see :func:`changes`).
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None  # an anonymous user is nobody; the label says who
    return AuditEntry.objects.create(
        actor=actor,
        actor_label=actor_label if actor is None else "",
        at=now,
        object_type=object_type(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action=action,
        before=json_safe(before or {}),
        after=json_safe(after or {}),
    )


def audited_revoke(
    obj: models.Model, *, actor: User | None, now: dt.datetime, actor_label: str = ""
) -> dt.datetime:
    """Revoke ``obj`` (a row with a ``revoked_at`` column) from ``now`` on, with its audit row;
    the time it is revoked from, which ``obj`` is given too.

    The row is locked and read again, so of two revocations at once one revokes and the other
    finds it done: a revoked row stays revoked at its first time, with one audit row.
    """
    with transaction.atomic():
        row = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        if row.revoked_at is None:  # type: ignore[attr-defined]
            row.revoked_at = now  # type: ignore[attr-defined]
            row.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor,
                now=now,
                obj=row,
                action=Action.REVOKED,
                before={"revoked_at": None},
                after={"revoked_at": now},
                actor_label=actor_label,
            )
    obj.revoked_at = row.revoked_at  # type: ignore[attr-defined]
    return row.revoked_at  # type: ignore[attr-defined,no-any-return]


def audited_save(
    obj: models.Model,
    *,
    actor: User | None,
    now: dt.datetime,
    actor_label: str = "",
    fields: Iterable[str] | None = None,
) -> AuditEntry | None:
    """Save ``obj`` and write its audit row in one transaction.

    1. A new object (no pk, or none stored) is ``created``, with every field as ``after``.
    2. A stored one is read again under a row lock: its stored fields are ``before``; only
       the fields that differ go into the row, and nothing is written when none differs
       (a save that changes nothing is not a change). ``fields`` limits what is saved.
    """
    model = type(obj)
    names = list(fields) if fields is not None else None
    with transaction.atomic():
        stored = (
            model._default_manager.select_for_update().filter(pk=obj.pk).first()
            if obj.pk is not None
            else None
        )
        if stored is None:
            obj.save(force_insert=obj.pk is not None)
            return audit_record(
                actor=actor,
                now=now,
                obj=obj,
                action=Action.CREATED,
                before={},
                after=snapshot(obj),
                actor_label=actor_label,
            )
        before, after = changes(snapshot(stored, names), snapshot(obj, names))
        if not after:
            return None
        obj.save(update_fields=list(after))
        return audit_record(
            actor=actor,
            now=now,
            obj=obj,
            action=Action.CHANGED,
            before=before,
            after=after,
            actor_label=actor_label,
        )


def audited_delete(
    obj: models.Model, *, actor: User | None, now: dt.datetime, actor_label: str = ""
) -> AuditEntry:
    """Delete ``obj`` and write its audit row (every field as ``before``) in one transaction."""
    with transaction.atomic():
        before = snapshot(obj)
        pk = obj.pk
        obj.delete()
        obj.pk = pk  # the row names what was deleted
        return audit_record(
            actor=actor,
            now=now,
            obj=obj,
            action=Action.DELETED,
            before=before,
            after={},
            actor_label=actor_label,
        )

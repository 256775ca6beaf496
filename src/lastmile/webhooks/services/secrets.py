"""Signing secrets of integrations and subscriptions, rotated the same way for both."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from lastmile.core.audit import Action as AuditAction
from lastmile.core.audit import audit_record
from lastmile.people.viewers import Actor
from lastmile.webhooks.models import Integration, Subscription
from lastmile.webhooks.signing import secret_generate, secret_prefix


def secret_rotate(
    *, owner: Integration | Subscription, actor: Actor, now: datetime, actor_label: str = ""
) -> str:
    """A new signing secret for ``owner`` (returned this once); the old one stops working.

    1. Lock the row, so two rotations at once each write their own secret and audit row.
    2. Save the new secret and its prefix, and write the audit row in the same transaction:
       it names the old and the new secret by their prefixes, never the secrets.
    """
    secret = secret_generate()
    with transaction.atomic():
        row = type(owner)._default_manager.select_for_update().get(pk=owner.pk)
        before = row.secret_prefix
        row.secret, row.secret_prefix = secret, secret_prefix(secret)
        row.save(update_fields=["secret", "secret_prefix"])
        audit_record(
            actor=actor,
            now=now,
            obj=row,
            action=AuditAction.CHANGED,
            before={"secret_prefix": before},
            after={"secret_prefix": row.secret_prefix},
            actor_label=actor_label,
        )
    owner.secret, owner.secret_prefix = row.secret, row.secret_prefix
    return secret

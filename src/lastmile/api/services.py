from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from lastmile.api.models import ApiToken, TokenFailureCount
from lastmile.core.audit import audited_revoke
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.ids import token_generate, token_hash
from lastmile.people.viewers import Actor


def token_create(*, name: str, now: datetime, agent: Any = None) -> tuple[ApiToken, str]:
    """A new token for an integration; the secret is returned once and stored only hashed."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("a token needs a name", [FieldError("name", "must not be empty")])
    if ApiToken.objects.filter(name=name).exists():
        raise InvalidInput(f"a token called {name!r} exists", [FieldError("name", "already taken")])
    secret = token_generate()
    row = ApiToken.objects.create(
        name=name, token_hash=token_hash(secret), prefix=secret[:10], created_at=now, agent=agent
    )
    return row, secret


def token_revoke(
    *, token: ApiToken, actor: Actor, now: datetime, actor_label: str = ""
) -> ApiToken:
    """Revoke ``token`` from ``now`` on, once, with its audit row (``audited_revoke``)."""
    audited_revoke(token, actor=actor, now=now, actor_label=actor_label)
    return token


def token_failure_record(*, address: str, now: datetime) -> int:
    """Count one unknown token from ``address``; return the count for this clock minute.

    1. Add one to this minute's row (a conditional UPDATE, so concurrent workers add up).
    2. No row yet: create it; a worker that loses that race adds to the winner's row.
    3. The first failure of a minute also deletes the rows of earlier minutes.
    """
    minute = now.replace(second=0, microsecond=0)
    rows = TokenFailureCount.objects.filter(address=address, minute=minute)
    with transaction.atomic():
        if not rows.update(failures=F("failures") + 1):
            try:
                with transaction.atomic():
                    TokenFailureCount.objects.create(address=address, minute=minute, failures=1)
            except IntegrityError:
                rows.update(failures=F("failures") + 1)
            else:
                TokenFailureCount.objects.filter(minute__lt=minute).delete()
                return 1
        return rows.values_list("failures", flat=True).get()

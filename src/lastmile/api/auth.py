from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from lastmile.api.models import ApiToken
from lastmile.core.clock import utcnow
from lastmile.core.ids import token_hash


class TokenAuth(HttpBearer):
    """Bearer tokens per integration, looked up by their SHA-256.

    A token bound to an agent acts as that agent (``request.viewer``), seeing only their
    teams' work, and only while that user is active; an integration token has no viewer
    and sees everything.
    """

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        row = (
            ApiToken.objects.select_related("agent__user")
            .filter(token_hash=token_hash(token), revoked_at__isnull=True)
            .first()
        )
        if row is None:
            return None
        if row.agent_id and not row.agent.user.is_active:
            # A deactivated agent's tokens stop at once: the token speaks for that person.
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.viewer = row.agent.user if row.agent_id else None  # type: ignore[attr-defined]
        return row

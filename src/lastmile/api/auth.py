from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja.security import HttpBearer

from lastmile.api.models import ApiToken
from lastmile.api.services import token_failure_record
from lastmile.core.clientip import client_address
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode, FieldError
from lastmile.core.ids import token_hash
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check


class TooManyTokenFailures(DomainError):
    """Too many unknown tokens from one address this minute: 429, retry when it ends."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            detail=(
                "too many requests with an unknown token from this address; "
                f"try again in {retry_after} s"
            ),
            errors=[FieldError("Authorization", "unknown token, too many times this minute")],
            code=ErrorCode.TOO_MANY_AUTH_FAILURES,
            status=429,
        )
        self.retry_after = retry_after


def on_too_many_token_failures(request: HttpRequest, exc: TooManyTokenFailures) -> HttpResponse:
    """The API's error body, with when to try again (registered in ``ApiConfig.ready``)."""
    response = HttpResponse(json.dumps(exc.as_dict()), status=429, content_type="application/json")
    response["Retry-After"] = str(exc.retry_after)
    return response


class TokenAuth(HttpBearer):
    """Bearer tokens per integration, looked up by their SHA-256.

    A token bound to an agent acts as that agent (``viewer_of(request)``), seeing only
    their teams' work, and only while that user is active; an integration token reads as
    ``SYSTEM``, which sees everything, and writes with no person as the actor.
    """

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        row = (
            ApiToken.objects.select_related("agent__user")
            .filter(token_hash=token_hash(token), revoked_at__isnull=True)
            .first()
        )
        now = utcnow()
        if row is None:
            self._count_failure(request, now)
            return None
        if row.agent_id and not row.agent.user.is_active:
            # A deactivated agent's tokens stop at once: the token speaks for that person.
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
        request.viewer = row.agent.user if row.agent_id else SYSTEM  # type: ignore[attr-defined]
        return row

    def _count_failure(self, request: HttpRequest, now: datetime) -> None:
        """Past the limit, an unknown token gets 429 until the minute ends, not 401.

        Only failures are counted: a valid token costs its one lookup, from any address.
        """
        address = client_address(request) or "unknown"
        failures = token_failure_record(address=address, now=now)
        if failures > settings.LASTMILE_TOKEN_FAILURE_LIMIT:
            raise TooManyTokenFailures(retry_after=60 - now.second)


def viewer_of(request: HttpRequest) -> Viewer:
    """Whom an authenticated API request reads for: the token's agent, or ``SYSTEM`` for an
    integration token (``TokenAuth`` decided it)."""
    return viewer_check(getattr(request, "viewer", None))

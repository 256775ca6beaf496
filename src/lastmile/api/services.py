from __future__ import annotations

from datetime import datetime
from typing import Any

from lastmile.api.models import ApiToken
from lastmile.core.errors import FieldError, InvalidInput
from lastmile.core.ids import token_generate, token_hash


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


def token_revoke(*, token: ApiToken, now: datetime) -> ApiToken:
    token.revoked_at = now
    token.save(update_fields=["revoked_at"])
    return token

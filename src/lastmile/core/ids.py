"""Human references and secret tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction
from django.db.models import F

from lastmile.core.models import Counter


def counter_next(name: str, *, start: int = 1000) -> int:
    """The next value of a named counter; portable (SQLite and PostgreSQL), race-free.

    The conditional UPDATE takes the row lock, so two transactions never get the same number.
    """
    with transaction.atomic():
        updated = Counter.objects.filter(name=name).update(value=F("value") + 1)
        if not updated:
            Counter.objects.get_or_create(name=name, defaults={"value": start})
            Counter.objects.filter(name=name).update(value=F("value") + 1)
        return Counter.objects.values_list("value", flat=True).get(name=name)


def counter_reserve(name: str, count: int, *, start: int = 1000) -> range:
    """Reserve ``count`` consecutive values at once (bulk imports, the demo seed)."""
    with transaction.atomic():
        Counter.objects.get_or_create(name=name, defaults={"value": start})
        Counter.objects.filter(name=name).update(value=F("value") + count)
        last = Counter.objects.values_list("value", flat=True).get(name=name)
    return range(last - count + 1, last + 1)


def token_generate(prefix: str = "lm") -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

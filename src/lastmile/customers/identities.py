"""Normalising identities at the edge: one spelling per email, phone and handle."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from lastmile.customers.models import IdentityKind


class IdentityKey(NamedTuple):
    """An identity in its stored form. A tuple: hashed and compared in C, as ingest looks up
    thousands of them per batch."""

    kind: str
    network: str
    value: str

    def as_dict(self) -> dict[str, str]:
        d = {"kind": self.kind, "value": self.value}
        if self.network:
            d["network"] = self.network
        return d


class IdentityError(ValueError):
    """``field`` is the part of the identity that is wrong (kind, network or value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def identity_normalize(kind: str, value: str, network: str = "") -> IdentityKey:
    """The stored form of an identity, or ``IdentityError`` saying what is wrong."""
    region = settings.LASTMILE_DEFAULT_REGION
    if isinstance(kind, str) and isinstance(value, str) and isinstance(network, str):
        return _normalize(kind, value, network, region)
    return _normalize.__wrapped__(kind, value, network, region)  # e.g. None: not cached


# Ingest sees the same identities again and again (every event of a user); validating an
# email address or parsing a phone number costs more than the rest of the item. A pure
# function of its arguments (the region included), so a cache cannot go stale; errors are
# raised, not cached.
@lru_cache(maxsize=65_536)
def _normalize(kind: str, value: str, network: str, region: str) -> IdentityKey:
    if kind not in IdentityKind.values:
        raise IdentityError(
            "kind", f"unknown identity kind {kind!r}; one of {', '.join(IdentityKind.values)}"
        )
    value = (value or "").strip()
    network = (network or "").strip().lower()
    if not value:
        raise IdentityError("value", "must not be empty")
    if len(value) > 320:
        raise IdentityError("value", "longer than 320 characters")
    if kind == IdentityKind.EMAIL:
        try:
            validate_email(value)
        except ValidationError:
            raise IdentityError("value", f"{value!r} is not an email address") from None
        return IdentityKey(kind, "", value.lower())
    if kind == IdentityKind.PHONE:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException as exc:
            raise IdentityError("value", f"{value!r} is not a phone number: {exc}") from None
        if not phonenumbers.is_valid_number(number):
            raise IdentityError("value", f"{value!r} is not a valid phone number")
        return IdentityKey(
            kind, "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        )
    if kind == IdentityKind.SOCIAL:
        if not network:
            raise IdentityError("network", "a social handle needs its network, e.g. twitter")
        return IdentityKey(kind, network, value.lstrip("@").lower())
    if kind == IdentityKind.EXTERNAL:
        return IdentityKey(kind, network, value)
    return IdentityKey(kind, "", value)

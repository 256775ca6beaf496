"""Customer details masked out of a conversation, so a lesson or a practice case can show
the words without the person.

:func:`mask_text` replaces what identifies someone in any text: links that carry a token,
e-mail addresses, IBAN-like account numbers, card numbers (13-19 digits that pass the Luhn
check), phone numbers (``phonenumbers``' matcher in the GB and US plans, and anything in
+E.164 form) and the names it is given, each with a placeholder: ``[link]``, ``[email]``,
``[iban]``, ``[card]``, ``[phone]``, ``[name]``.

:func:`masked_conversation` is a case's conversation, oldest first, each message masked
with the customer's own names, addresses, numbers and handles besides the patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import phonenumbers

from lastmile.customers.models import Direction, IdentityKind, Interaction

Author = Literal["customer", "agent", "note"]

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
IBAN = "[iban]"
LINK = "[link]"
NAME = "[name]"
ID = "[id]"

PHONE_REGIONS = ("GB", "US")

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# A path segment or query value that looks like a secret: long, mixing letters and digits.
_TOKENISH = re.compile(r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}")
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?:\.[A-Za-z0-9-]+)?"
)
# Two letters, two check digits, then 11-30 letters or digits, written in groups of four or
# run together: the shape of every country's IBAN (Norway's 15 characters to Malta's 31).
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_CARD = re.compile(r"(?<![\d])\d(?:[ -]?\d){12,18}(?![\d])")
_E164 = re.compile(r"\+[1-9]\d{6,14}(?!\d)")


@dataclass(frozen=True)
class MaskedMessage:
    """One message of a masked conversation."""

    at: datetime
    author: Author
    text: str

    def as_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "author": self.author, "text": self.text}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaskedMessage:
        return cls(at=datetime.fromisoformat(data["at"]), author=data["author"], text=data["text"])


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` (only digits) pass the Luhn check that card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _mask_url(match: re.Match[str]) -> str:
    url = match.group(0)
    if "?" in url or "#" in url or "@" in url or _TOKENISH.search(url):
        return LINK
    return url


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def _mask_phones(text: str) -> str:
    for region in PHONE_REGIONS:
        spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region)]
        for start, end in reversed(spans):
            text = text[:start] + PHONE + text[end:]
    return _E164.sub(PHONE, text)


def _names_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({n.strip() for n in names if n and n.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def mask_text(text: str, *, names: Iterable[str] = ()) -> str:
    """``text`` with links carrying tokens, e-mail addresses, IBANs, card numbers, phone
    numbers and ``names`` (whole words, any case) replaced by placeholders."""
    text = _URL.sub(_mask_url, text)
    text = _EMAIL.sub(EMAIL, text)
    text = _IBAN.sub(IBAN, text)
    text = _CARD.sub(_mask_card, text)
    text = _mask_phones(text)
    pattern = _names_pattern(names)
    if pattern is not None:
        text = pattern.sub(NAME, text)
    return text


def _phone_forms(e164: str) -> list[str]:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return [e164]
    formats = (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    )
    return [e164, *(phonenumbers.format_number(number, f) for f in formats)]


@dataclass(frozen=True)
class Known:
    """What a conversation's customers are known by: literal strings and their placeholders,
    and the names to mask as whole words."""

    literals: tuple[tuple[str, str], ...]
    names: tuple[str, ...]


def known_details(customer_ids: Iterable[int]) -> Known:
    """The names, e-mail addresses, phones, handles and external ids of ``customer_ids``."""
    from lastmile.customers.models import Customer, Identity

    ids = set(customer_ids)
    literals: list[tuple[str, str]] = []
    names: set[str] = set()
    for display_name in Customer.objects.filter(pk__in=ids).values_list("display_name", flat=True):
        if display_name:
            names.add(display_name)
            names.update(part for part in re.split(r"[\s,]+", display_name) if len(part) >= 2)
    for kind, value in Identity.objects.filter(customer_id__in=ids).values_list("kind", "value"):
        if not value:
            continue
        if kind == IdentityKind.EMAIL:
            literals.append((value, EMAIL))
        elif kind == IdentityKind.PHONE:
            literals.extend((form, PHONE) for form in _phone_forms(value))
        elif kind == IdentityKind.SOCIAL:
            names.add(value.lstrip("@"))
            names.add("@" + value.lstrip("@"))
        elif kind in (IdentityKind.EXTERNAL, IdentityKind.ANONYMOUS) and len(value) >= 4:
            literals.append((value, ID))
    literals.sort(key=lambda pair: len(pair[0]), reverse=True)
    return Known(literals=tuple(literals), names=tuple(sorted(names)))


def mask_known(text: str, known: Known) -> str:
    """``text`` masked with ``known``'s details first, then :func:`mask_text`'s patterns."""
    for literal, placeholder in known.literals:
        text = re.sub(re.escape(literal), placeholder, text, flags=re.IGNORECASE)
    return mask_text(text, names=known.names)


def _author(direction: str) -> Author:
    if direction == Direction.INBOUND:
        return "customer"
    if direction == Direction.OUTBOUND:
        return "agent"
    return "note"


def masked_conversation(case: Any) -> list[MaskedMessage]:
    """The interactions on ``case``, oldest first, with the customer's details masked:
    their names, addresses, phones, handles and ids, and every pattern :func:`mask_text`
    knows. Messages without words (events) are left out."""
    rows = list(
        Interaction.objects.filter(case_id=case.pk)
        .exclude(body="")
        .order_by("occurred_at", "id")
        .only("occurred_at", "direction", "body", "customer_id")
    )
    known = known_details({case.customer_id, *(r.customer_id for r in rows)})
    return [
        MaskedMessage(at=r.occurred_at, author=_author(r.direction), text=mask_known(r.body, known))
        for r in rows
    ]

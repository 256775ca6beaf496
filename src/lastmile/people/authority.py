"""An agent's authority: which blocking policies they may override, and up to what.

Stored as JSON on ``Agent.authority``, in one shape::

    {"limits": {"refund_amount": 5000}, "overrides": ["late-checkout"]}

- ``limits``: for a term of a promise, the highest value this agent may promise past a
  blocking policy that names that term as its authority term (``refund_amount`` up to 5000).
- ``overrides``: keys of blocking policies this agent may override whatever the terms.

Pure functions, no ORM: the promises app asks :func:`authority_allows` when a promise needs
an override, the admin and the services validate with :func:`authority_validate`.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from lastmile.core.errors import FieldError, InvalidInput

TERM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
POLICY_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EXAMPLE = '{"limits": {"refund_amount": 5000}, "overrides": ["late-checkout"]}'


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))


def authority_validate(data: Any) -> dict[str, Any]:
    """The authority as stored, checked; InvalidInput names the bad part.

    An empty value (``{}`` or None) means no authority at all.
    """
    if data in (None, "", {}):
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(
            "authority must be an object", [FieldError("authority", f"e.g. {EXAMPLE}")]
        )
    unknown = sorted(set(data) - {"limits", "overrides"})
    if unknown:
        raise InvalidInput(
            f"unknown authority key {unknown[0]!r}",
            [FieldError(f"authority.{unknown[0]}", "only 'limits' and 'overrides'")],
        )
    limits = data.get("limits", {})
    if not isinstance(limits, dict):
        raise InvalidInput(
            "authority limits must be an object",
            [FieldError("authority.limits", 'e.g. {"refund_amount": 5000}')],
        )
    for term, limit in limits.items():
        if not TERM_KEY.match(str(term)):
            raise InvalidInput(
                f"bad term name {term!r}",
                [FieldError(f"authority.limits.{term}", "letters, digits and _, 64 at most")],
            )
        if not _is_number(limit) or limit < 0:
            raise InvalidInput(
                f"limit for {term} must be a number",
                [FieldError(f"authority.limits.{term}", "a number, 0 or more")],
            )
    overrides = data.get("overrides", [])
    if not isinstance(overrides, list) or not all(
        isinstance(k, str) and POLICY_KEY.match(k) for k in overrides
    ):
        raise InvalidInput(
            "authority overrides must be a list of policy keys",
            [FieldError("authority.overrides", 'e.g. ["late-checkout"]')],
        )
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = dict(limits)
    if overrides:
        out["overrides"] = sorted(set(overrides))
    return out


def authority_allows(
    authority: dict[str, Any] | None,
    *,
    policy_key: str,
    term: str = "",
    terms: dict[str, Any] | None = None,
) -> bool:
    """Whether this authority may override the blocking policy ``policy_key``.

    Yes if the policy is listed in ``overrides``; else yes if the policy names an authority
    ``term``, the promise has a numeric value for it, and the agent's limit for that term is
    at least that value. Anything missing or malformed is a no.
    """
    if not authority or not isinstance(authority, dict):
        return False
    overrides = authority.get("overrides") or []
    if isinstance(overrides, list) and policy_key in overrides:
        return True
    if not term or not terms or term not in terms:
        return False
    limits = authority.get("limits") or {}
    if not isinstance(limits, dict) or term not in limits:
        return False
    value, limit = terms[term], limits[term]
    if not _is_number(value) or not _is_number(limit):
        return False
    return Decimal(str(value)) <= Decimal(str(limit))


def authority_words(authority: dict[str, Any] | None) -> str:
    """ "refund_amount up to 5000; overrides late-checkout" — for pages; "none" when empty."""
    if not authority:
        return "none"
    parts = [f"{t} up to {v:g}" for t, v in sorted((authority.get("limits") or {}).items())]
    if authority.get("overrides"):
        parts.append("overrides " + ", ".join(authority["overrides"]))
    return "; ".join(parts) or "none"

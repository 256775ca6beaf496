"""Does one stored Segment message match a funnel step? Pure functions, no ORM.

The same rules as the engines (``lastmile.funnels.definitions``'s docstring): a track call
by its ``event``, a page or screen call by its ``name``, and every property filter with
JSON types (a string equals only a string, ``gt``/``lt`` compare numbers, ``contains`` is
a case-insensitive substring of a string, ``is_set`` is present and not null,
``not_equals`` matches a missing property). Recovery asks it of one person's few events
(the abandon event, the completing one), where the engine answers for everyone.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lastmile.funnels.definitions import Matcher, PropertyFilter

FUNNEL_TYPES = ("track", "page", "screen")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality with JSON types: a boolean is never a number, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _number(a) and _number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def filter_matches(f: PropertyFilter, props: dict[str, Any]) -> bool:
    present = f.property in props
    v = props.get(f.property)
    if f.op == "is_set":
        return present and v is not None
    if f.op == "equals":
        return present and _same(v, f.value)
    if f.op == "not_equals":
        return not (present and _same(v, f.value))
    if f.op == "contains":
        return isinstance(v, str) and str(f.value).lower() in v.lower()
    if f.op in ("gt", "lt"):
        if not _number(v):
            return False
        return bool(v > f.value) if f.op == "gt" else bool(v < f.value)  # type: ignore[operator]
    return False


def event_matches(m: Matcher, data: Any) -> bool:
    """Whether the stored message ``data`` (a Segment message as a dict) matches ``m``."""
    if not isinstance(data, dict) or data.get("type") not in FUNNEL_TYPES:
        return False
    kind = data["type"]
    if kind != m.kind:
        return False
    name = data.get("event") if kind == "track" else data.get("name")
    if name != m.name:
        return False
    props = data.get("properties")
    props = props if isinstance(props, dict) else {}
    return all(filter_matches(f, props) for f in m.where)


def properties(data: Any) -> dict[str, Any]:
    props = data.get("properties") if isinstance(data, dict) else None
    return props if isinstance(props, dict) else {}


def money(v: Any) -> Decimal | None:
    """A JSON amount as a Decimal (its text, so 19.99 stays 19.99); None when it is not a
    finite number or numeric text."""
    if isinstance(v, bool) or v is None:
        return None
    if not isinstance(v, int | float | str):
        return None
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        return None
    if not d.is_finite() or abs(d) >= Decimal(10) ** 14:
        return None
    return d.quantize(Decimal("0.0001"))


def currency(v: Any) -> str:
    """An ISO 4217 code as the event gave it, upper-cased; "" when it is not one."""
    return v.strip().upper() if isinstance(v, str) and len(v.strip()) == 3 else ""


def items(v: Any) -> list[Any]:
    """The ``items`` (or ``products``) list, as given, at most 50 entries."""
    return v[:50] if isinstance(v, list) else []

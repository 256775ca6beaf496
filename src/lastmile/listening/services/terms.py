"""Watch terms: the queries a mention is matched against, and the brands they name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.listening.models import WatchTerm, WatchTermKind
from lastmile.listening.query import Matcher, QueryError, parse
from lastmile.listening.records import RowError, handle_normalize


def _term_fields(
    *, name: str, query: str, kind: str, brand_handle: str
) -> tuple[str, str, str, str]:
    errors: list[FieldError] = []
    name = (name or "").strip()
    if not name:
        errors.append(FieldError("name", "must not be empty"))
    elif len(name) > 100:
        errors.append(FieldError("name", "at most 100 characters"))
    if kind not in WatchTermKind.values:
        errors.append(FieldError("kind", f"one of {', '.join(WatchTermKind.values)}"))
    try:
        parse(query)
    except QueryError as exc:
        errors.append(FieldError("query", str(exc)))
    handle = ""
    if brand_handle:
        try:
            handle_normalize(brand_handle, "brand_handle")  # checked; stored as written
            handle = "@" + brand_handle.strip().lstrip("@")
        except RowError as exc:
            errors.append(FieldError(exc.field, exc.reason))
    if errors:
        raise InvalidInput(errors[0].reason, errors)
    return name, query.strip(), kind, handle


def watchterm_create(
    *,
    name: str,
    query: str,
    kind: str,
    now: datetime,
    brand_handle: str = "",
    team: Any = None,
    active: bool = True,
) -> WatchTerm:
    """A new watch term; its query must parse (InvalidInput says where it does not)."""
    name, query, kind, handle = _term_fields(
        name=name, query=query, kind=kind, brand_handle=brand_handle
    )
    if WatchTerm.objects.filter(name=name).exists():
        raise Conflict(f"a watch term named {name!r} exists", code=ErrorCode.WATCHTERM_EXISTS)
    return WatchTerm.objects.create(
        name=name,
        query=query,
        kind=kind,
        brand_handle=handle,
        team=team,
        active=active,
        created_at=now,
    )


@dataclass
class Terms:
    """The active watch terms, parsed once for a batch."""

    matcher: Matcher
    by_id: dict[int, WatchTerm]
    brand_handles: dict[str, WatchTerm]  # normalised handle (no @) -> its brand term

    @classmethod
    def load(cls) -> Terms:
        rows = list(WatchTerm.objects.filter(active=True).select_related("team").order_by("name"))
        pairs = []
        for t in rows:
            try:
                parse(t.query)
            except QueryError:
                continue  # saved before a grammar change, say; skipped, not fatal
            pairs.append((t.pk, t.query))
        handles = {
            t.brand_handle.lstrip("@").casefold(): t
            for t in rows
            if t.kind == WatchTermKind.BRAND and t.brand_handle
        }
        return cls(Matcher.of(pairs), {t.pk: t for t in rows}, handles)


def brand_term_ensure(*, handle: str, now: datetime) -> tuple[WatchTerm, bool]:
    """The brand watch term for ``handle`` (``@handle`` as its query), created if missing."""
    normal = handle_normalize(handle, "brand")
    for term in WatchTerm.objects.filter(kind=WatchTermKind.BRAND).exclude(brand_handle=""):
        if term.brand_handle.lstrip("@").casefold() == normal:
            return term, False
    at = f"@{handle.strip().lstrip('@')}"
    name = at if not WatchTerm.objects.filter(name=at).exists() else f"{at} (brand)"
    term = watchterm_create(name=name, query=at, kind=WatchTermKind.BRAND, brand_handle=at, now=now)
    return term, True

"""Small presentation helpers for the console's templates (no queries, no rules)."""

from __future__ import annotations

from datetime import UTC, datetime

from django import template
from django.urls import reverse
from django.utils.html import format_html

from lastmile.console.forms import channel_label as _channel_label

register = template.Library()

SLA_LABELS = {
    "breached": "Breached",
    "at_risk": "At risk",
    "ok": "On track",
    "paused": "Paused",
    "none": "No deadline",
    "closed": "Closed",
    "cancelled": "Cancelled",
    "broken": "Broken",
}


def span_words(seconds: int) -> str:
    """The two largest units of a span: "2 days 3 h", "1 h 12 min", "12 min 5 s", "40 s".

    console.js writes the same words every second; keep the two in step.
    """
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [f"{days} day{'s' if days != 1 else ''}", f"{hours} h" if hours else ""]
    elif hours:
        parts = [f"{hours} h", f"{minutes} min" if minutes else ""]
    elif minutes:
        parts = [f"{minutes} min", f"{secs} s" if secs else ""]
    else:
        parts = [f"{secs} s"]
    return " ".join(p for p in parts if p)


def countdown_words(due: datetime, now: datetime) -> str:
    seconds = int((due - now).total_seconds())
    if seconds > 0:
        return f"in {span_words(seconds)}"
    if seconds == 0:
        return "due now"
    return f"overdue {span_words(-seconds)}"


@register.simple_tag
def countdown(due: datetime | None, now: datetime) -> str:
    """A live countdown element; console.js updates it every second from ``data-due``."""
    if due is None:
        return ""
    overdue = " is-overdue" if due <= now else ""
    return format_html(
        '<span class="countdown{}" data-due="{}">{}</span>',
        overdue,
        due.astimezone(UTC).isoformat(),
        countdown_words(due, now),
    )


@register.filter
def iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


@register.filter
def channel_label(value: str) -> str:
    return _channel_label(value or "")


@register.filter
def sla_label(value: str) -> str:
    return SLA_LABELS.get(value, value.replace("_", " ").capitalize())


@register.filter
def person(user: object) -> str:
    """A user's full name, else their username; "—" for nobody."""
    if user is None:
        return "—"
    full = getattr(user, "get_full_name", lambda: "")()
    return full or getattr(user, "username", "") or "—"


@register.simple_tag
def hxpost(url_name: str, *args: object) -> str:
    """The attributes of an action form: a plain POST that htmx upgrades in place.

    Without JavaScript the form posts and the server redirects back; with htmx the answer
    (after the redirect, or the page re-rendered with an error) replaces ``#page-body``.
    """
    url = reverse(url_name, args=args)
    return format_html(
        'method="post" action="{0}" hx-post="{0}" hx-target="#page-body" hx-select="#page-body" '
        'hx-swap="outerHTML"',
        url,
    )

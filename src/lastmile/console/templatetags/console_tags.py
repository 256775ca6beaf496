"""Small presentation helpers for the console's templates (no queries, no rules)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat, linebreaksbr
from django.urls import reverse
from django.utils.dates import MONTHS_3, WEEKDAYS_ABBR
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.timezone import template_localtime  # type: ignore[attr-defined]
from django.utils.translation import get_language

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


@functools.lru_cache(maxsize=32)
def _date_names(language: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Weekday and month abbreviations as ``date``'s "D" and "M" write them, per language."""
    days = tuple(str(WEEKDAYS_ABBR[d]) for d in range(7))
    months = ("",) + tuple(MONTHS_3[m].title() for m in range(1, 13))
    return days, months


def _short(at: datetime, comma: str = ",") -> str:
    """``at|date:"D j M, H:i"`` ("Mon 7 Dec, 09:05") in the current time zone; ``comma=""``
    for "D j M H:i". Django's general formatter costs about 40 µs a call (it translates the
    names each time); a case page shows a hundred or more of these."""
    local = template_localtime(at)
    days, months = _date_names(get_language())
    return (
        f"{days[local.weekday()]} {local.day} {months[local.month]}{comma} "
        f"{local.hour:02d}:{local.minute:02d}"
    )


@register.filter(expects_localtime=True)
def when(value: datetime | None) -> str:
    """``value|date:"D j M, H:i"``, written without the general formatter (see ``_short``)."""
    return _short(value) if value else ""


@register.simple_tag
def loop_trail(loop: Any) -> SafeString:
    """A loop card's history, the ``<details>`` listing its events (prefetched with their
    actors). Written here, not in the card's template: a case page shows up to forty
    cards, and the trail's per-event template nodes were most of each card's time."""
    events = list(loop.events.all())
    items = format_html_join(
        "\n        ",
        '<li><time datetime="{}">{}</time> <strong>{}</strong>{}{}</li>',
        (
            (
                iso(ev.at),
                _short(ev.at),
                str(ev.get_kind_display()).lower(),
                format_html(" by {}", person(ev.actor)) if ev.actor_id else "",
                format_html(" — {}", ev.reason) if ev.reason else "",
            )
            for ev in events
        ),
    )
    n = len(events)
    return format_html(
        '<details class="trail">\n      <summary>History · {} event{}</summary>\n      <ol>\n'
        "        {}\n      </ol>\n    </details>",
        n,
        "" if n == 1 else "s",
        items,
    )


def _logged(i: Any) -> bool:
    """An outbound reply recorded in lastmile but given elsewhere (nothing was sent)."""
    return isinstance(i.data, dict) and i.data.get("delivery") == "logged"


def _message_files(files: list[Any]) -> SafeString:
    def one(f: Any) -> SafeString:
        if f.status == "stored":
            return format_html(
                '<a href="{}" download>📎 {}</a> <span class="muted small">{}</span>',
                reverse("mail:attachment", args=(f.pk,)),
                f.filename,
                filesizeformat(f.size),
            )
        return format_html(
            '<span class="refused" title="{}">📎 {} — not kept: {}</span>',
            f.reason,
            f.filename,
            f.reason,
        )

    return format_html(
        '\n          <ul class="msg-files" aria-label="Attachments">\n            {}\n'
        "          </ul>\n          ",
        format_html_join("", "<li>{}</li>", ((one(f),) for f in files)),
    )


_NOTE_BADGE = mark_safe('<span class="badge badge-note">Internal note</span>')
_LOGGED_BADGE = mark_safe(
    '<span class="badge msg-delivery" title="Recorded in lastmile; lastmile sent nothing">'
    "logged · not sent</span>"
)


@register.simple_tag
def message_item(i: Any, files: list[Any]) -> SafeString:
    """One message of a case's thread, as a list item. Written here rather than included
    once per message: fifty messages a page, and the included template's nodes were a
    tenth of the case page's time. ``files`` are the message's attachments, which the template
    asks mail's ``message_files`` for (the whole thread's in one query; console sits below mail).
    """
    if i.direction == "note":
        badge = _NOTE_BADGE
    else:
        badge = format_html('<span class="badge badge-channel">{}</span>', channel_label(i.channel))
    if i.direction == "inbound":
        who, verb = str(i.customer), "wrote"
    else:
        who = person(i.actor) if i.actor_id else "lastmile"
        if i.direction == "outbound":
            verb = "logged a reply given elsewhere" if _logged(i) else "replied"
        else:
            verb = "noted"
    delivery = _LOGGED_BADGE if i.direction == "outbound" and _logged(i) else ""
    return format_html(
        '<li class="msg" data-direction="{}" id="interaction-{}">\n'
        '          <div class="msg-head">\n'
        "            {}\n"
        '            <span class="msg-who">{}</span>\n'
        '            <span class="msg-dir">{}</span>\n'
        "            {}\n"
        '            <time datetime="{}">{}</time>\n'
        "          </div>\n"
        '          <div class="msg-body">{}</div>\n'
        "          {}\n"
        "        </li>",
        i.direction,
        i.pk,
        badge,
        who,
        verb,
        delivery,
        iso(i.occurred_at),
        _short(i.occurred_at),
        linebreaksbr(i.body, autoescape=True),
        _message_files(files) if files else "",
    )


def _row_countdown(lp: Any, now: datetime) -> str:
    """What ``console/_countdown.html`` shows for ``lp`` (kept in step with it)."""
    if lp.state != "open":
        closed = _short(lp.closed_at, comma="") if lp.closed_at else ""
        return format_html(
            '<span class="state-word">{} {}</span>', str(lp.get_state_display()).lower(), closed
        )
    if lp.paused_at:
        return mark_safe('<span class="countdown is-paused">paused</span>')
    if lp.due_at:
        return countdown(lp.due_at, now)
    return mark_safe('<span class="countdown is-none">no deadline</span>')


@register.simple_tag(takes_context=True)
def inbox_row(context: template.Context, row: Any) -> SafeString:
    """One loop of the inbox, as a table row. Written here rather than as template rows:
    the inbox shows fifty and the row's template nodes were a third of its time."""
    lp = row.loop
    title = conditional_escape(lp.title)
    check = (
        format_html(
            '<input type="checkbox" name="ids" value="{}" form="bulk-form" class="bulk-check" '
            'aria-label="Select {}">',
            lp.pk,
            title,
        )
        if row.can_act
        else ""
    )
    level = format_html(" · L{}", lp.escalation_level) if lp.escalation_level else ""
    if row.case_visible:
        href = format_html("{}#loop-{}", reverse("console:case", args=(lp.case.ref,)), lp.pk)
        link = format_html('<a class="loop-title" href="{}">{}</a>', href, title)
    elif lp.customer_id:
        href = format_html("{}#loop-{}", reverse("console:customer", args=(lp.customer_id,)), lp.pk)
        link = format_html('<a class="loop-title" href="{}">{}</a>', href, title)
    elif row.page:
        link = format_html('<a class="loop-title" href="{}">{}</a>', row.page, title)
    else:
        link = format_html('<span class="loop-title">{}</span>', title)
    if not lp.case_id:
        case = mark_safe('<span class="subtle">—</span>')
    else:
        ref = (
            format_html(
                '<a class="ref" href="{}">{}</a>',
                reverse("console:case", args=(lp.case.ref,)),
                lp.case.ref,
            )
            if row.case_visible
            else format_html('<span class="ref">{}</span>', lp.case.ref)
        )
        case = format_html(
            '{}\n            <div class="subtle truncate">{}</div>', ref, lp.case.subject
        )
    if lp.customer_id:
        customer = format_html(
            '<a href="{}">{}</a>', reverse("console:customer", args=(lp.customer_id,)), lp.customer
        )
    else:
        customer = mark_safe(
            '<span class="subtle" title="Owed by the team itself, not to a customer">'
            "the team's own</span>"
        )
    owner = (
        person(lp.assignee)
        if lp.assignee_id
        else mark_safe('<span class="subtle">unassigned</span>')
    )
    explanation = capfirst(row.explanation)
    return format_html(
        '<tr class="loop-row" data-sla="{sla}" id="loop-{pk}">\n'
        '        <td class="c-check">{check}</td>\n'
        '        <td class="c-due">\n'
        '          <div class="due-stack">\n'
        "            {countdown}\n"
        '            <span class="sla-tag" data-sla="{sla}">{sla_label}{level}</span>\n'
        "          </div>\n"
        "        </td>\n"
        '        <td class="c-loop">\n'
        '          <span class="kind">{kind}</span>\n'
        "          {link}\n"
        '          <div class="explain" title="{explanation}">{explanation}</div>\n'
        "        </td>\n"
        '        <td class="c-case">\n'
        "          {case}\n"
        "        </td>\n"
        '        <td class="c-customer">{customer}</td>\n'
        '        <td class="c-team">{team}</td>\n'
        '        <td class="c-owner">{owner}</td>\n'
        "      </tr>",
        sla=row.sla,
        pk=lp.pk,
        check=check,
        countdown=_row_countdown(lp, context["now"]),
        sla_label=sla_label(row.sla),
        level=level,
        kind=lp.get_kind_display(),
        link=link,
        explanation=explanation,
        case=case,
        customer=customer,
        team=(lp.team.name if lp.team_id and lp.team else "") or "—",
        owner=owner,
    )

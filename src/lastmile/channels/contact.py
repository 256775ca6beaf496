"""Contact policy: may this message go to this customer now? Pure functions, no ORM.

``contact_decide(message, history, now)`` answers **send**, **defer** (until a given instant)
or **suppress**, naming the rule and the check behind anything but a plain send:

1. No rule for the purpose, or an inactive one: send. The rule is the one ``rule_pick``
   chose for the customer: a rule on a customer attribute (VIPs: a 60-day gap) replaces the
   purpose's general rule for the customers it matches.
2. No customer on the message: the rule cannot count anything, so it is sent — unless the
   rule says the purpose needs a customer (surveys, marketing): suppressed.
3. Caps (unless the rule turns them off; never for replies, which the customer asked for):
   - *ask once*: ``max_unanswered`` messages of this purpose went out since the customer
     last wrote (any channel) → suppressed. An answer from the customer resets the count;
   - ``max_per_period`` contacts in the last ``period`` → suppressed (a stale survey or offer
     is not worth sending later).
4. Holds: the ``min_gap`` after the last contact, and quiet hours in the customer's local
   time → deferred to the first instant when neither holds. Quiet hours hold replies too (if
   a rule gives replies quiet hours at all; the seeded one does not): a reply is never
   suppressed, but it may wait for the morning.

Quiet hours are wall-clock times: 21:00–08:00 means 21:00 to 08:00 local, whatever the UTC
offset that night. An end time that does not exist (the spring-forward gap) ends at the
transition; one that exists twice (fall back) ends at its first occurrence after ``now``.

>>> from datetime import time
>>> rule = RuleSpec(purpose="survey", quiet_start=time(21), quiet_end=time(8))
>>> msg = Outgoing(purpose="survey", rule=rule, has_customer=True, timezone="Europe/Paris")
>>> d = contact_decide(msg, History(), datetime(2026, 11, 23, 21, 30, tzinfo=UTC))
>>> d.outcome.value, d.check, d.until.isoformat()
('defer', 'quiet_hours', '2026-11-24T07:00:00+00:00')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lastmile.core.localtime import wall_to_utc

REPLY = "reply"
SCOPE_PURPOSE, SCOPE_ALL = "purpose", "all"


class Outcome(StrEnum):
    SEND = "send"
    DEFER = "defer"
    SUPPRESS = "suppress"


@dataclass(frozen=True)
class RuleSpec:
    """A contact rule's settings, as the decision reads them (see ``ContactRule``)."""

    purpose: str
    id: int | None = None
    active: bool = True
    quiet_start: time | None = None
    quiet_end: time | None = None
    caps_apply: bool = True
    max_per_period: int | None = None
    period: timedelta = timedelta(days=7)
    scope: str = SCOPE_PURPOSE
    min_gap: timedelta | None = None
    max_unanswered: int | None = None
    customer_required: bool = False
    attribute_key: str = ""  # the rule holds only for customers with this attribute …
    attribute_value: str = ""  # … of this value (as text: see ``attribute_text``)

    @property
    def label(self) -> str:
        """How pages name the rule: ``survey``, or ``survey for vip=true``."""
        if self.attribute_key:
            return f"{self.purpose} for {self.attribute_key}={self.attribute_value}"
        return self.purpose

    def matches(self, attributes: Any) -> bool:
        """Whether a customer with ``attributes`` meets the rule's condition (none: always)."""
        if not self.attribute_key:
            return True
        if not isinstance(attributes, dict) or self.attribute_key not in attributes:
            return False
        return attribute_text(attributes[self.attribute_key]) == self.attribute_value

    @classmethod
    def of(cls, rule: Any) -> RuleSpec:
        """The spec of a ``ContactRule`` row."""
        return cls(
            purpose=rule.purpose,
            id=rule.pk,
            active=rule.active,
            quiet_start=rule.quiet_start,
            quiet_end=rule.quiet_end,
            caps_apply=rule.caps_apply,
            max_per_period=rule.max_per_period,
            period=rule.period,
            scope=rule.scope,
            min_gap=rule.min_gap,
            max_unanswered=rule.max_unanswered,
            customer_required=rule.customer_required,
            attribute_key=rule.attribute_key,
            attribute_value=rule.attribute_value,
        )


def attribute_text(value: Any) -> str:
    """A customer attribute's value as a rule's ``attribute_value`` is written: JSON's
    ``true``/``false``/``null`` for those, numbers and strings as they read (``3``,
    ``gold``). A list or an object never equals a rule's value."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int | float | str):
        return str(value).strip()
    return "\x00"  # no rule value is this


def rule_pick(rules: Iterable[RuleSpec], purpose: str, attributes: Any) -> RuleSpec | None:
    """The rule that governs a ``purpose`` message to a customer with ``attributes``: the most
    specific wins, whole. An active rule of the purpose whose attribute condition the
    customer meets (several: the first by key, then value); else the purpose's rule without
    a condition (active or not: an inactive general rule lets the message go); else None.
    A rule with a condition that is inactive is passed over, so the general rule applies.

    >>> general = RuleSpec(purpose="survey", min_gap=timedelta(days=7))
    >>> vip = RuleSpec(purpose="survey", min_gap=timedelta(days=60), attribute_key="vip",
    ...                attribute_value="true")
    >>> rule_pick([general, vip], "survey", {"vip": True}).label
    'survey for vip=true'
    >>> rule_pick([general, vip], "survey", {"vip": False}).label
    'survey'
    """
    general: RuleSpec | None = None
    specific: list[RuleSpec] = []
    for rule in rules:
        if rule.purpose != purpose:
            continue
        if not rule.attribute_key:
            general = rule
        elif rule.active and rule.matches(attributes):
            specific.append(rule)
    if specific:
        return min(specific, key=lambda r: (r.attribute_key, r.attribute_value))
    return general


@dataclass(frozen=True)
class Outgoing:
    """The message to decide on: its purpose, the rule for it, and whose clock to read."""

    purpose: str
    rule: RuleSpec | None
    has_customer: bool
    timezone: str = "UTC"  # IANA name; see ``timezone_pick``


@dataclass(frozen=True)
class Contact:
    """An earlier message that reached (or may have reached) the customer."""

    purpose: str
    at: datetime


@dataclass(frozen=True)
class History:
    """What the customer has received, and when they last wrote to the business."""

    contacts: tuple[Contact, ...] = field(default_factory=tuple)
    last_inbound_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: str = ""  # the rule's label (``RuleSpec.label``): set whenever not a plain send
    rule_id: int | None = None
    check: str = ""  # a SuppressionCheck value
    reason: str = ""
    until: datetime | None = None  # for DEFER: when to try again


SEND = Decision(Outcome.SEND)


def contact_decide(message: Outgoing, history: History, now: datetime) -> Decision:
    """Send, defer or suppress ``message`` at ``now`` given the customer's ``history``."""
    rule = message.rule
    if rule is None or not rule.active:
        return SEND
    is_reply = message.purpose == REPLY

    def stop(check: str, reason: str) -> Decision:
        return Decision(Outcome.SUPPRESS, rule.label, rule.id, check, reason[:300])

    if not message.has_customer:
        if rule.customer_required and not is_reply:
            return stop("no_customer", f"a {rule.purpose} message must name its customer")
        return SEND

    counted: list[datetime] = []
    if rule.caps_apply and not is_reply:
        if rule.max_unanswered is not None:
            unanswered = sum(
                1
                for c in history.contacts
                if c.purpose == rule.purpose
                and (history.last_inbound_at is None or c.at > history.last_inbound_at)
            )
            if unanswered >= rule.max_unanswered:
                since = (
                    "since they last wrote" if history.last_inbound_at else "and they never wrote"
                )
                return stop(
                    "max_unanswered",
                    f"{_count(unanswered, f'{rule.purpose} message')} got no answer {since} "
                    f"(at most {rule.max_unanswered} unanswered)",
                )
        counted = [c.at for c in _in_scope(history.contacts, rule)]
        if rule.max_per_period is not None:
            window_start = now - rule.period
            recent = sum(1 for at in counted if at > window_start)
            if recent >= rule.max_per_period:
                return stop(
                    "max_per_period",
                    f"{_count(recent, _scope_noun(rule))} in the last {_duration(rule.period)} "
                    f"(at most {rule.max_per_period})",
                )

    gap_end = max(counted) + rule.min_gap if counted and rule.min_gap else None
    zone = _zone_or_utc(message.timezone)
    quiet = (
        (rule.quiet_start, rule.quiet_end)
        if rule.quiet_start is not None and rule.quiet_end is not None
        else None
    )
    at, reasons = now, dict[str, str]()
    for _ in range(6):  # a gap end may fall into quiet hours, and their end past the gap
        moved = False
        if gap_end is not None and at < gap_end:
            at, moved = gap_end, True
            gap = _duration(gap_end - max(counted))
            reasons.setdefault("min_gap", f"at least {gap} between {_scope_words(rule)}")
        if quiet is not None:
            end = quiet_until(at, zone, *quiet)
            if end is not None:
                at, moved = end, True
                reasons.setdefault(
                    "quiet_hours", f"quiet hours {quiet[0]:%H:%M}–{quiet[1]:%H:%M} in {zone.key}"
                )
        if not moved:
            break
    if at <= now:
        return SEND
    check = next(iter(reasons))
    local = at.astimezone(zone)
    reason = "; ".join(reasons.values()) + f": held until {local:%Y-%m-%d %H:%M %Z}"
    return Decision(Outcome.DEFER, rule.label, rule.id, check, reason[:300], until=at)


def contact_allowed_at(message: Outgoing, history: History, now: datetime) -> datetime | None:
    """The first instant from ``now`` on when ``message`` may go, if nothing else happens
    meanwhile: ``now`` when it may go now; a held message's end of hold; past a cap per
    period, when enough contacts have left the period (and then past any quiet hours or gap
    that holds at that time). None when no waiting lifts the stop: ask once (the customer
    must write first) or a message that names no customer. ``contact_decide`` answers at each
    step, so this says nothing the outbox would not do.
    """
    at = now
    for _ in range(24):  # each step moves past one hold or one contact leaving the period
        decision = contact_decide(message, history, at)
        if decision.outcome is Outcome.SEND:
            return at
        if decision.outcome is Outcome.DEFER and decision.until is not None:
            at = decision.until
            continue
        rule = message.rule
        if decision.check != "max_per_period" or rule is None or rule.max_per_period is None:
            return None
        window = sorted(c.at for c in _in_scope(history.contacts, rule) if c.at > at - rule.period)
        # The cap frees once all but ``max_per_period - 1`` of them are out of the period.
        at = window[len(window) - rule.max_per_period] + rule.period
    return None


def _in_scope(contacts: Iterable[Contact], rule: RuleSpec) -> Iterable[Contact]:
    if rule.scope == SCOPE_ALL:
        return (c for c in contacts if c.purpose != REPLY)
    return (c for c in contacts if c.purpose == rule.purpose)


def _scope_noun(rule: RuleSpec) -> str:
    """What the rule counts, one of them: "message" (every purpose) or "survey message"."""
    return "message" if rule.scope == SCOPE_ALL else f"{rule.purpose} message"


def _scope_words(rule: RuleSpec) -> str:
    return f"{_scope_noun(rule)}s"


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun`` in the singular or the plural: "1 survey message", "3 messages"."""
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _duration(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return _count(n, unit)
    return f"{seconds} seconds"


# -- time zones and quiet hours -------------------------------------------------------------


def zone_valid(name: Any) -> bool:
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def timezone_pick(*candidates: Any, default: str = "UTC") -> str:
    """The first valid IANA zone name among ``candidates`` (customer's, message's), else ``default``."""
    for name in candidates:
        if zone_valid(name):
            return str(name)
    return default if zone_valid(default) else "UTC"


def _zone_or_utc(name: str) -> ZoneInfo:
    return ZoneInfo(name) if zone_valid(name) else ZoneInfo("UTC")


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether the wall-clock time ``local`` falls in quiet hours [start, end)."""
    local = local.replace(tzinfo=None)
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # over midnight


def quiet_until(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet hours ``now`` falls in end (UTC), or None if ``now`` is not in them."""
    if not in_quiet_hours(now.astimezone(zone).time(), start, end):
        return None
    today = now.astimezone(zone).date()
    candidates = [
        u
        for offset in (-1, 0, 1, 2)
        for u in _instants(today + timedelta(days=offset), end, zone)
        if u > now
    ]
    return min(candidates)


def _instants(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the clock in ``zone`` shows ``wall`` on ``day``.

    Two in the fall-back hour; none in the spring-forward gap, where the clock jumps past
    ``wall``: the transition instant stands in for it.
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    out = []
    for fold in (0, 1):
        u = naive.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if u.astimezone(zone).replace(tzinfo=None) == naive and u not in out:
            out.append(u)
    # none in the spring-forward gap: the transition instant stands in for it
    return out or [wall_to_utc(naive, zone)]

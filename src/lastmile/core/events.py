"""Domain events: what happened, told to whoever subscribed, inside the caller's transaction.

Services call :func:`event_emit` after a change is written; subscribers (outgoing webhooks,
listening alerts, …) write their own rows in the same transaction, so an event is recorded
exactly when the change that caused it commits. Subscribers must be quick and must not do
I/O: they queue work (the outbox, webhook deliveries) for a worker to carry out.

Names are dotted, ``<noun>.<verb>``: ``loop.opened``, ``loop.closed``, ``loop.breached``,
``loop.broken``, ``loop.cancelled``, ``case.solved``, ``promise.broken``, …

A batch writer (the sweeper) emits its events of one name together with
:func:`event_emit_many`; a subscriber whose every event costs a query registers a ``many``
handler too, and hears the whole run in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

Event = tuple[dict[str, Any], datetime]  # (data, at)
Subscriber = Callable[[str, dict[str, Any], datetime], None]
ManySubscriber = Callable[[str, Sequence[Event]], None]

_subscribers: list[Subscriber] = []
_many: dict[Subscriber, ManySubscriber] = {}


def event_subscribe(fn: Subscriber, *, many: ManySubscriber | None = None) -> Subscriber:
    """Register ``fn(name, data, at)`` for every event; usable as a decorator. Idempotent.

    ``many(name, events)``, if given, must do what ``fn`` does for each of ``events`` in
    turn; :func:`event_emit_many` calls it instead of ``fn`` once per event.
    """
    if fn not in _subscribers:
        _subscribers.append(fn)
    if many is not None:
        _many[fn] = many
    return fn


def event_unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)
    _many.pop(fn, None)


def event_emit(name: str, data: dict[str, Any], *, at: datetime) -> None:
    """Tell every subscriber that ``name`` happened; ``data`` must be JSON-serialisable."""
    for fn in list(_subscribers):
        fn(name, data, at)


def event_emit_many(name: str, events: Sequence[Event]) -> None:
    """Tell every subscriber that each of ``events`` (``(data, at)``, all named ``name``)
    happened: as :func:`event_emit` for each in turn, except that a subscriber hears the
    whole run (in one call, if it registered ``many``) before the next subscriber does."""
    if not events:
        return
    for fn in list(_subscribers):
        many = _many.get(fn)
        if many is not None:
            many(name, events)
            continue
        for data, at in events:
            fn(name, data, at)

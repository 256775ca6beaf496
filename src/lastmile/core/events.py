"""Domain events: what happened, told to whoever subscribed, inside the caller's transaction.

Services call :func:`event_emit` after a change is written; subscribers (outgoing webhooks,
listening alerts, …) write their own rows in the same transaction, so an event is recorded
exactly when the change that caused it commits. Subscribers must be quick and must not do
I/O: they queue work (the outbox, webhook deliveries) for a worker to carry out.

Names are dotted, ``<noun>.<verb>``: ``loop.opened``, ``loop.closed``, ``loop.breached``,
``loop.broken``, ``loop.cancelled``, ``case.solved``, ``promise.broken``, …
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

Subscriber = Callable[[str, dict[str, Any], datetime], None]

_subscribers: list[Subscriber] = []


def event_subscribe(fn: Subscriber) -> Subscriber:
    """Register ``fn(name, data, at)`` for every event; usable as a decorator. Idempotent."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def event_unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


def event_emit(name: str, data: dict[str, Any], *, at: datetime) -> None:
    """Tell every subscriber that ``name`` happened; ``data`` must be JSON-serialisable."""
    for fn in list(_subscribers):
        fn(name, data, at)

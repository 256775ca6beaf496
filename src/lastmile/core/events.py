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

An app reacts to a lower app's change through an event, so the lower app need not import
it: ``customers`` tells ``interaction.recorded`` and ``loops`` opens and closes reply loops.
Such an event is *internal* (``internal=True``): its data holds the objects just written,
not JSON, and only the subscribers that named it hear it (``names=``); the subscribers of
every event (outgoing webhooks) never do.

A lower app asks the apps above it before a change they may refuse through a *guard*: it
calls :func:`guard_check` with the change's name and objects, and each guard registered for
that name (in its app's ``AppConfig.ready``) raises a ``DomainError`` to refuse. ``cases``
asks ``case.close`` before a case is solved or closed, and ``loops`` refuses while a loop
on it is open.

A lower app lets the apps above it widen what a viewer may read through a *grant*: each
grant registered for a name (:func:`grant_register`) answers with a query of what it lets
see, and the lower app's selector reads :func:`grants` for that name. ``cases`` shows a
team the cases ``case.view`` grants it; ``loops`` grants a team the cases behind its loops.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

Event = tuple[dict[str, Any], datetime]  # (data, at)
Subscriber = Callable[[str, dict[str, Any], datetime], None]
ManySubscriber = Callable[[str, Sequence[Event]], None]

_subscribers: list[Subscriber] = []
_many: dict[Subscriber, ManySubscriber] = {}
_names: dict[Subscriber, frozenset[str]] = {}

Guard = Callable[[dict[str, Any]], None]
_guards: dict[str, list[Guard]] = {}

# What a grant answers is up to the app that asks (cases: the ids of the cases the given
# teams may see, as a query).
Grant = Callable[..., Any]
_grants: dict[str, list[Grant]] = {}


def event_subscribe(
    fn: Subscriber, *, many: ManySubscriber | None = None, names: Iterable[str] | None = None
) -> Subscriber:
    """Register ``fn(name, data, at)`` for every event, or only for ``names``; usable as a
    decorator. Idempotent.

    ``many(name, events)``, if given, must do what ``fn`` does for each of ``events`` in
    turn; :func:`event_emit_many` calls it instead of ``fn`` once per event. An internal
    event reaches only the subscribers that name it.
    """
    if fn not in _subscribers:
        _subscribers.append(fn)
    if many is not None:
        _many[fn] = many
    if names is not None:
        _names[fn] = frozenset(names)
    return fn


def event_unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)
    _many.pop(fn, None)
    _names.pop(fn, None)


def _hearing(name: str, *, internal: bool) -> list[Subscriber]:
    return [
        fn for fn in list(_subscribers) if (name in _names[fn] if fn in _names else not internal)
    ]


def event_emit(name: str, data: dict[str, Any], *, at: datetime, internal: bool = False) -> None:
    """Tell every subscriber that ``name`` happened; ``data`` must be JSON-serialisable
    unless the event is internal."""
    for fn in _hearing(name, internal=internal):
        fn(name, data, at)


def event_emit_many(name: str, events: Sequence[Event], *, internal: bool = False) -> None:
    """Tell every subscriber that each of ``events`` (``(data, at)``, all named ``name``)
    happened: as :func:`event_emit` for each in turn, except that a subscriber hears the
    whole run (in one call, if it registered ``many``) before the next subscriber does."""
    if not events:
        return
    for fn in _hearing(name, internal=internal):
        many = _many.get(fn)
        if many is not None:
            many(name, events)
            continue
        for data, at in events:
            fn(name, data, at)


def guard_register(name: str, fn: Guard) -> Guard:
    """Register ``fn(data)``, asked before the change ``name`` is written; it refuses by
    raising a ``DomainError``. Idempotent."""
    guards = _guards.setdefault(name, [])
    if fn not in guards:
        guards.append(fn)
    return fn


def guard_check(name: str, data: dict[str, Any]) -> None:
    """Ask every guard of ``name`` whether the change may be written, in the order they
    registered; the first refusal propagates, so the caller writes nothing. Called inside
    the caller's transaction, after it has locked what the guards read."""
    for fn in list(_guards.get(name, ())):
        fn(data)


def grant_register(name: str, fn: Grant) -> Grant:
    """Register ``fn``, asked by the selector that reads the grants of ``name`` for what it
    lets a viewer see besides what the lower app shows them. Idempotent."""
    grants_of = _grants.setdefault(name, [])
    if fn not in grants_of:
        grants_of.append(fn)
    return fn


def grants(name: str) -> list[Grant]:
    """The grants of ``name``, in the order they registered."""
    return list(_grants.get(name, ()))

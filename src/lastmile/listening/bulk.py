"""The conversations a mention batch starts, decided in memory and written in bulk.

Why: through the per-row services (``customer_resolve``, ``case_create``,
``interaction_record`` and the loop engine it calls) a mention costs some twenty queries,
nine tenths of an import's time (``lastmile mentions import`` of 20,000 support tweets ran
at ~300 rows/s on SQLite, ~160 on PostgreSQL; see bench/MENTIONS.md). A case the batch creates is seen by nobody else until the batch commits, so
what those services would do to it depends only on the batch: this module replays their
rules in posting order, in memory, and writes the result with a few multi-row INSERTs —
customers and their social identities, cases and their ``created`` events, interactions,
reply loops and their events — then tells the domain-event subscribers (webhooks, …) what
happened, in the order it happened.

The rules replayed, and where they live:

- ``customers.services.customer_resolve``: a new customer per unknown handle, created at
  the author's first post in the batch, with the social identity.
- ``cases.services.case_create``: a number from the ``case`` counter, a ``created`` event.
- ``customers.services.interaction_record``: idempotent on (channel, source_id); the stored
  interaction is returned and nothing reacts.
- ``loops.services.loops_react_to_interaction`` and ``loop_open``/``loop_close``: an
  inbound message opens the case's reply loop (first reply, or next reply once the brand
  answered) unless one is open or a later answer is on the case already; the brand's reply
  closes the open loops it can answer. The policy match and the deadline are the loop
  engine's own functions (``policy_match``, ``loop_schedule``, ``loop_event_data``).

Anything touching a stored case, or a customer merged into another, still goes through the
services. tests/test_mentions_bulk.py imports the same threads both ways and compares every
row. If those rules change, change them here too (or move this into the apps it writes:
it reads as a bulk variant of their services).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lastmile.core.db import rows_insert
from lastmile.core.events import event_emit


@dataclass
class NewCase:
    """A case this batch opens; ``pk`` is a negative placeholder until it is written."""

    pk: int
    customer: Any  # a live Customer
    subject: str
    team: Any
    channel: str
    created_at: datetime
    priority: str = "normal"
    outbound_at: list[datetime] = field(default_factory=list)
    open_loops: list[NewLoop] = field(default_factory=list)

    @property
    def customer_id(self) -> int:
        return int(self.customer.pk)


@dataclass
class NewInteraction:
    pk: int  # negative placeholder
    case: NewCase
    channel: str
    direction: str
    occurred_at: datetime
    body: str
    data: Any
    source_id: str
    sentiment: tuple[str, float] | None


@dataclass
class NewLoop:
    """A reply loop this batch opens: the loop engine's own model instance, unsaved, with
    the case and the interaction that opened it (their ids are placeholders until written)."""

    loop: Any
    placeholder: int
    case: NewCase
    opened_by: NewInteraction


@dataclass
class LoopChange:
    """What a recorded interaction did to the case's reply loops (placeholder ids)."""

    name: str  # loop.opened | loop.closed
    loop: int
    case: int
    at: datetime


class Recorder:
    """Collects the new conversations of one batch; :meth:`write` stores them."""

    def __init__(self, *, now: datetime, existing: dict[tuple[str, str], int]) -> None:
        self.now = now
        self.existing = existing  # (channel, source_id) -> an interaction stored before
        self.cases: list[NewCase] = []
        self.interactions: list[NewInteraction] = []
        self.loops: list[NewLoop] = []  # in opening order
        self.loop_events: list[tuple[NewLoop, str, datetime, str, dict[str, Any]]] = []
        self.domain_events: list[tuple[str, NewLoop, dict[str, Any], datetime]] = []
        self._policies: dict[tuple[Any, ...], Any] = {}
        self.case_ids: dict[int, int] = {}
        self.interaction_ids: dict[int, int] = {}
        self.loop_ids: dict[int, int] = {}

    @staticmethod
    def existing_interactions(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """(channel, source_id) -> id of the interactions already stored among ``keys``."""
        from django.db.models import Q

        from lastmile.customers.models import Interaction

        grouped: dict[str, set[str]] = defaultdict(set)
        for channel, source_id in keys:
            grouped[channel].add(source_id)
        if not grouped:
            return {}
        q = Q(pk__in=[])
        for channel, ids in grouped.items():
            q |= Q(channel=channel, source_id__in=ids)
        rows = Interaction.objects.filter(q).values_list("pk", "channel", "source_id")
        return {(c, s or ""): pk for pk, c, s in rows}

    # cases ----------------------------------------------------------------------------------

    def case_new(
        self, *, customer: Any, subject: str, team: Any, channel: str, now: datetime
    ) -> NewCase:
        """As ``case_create`` would make it (its subject checked the same way)."""
        subject = (subject or "").strip()
        if not subject:
            from lastmile.core.errors import FieldError, InvalidInput

            raise InvalidInput(
                "a case needs a subject", [FieldError("subject", "must not be empty")]
            )
        case = NewCase(
            pk=-(len(self.cases) + 1),
            customer=customer,
            subject=subject[:300],
            team=team,
            channel=channel,
            created_at=now,
        )
        self.cases.append(case)
        return case

    # interactions and the loop engine's reaction ---------------------------------------------

    def record(
        self,
        *,
        case: NewCase,
        channel: str,
        direction: str,
        occurred_at: datetime,
        body: str,
        data: Any,
        source_id: str,
        sentiment: tuple[str, float] | None = None,
    ) -> tuple[int, list[LoopChange]]:
        """An interaction on a new case, as ``interaction_record`` stores it; its placeholder
        id (or the stored one's id) and what it did to the reply loops."""
        from lastmile.customers.models import Direction

        found = self.existing.get((channel, source_id)) if source_id else None
        if found is not None:
            return found, []  # stored before: returned as it is, nothing reacts
        it = NewInteraction(
            pk=-(len(self.interactions) + 1),
            case=case,
            channel=channel,
            direction=direction,
            occurred_at=occurred_at,
            body=body,
            data=data,
            source_id=source_id,
            sentiment=sentiment if direction == Direction.INBOUND else None,
        )
        self.interactions.append(it)
        at = min(occurred_at, self.now)
        if direction == Direction.INBOUND:
            return it.pk, self._inbound(it, at)
        if direction == Direction.OUTBOUND:
            changes = self._outbound(it, at)
            case.outbound_at.append(occurred_at)
            return it.pk, changes
        return it.pk, []

    def _inbound(self, it: NewInteraction, at: datetime) -> list[LoopChange]:
        from lastmile.loops.models import Loop, LoopKind, SlaTarget
        from lastmile.loops.services import loop_schedule

        case = it.case
        if any(o >= it.occurred_at for o in case.outbound_at):
            return []  # answered already (history arriving late): no loop
        if case.open_loops:
            return []  # the open reply loop goes on (a new case's loop is never paused)
        answered = bool(case.outbound_at)
        data = it.data if isinstance(it.data, dict) else {}
        influence = data.get("influence")
        target = SlaTarget.NEXT_REPLY if answered else SlaTarget.FIRST_REPLY
        policy = self._policy(
            channel=it.channel,
            priority=case.priority,
            team_id=case.team.pk if case.team is not None else None,
            influence=float(influence) if isinstance(influence, int | float) else None,
            sentiment=str(data.get("sentiment") or ""),
        )
        minutes = policy.minutes_for(target) if policy is not None else None
        title = f"{'Answer' if answered else 'First reply to'} {case.customer} ({it.channel})"
        loop = Loop(
            customer=case.customer,
            kind=LoopKind.REPLY,
            title=title[:300],
            team=case.team,
            channel=it.channel,
            opened_at=at,
            clock_started_at=at,
            sla_policy=policy,
            sla_target=target,
            sla_seconds=minutes * 60 if minutes is not None else None,
        )
        loop_schedule(loop)
        new = NewLoop(loop=loop, placeholder=-(len(self.loops) + 1), case=case, opened_by=it)
        self.loops.append(new)
        case.open_loops.append(new)
        self._loop_event(
            new,
            "opened",
            at,
            "",
            {
                "due_at": loop.due_at.isoformat() if loop.due_at else None,
                "policy": policy.name if policy is not None else None,
            },
        )
        self._emit("loop.opened", new, at)
        return [LoopChange("loop.opened", new.placeholder, case.pk, at)]

    def _outbound(self, it: NewInteraction, at: datetime) -> list[LoopChange]:
        from lastmile.loops.models import LoopState

        case = it.case
        changes = []
        reason = f"replied on {it.channel}"
        for new in [n for n in case.open_loops if n.loop.opened_at <= at]:
            loop = new.loop
            closed_at = max(at, loop.opened_at)
            loop.state = LoopState.CLOSED
            loop.closed_at = closed_at
            loop.next_check_at = None
            case.open_loops.remove(new)
            self._loop_event(new, "closed", closed_at, reason, {})
            self._emit("loop.closed", new, closed_at, reason=reason)
            changes.append(LoopChange("loop.closed", new.placeholder, case.pk, closed_at))
        return changes

    def _policy(self, **match: Any) -> Any:
        """``policy_match`` for a reply loop, asked once per distinct question in a batch."""
        from lastmile.loops.models import LoopKind
        from lastmile.loops.services import policy_match

        key = tuple(sorted(match.items()))
        if key not in self._policies:
            self._policies[key] = policy_match(kind=LoopKind.REPLY, **match)
        return self._policies[key]

    def _loop_event(
        self, new: NewLoop, kind: str, at: datetime, reason: str, data: dict[str, Any]
    ) -> None:
        self.loop_events.append((new, kind, at, reason, data))

    def _emit(self, name: str, new: NewLoop, at: datetime, **extra: Any) -> None:
        """The event's data as the loop engine builds it, now (the state it tells of);
        the loop's and case's ids are filled in once they are written."""
        from lastmile.loops.services import loop_event_data

        self.domain_events.append((name, new, loop_event_data(new.loop, **extra), at))

    # writing ----------------------------------------------------------------------------------

    def write(self) -> None:
        """Store everything recorded, then tell the event subscribers, in order."""
        from lastmile.cases.models import Case, CaseEvent
        from lastmile.core.ids import counter_reserve
        from lastmile.customers.models import Interaction
        from lastmile.loops.models import Loop, LoopEvent

        if self.cases:
            numbers = counter_reserve("case", len(self.cases))
            pks = rows_insert(
                Case,
                [
                    {
                        "number": number,
                        "customer_id": c.customer_id,
                        "subject": c.subject,
                        "priority": c.priority,
                        "channel": c.channel,
                        "team_id": c.team.pk if c.team is not None else None,
                        "created_at": c.created_at,
                        "updated_at": c.created_at,
                    }
                    for c, number in zip(self.cases, numbers, strict=True)
                ],
                returning=True,
            )
            self.case_ids = {c.pk: pk for c, pk in zip(self.cases, pks, strict=True)}
            rows_insert(
                CaseEvent,
                [
                    {
                        "case_id": self.case_ids[c.pk],
                        "kind": "created",
                        "at": c.created_at,
                        "data": {"team": c.team.slug if c.team is not None else None},
                    }
                    for c in self.cases
                ],
            )
        if self.interactions:
            pks = rows_insert(
                Interaction,
                [
                    {
                        "customer_id": it.case.customer_id,
                        "case_id": self.case_ids[it.case.pk],
                        "channel": it.channel,
                        "direction": it.direction,
                        "occurred_at": it.occurred_at,
                        "recorded_at": self.now,
                        "body": it.body,
                        "data": it.data,
                        "source_id": it.source_id or None,
                        "sentiment_label": it.sentiment[0] if it.sentiment else None,
                        "sentiment_score": it.sentiment[1] if it.sentiment else None,
                    }
                    for it in self.interactions
                ],
                returning=True,
            )
            self.interaction_ids = {
                it.pk: pk for it, pk in zip(self.interactions, pks, strict=True)
            }
        if self.loops:
            for new in self.loops:
                new.loop.case_id = self.case_ids[new.case.pk]
                new.loop.opened_by_id = self.interaction_ids[new.opened_by.pk]
            pks = rows_insert(Loop, [new.loop for new in self.loops], returning=True)
            for new, pk in zip(self.loops, pks, strict=True):
                new.loop.pk = pk
                self.loop_ids[new.placeholder] = pk
            rows_insert(
                LoopEvent,
                [
                    {"loop_id": new.loop.pk, "kind": kind, "at": at, "reason": reason, "data": data}
                    for new, kind, at, reason, data in self.loop_events
                ],
            )
        for name, new, data, at in self.domain_events:
            event_emit(name, {**data, "loop": new.loop.pk, "case": new.loop.case_id}, at=at)

    def real(self, placeholder: int | None, ids: dict[int, int]) -> int | None:
        """The written id for a placeholder (negative); real ids pass through."""
        if placeholder is None or placeholder > 0:
            return placeholder
        return ids[placeholder]


def customers_create(
    *, wanted: Sequence[tuple[str, str, str, datetime]]
) -> dict[tuple[str, str], Any]:
    """New customers with one social identity each, as ``customer_resolve`` creates them for
    an unknown handle: ``(network, handle, display name, at)`` -> the Customer (with its pk).

    A handle taken meanwhile by a concurrent import fails the INSERT (the identity is
    unique); the caller's retry then finds it.
    """
    from lastmile.customers.models import Customer, Identity, IdentityKind

    if not wanted:
        return {}
    pks = rows_insert(
        Customer,
        [{"display_name": name[:200], "created_at": at} for _, _, name, at in wanted],
        returning=True,
    )
    rows_insert(
        Identity,
        [
            {
                "customer_id": pk,
                "kind": IdentityKind.SOCIAL,
                "network": network,
                "value": handle,
                "created_at": at,
            }
            for (network, handle, _, at), pk in zip(wanted, pks, strict=True)
        ],
    )
    return {
        (network, handle): Customer(pk=pk, display_name=name[:200], created_at=at)
        for (network, handle, name, at), pk in zip(wanted, pks, strict=True)
    }

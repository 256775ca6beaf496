"""The conversations a mention batch starts, decided in memory and written in bulk.

Why: through the per-row services (``customer_resolve``, ``case_create``,
``interaction_record`` and the loop engine it calls) a mention costs some twenty queries,
nine tenths of an import's time (``lastmile mentions import`` of 20,000 support tweets ran
at ~300 rows/s on SQLite, ~160 on PostgreSQL; see bench/MENTIONS.md). A case the batch
creates is seen by nobody else until the batch commits, so what those services would do to
it depends only on the batch: this module replays their rules in posting order, in memory,
hands the result to each app's bulk writer — ``cases.services.cases_insert`` (cases and
their ``created`` events), ``customers.services.interactions_insert``,
``loops.services.loops_insert`` (reply loops and their events) — and then tells the
domain-event subscribers (webhooks, …) what happened, in the order it happened. New
customers for unknown handles are written before this, by
``customers.services.customers_create_social`` (called from the import).

What is replayed here, and which app's functions it uses:

- ``cases.services.case_create``: the subject as ``case_subject_checked`` makes it (checked
  when the case is decided, as ``case_create`` would); numbers and events are the writer's.
- ``customers.services.interaction_record``: idempotent on (channel, source_id); the stored
  interaction is returned and nothing reacts.
- ``loops.services.loops_react_to_interaction`` and ``loop_open``/``loop_close``: an
  inbound message opens the case's reply loop (first reply, or next reply once the brand
  answered) unless one is open or a later answer is on the case already; the brand's reply
  closes the open loops it can answer. Title, target, policy, SLA, deadline, event data and
  closing are the loop engine's own functions (``reply_loop_title``, ``reply_loop_target``,
  ``policy_match``, ``loop_sla_set``, ``loop_schedule``, ``loop_opened_data``,
  ``loop_event_data``, ``loop_finish_unsaved``, ``reply_closed_reason``); the sequencing
  above still mirrors ``loops_react_to_interaction`` and must change with it.

Anything touching a stored case, or a customer merged into another, still goes through the
services. tests/test_mentions_bulk.py imports the same threads both ways and compares every
row, and pins the batch's query count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lastmile.core.events import event_emit

if TYPE_CHECKING:
    from lastmile.loops.services import LoopEventIn


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
        self.loop_events: list[LoopEventIn] = []  # in order
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
        from lastmile.cases.services import case_subject_checked

        case = NewCase(
            pk=-(len(self.cases) + 1),
            customer=customer,
            subject=case_subject_checked(subject),
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
        from lastmile.loops.models import Loop, LoopKind
        from lastmile.loops.services import (
            loop_opened_data,
            loop_schedule,
            loop_sla_set,
            reply_loop_target,
            reply_loop_title,
        )

        case = it.case
        if any(o >= it.occurred_at for o in case.outbound_at):
            return []  # answered already (history arriving late): no loop
        if case.open_loops:
            return []  # the open reply loop goes on (a new case's loop is never paused)
        answered = bool(case.outbound_at)
        data = it.data if isinstance(it.data, dict) else {}
        influence = data.get("influence")
        target = reply_loop_target(answered=answered)
        policy = self._policy(
            channel=it.channel,
            priority=case.priority,
            team_id=case.team.pk if case.team is not None else None,
            influence=float(influence) if isinstance(influence, int | float) else None,
            sentiment=str(data.get("sentiment") or ""),
        )
        title = reply_loop_title(answered=answered, customer=case.customer, channel=it.channel)
        loop = Loop(
            customer=case.customer,
            kind=LoopKind.REPLY,
            title=title.strip()[:300],  # as loop_open stores it
            team=case.team,
            channel=it.channel,
            opened_at=at,
            clock_started_at=at,
        )
        loop_sla_set(loop, policy=policy, target=target)
        loop_schedule(loop)
        new = NewLoop(loop=loop, placeholder=-(len(self.loops) + 1), case=case, opened_by=it)
        self.loops.append(new)
        case.open_loops.append(new)
        self._loop_event(new, "opened", at, "", loop_opened_data(loop))
        self._emit("loop.opened", new, at)
        return [LoopChange("loop.opened", new.placeholder, case.pk, at)]

    def _outbound(self, it: NewInteraction, at: datetime) -> list[LoopChange]:
        from lastmile.loops.models import LoopState
        from lastmile.loops.services import loop_finish_unsaved, reply_closed_reason

        case = it.case
        changes = []
        reason = reply_closed_reason(channel=it.channel)
        for new in [n for n in case.open_loops if n.loop.opened_at <= at]:
            closed_at = loop_finish_unsaved(new.loop, state=LoopState.CLOSED, now=at)
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
        from lastmile.loops.services import LoopEventIn

        self.loop_events.append(
            LoopEventIn(loop=new.loop, kind=kind, at=at, reason=reason, data=data)
        )

    def _emit(self, name: str, new: NewLoop, at: datetime, **extra: Any) -> None:
        """The event's data as the loop engine builds it, now (the state it tells of);
        the loop's and case's ids are filled in once they are written."""
        from lastmile.loops.services import loop_event_data

        self.domain_events.append((name, new, loop_event_data(new.loop, **extra), at))

    # writing ----------------------------------------------------------------------------------

    def write(self) -> None:
        """Store everything recorded through each app's bulk writer (cases, then the
        interactions on them, then the loops they opened), then tell the event
        subscribers, in order."""
        from lastmile.cases.services import CaseIn, cases_insert
        from lastmile.customers.services import InteractionRow, interactions_insert
        from lastmile.loops.services import loops_insert

        pks = cases_insert(
            cases=[
                CaseIn(
                    customer_id=c.customer_id,
                    subject=c.subject,
                    now=c.created_at,
                    team=c.team,
                    channel=c.channel,
                    priority=c.priority,
                )
                for c in self.cases
            ]
        )
        self.case_ids = {c.pk: pk for c, pk in zip(self.cases, pks, strict=True)}
        pks = interactions_insert(
            rows=[
                InteractionRow(
                    customer_id=it.case.customer_id,
                    case_id=self.case_ids[it.case.pk],
                    channel=it.channel,
                    direction=it.direction,
                    occurred_at=it.occurred_at,
                    body=it.body,
                    data=it.data,
                    source_id=it.source_id,
                    sentiment=it.sentiment,
                )
                for it in self.interactions
            ],
            now=self.now,
        )
        self.interaction_ids = {it.pk: pk for it, pk in zip(self.interactions, pks, strict=True)}
        for new in self.loops:
            new.loop.case_id = self.case_ids[new.case.pk]
            new.loop.opened_by_id = self.interaction_ids[new.opened_by.pk]
        pks = loops_insert(loops=[new.loop for new in self.loops], events=self.loop_events)
        self.loop_ids = {new.placeholder: pk for new, pk in zip(self.loops, pks, strict=True)}
        for name, new, data, at in self.domain_events:
            event_emit(name, {**data, "loop": new.loop.pk, "case": new.loop.case_id}, at=at)

    def real(self, placeholder: int | None, ids: dict[int, int]) -> int | None:
        """The written id for a placeholder (negative); real ids pass through."""
        if placeholder is None or placeholder > 0:
            return placeholder
        return ids[placeholder]

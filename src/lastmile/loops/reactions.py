"""How loops react to the apps below them, which do not import loops (``AppConfig.ready``
registers these; ``lastmile.core.events`` explains events and guards).

- ``interaction.recorded`` (customers): reply loops follow the conversation on a case,
  :func:`loops_react_to_interactions`.
- ``case.moved`` (cases, internal): the case's open loops its old team held move with it
  to the new team, :func:`on_case_moved`.
- the ``case.close`` guard (cases): a case is not solved or closed while one of its loops is
  open, :func:`loops_guard_case_close`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lastmile.cases.models import CaseStatus
from lastmile.cases.selectors import cases_routing
from lastmile.cases.services import case_reopen_on_message
from lastmile.core.errors import Conflict, ErrorCode, FieldError
from lastmile.core.events import event_emit_many
from lastmile.customers.models import Customer, Direction
from lastmile.customers.selectors import cases_last_outbound
from lastmile.customers.services.timeline import InteractionRow
from lastmile.loops.models import Loop, LoopEventKind, LoopKind, LoopState, SlaPolicy, SlaTarget
from lastmile.loops.selectors import loops_open_on_case
from lastmile.loops.services import (
    LoopEventIn,
    loop_close,
    loop_event_data,
    loop_finish_unsaved,
    loop_opened_data,
    loop_resume,
    loop_schedule,
    loop_sla_set,
    loops_follow_case,
    loops_insert,
    policies_active,
    policy_pick,
)


class LoopsStillOpen(Conflict):
    """A case cannot be solved or closed while one of its loops is open."""

    def __init__(self, loops: list[Loop]) -> None:
        names = "; ".join(
            f"{lp.get_kind_display().lower()} '{lp.title}' (#{lp.pk})" for lp in loops
        )
        count = "1 loop is" if len(loops) == 1 else f"{len(loops)} loops are"
        super().__init__(
            detail=f"{count} still open: {names}",
            code=ErrorCode.LOOPS_STILL_OPEN,
            errors=[
                FieldError(f"loops[{lp.pk}]", f"{lp.kind} '{lp.title}' is open") for lp in loops
            ],
        )
        self.loops = loops


def on_case_moved(name: str, data: dict[str, Any], at: datetime) -> None:
    """``case.moved``: the loops the case's old team held follow it (``loops_follow_case``),
    in the move's transaction."""
    loops_follow_case(
        case=data["case"],
        from_team=data.get("from_team"),
        team=data.get("team"),
        actor=data.get("actor"),
        now=at,
    )


def loops_guard_case_close(data: dict[str, Any]) -> None:
    """The guard of ``case.close`` (``lastmile.core.events``): a case is not solved or
    closed while one of its loops is open."""
    still_open = loops_open_on_case(case=data["case"])
    if still_open:
        raise LoopsStillOpen(still_open)


# --- reply loops ---------------------------------------------------------------------------


def on_interaction_recorded(name: str, data: dict[str, Any], at: datetime) -> None:
    """Subscriber of ``interaction.recorded`` (``LoopsConfig.ready``), told one at a time."""
    on_interactions_recorded(name, [(data, at)])


def on_interactions_recorded(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """Subscriber of ``interaction.recorded``: the loop engine reacts to a batch of
    interactions just written (``customers.services.interactions_write``), in its
    transaction, before the writer returns."""
    if events:
        loops_react_to_interactions(
            interactions=[data["interaction"] for data, _ in events], now=events[0][1]
        )


def reply_loop_target(*, answered: bool) -> str:
    """A reply loop's SLA target: first reply until somebody answered on the case."""
    return SlaTarget.NEXT_REPLY if answered else SlaTarget.FIRST_REPLY


def reply_loop_title(*, answered: bool, customer: Customer | None, channel: str) -> str:
    """The title of the reply loop an inbound message opens on a case."""
    name = str(customer) if customer is not None else "the customer"
    return f"{'Answer' if answered else 'First reply to'} {name} ({channel})"


def reply_closed_reason(*, channel: str, data: Any = None) -> str:
    """Why the brand's reply closed a reply loop (a reply given elsewhere and only logged in
    lastmile, ``{"delivery": "logged"}``, says so: the customer was answered, not by us)."""
    if isinstance(data, dict) and data.get("delivery") == "logged":
        return f"reply logged as given on {channel} (not sent by lastmile)"
    return f"replied on {channel}"


def _automated(interaction: InteractionRow) -> bool:
    # Auto-replies, bounces, list mail: on the timeline, but nobody owes them an answer
    # (answering would start a mail loop), and they reopen nothing.
    return isinstance(interaction.data, dict) and interaction.data.get("automated") is True


def loops_react_to_interactions(*, interactions: Sequence[InteractionRow], now: datetime) -> None:
    """Reply loops follow the conversation on cases: the reaction to ``interactions`` (just
    recorded, ``recorded_at`` = ``now``), as if each was recorded after the one before it.

    Inbound, unless answered already (an outbound message on the case at or after it:
    history arriving late): reopen the case if it is pending or solved; keep its open reply
    loop (resumed if it was paused waiting on the customer), or open one — first reply if
    nobody has answered on the case yet, else next reply — under the first matching policy
    (a social mention's influence and sentiment, from its data, take part in the match).
    Outbound (on any channel): close the case's open reply loops opened at or before it.
    Notes, automated messages and interactions on no case change nothing, except that an
    automated reply, like any outbound message, makes older inbound history answered.

    A batch costs the same queries whatever its size:
    1. Read once: the cases written to, their open reply loops, the latest outbound message
       on each from before the batch, and (if a loop opens) the active SLA policies.
    2. Walk the batch in order, in memory. A loop opened here is written at the end with its
       events, closed already if a later reply of the batch answered it; a stored loop is
       closed or resumed through ``loop_close`` / ``loop_resume``.
    3. Tell the subscribers ``loop.opened`` then ``loop.closed`` of the loops opened here,
       each in order, as one run (``event_emit_many``).
    """
    # (case, message, automated) of each message on a case, in order.
    rows = [
        (i.case_id, i, _automated(i))
        for i in interactions
        if i.case_id is not None and i.direction in (Direction.INBOUND, Direction.OUTBOUND)
    ]
    if all(auto for _, _, auto in rows):
        return
    inbound = {c for c, r, auto in rows if r.direction == Direction.INBOUND and not auto}
    cases = cases_routing(case_ids=inbound)
    open_loops: dict[int, list[Loop]] = defaultdict(list)
    for loop in Loop.objects.filter(
        case_id__in={c for c, _, auto in rows if not auto},
        kind=LoopKind.REPLY,
        state=LoopState.OPEN,
    ).order_by("pk"):
        open_loops[loop.case_id or 0].append(loop)
    last_outbound: dict[int, datetime] = {}
    if inbound:
        # From before the batch: its rows are written already, and the walk below counts
        # each outbound one (automated too) in its turn, as recording one at a time would.
        last_outbound = cases_last_outbound(
            case_ids=inbound,
            excluding=[r.pk for c, r, _ in rows if c in inbound and r.pk is not None],
        )
    policies: list[SlaPolicy] | None = None
    reopened: set[int] = set()
    opened: list[Loop] = []
    events: list[LoopEventIn] = []
    told: list[tuple[str, Loop, dict[str, Any], datetime]] = []
    for case_id, r, auto in rows:
        at = min(r.occurred_at, now)
        waiting = open_loops[case_id]
        if r.direction == Direction.OUTBOUND:
            last = last_outbound.get(case_id)
            last_outbound[case_id] = r.occurred_at if last is None else max(last, r.occurred_at)
            if auto:
                continue
            # Only loops the reply can answer: a late-imported older reply closes nothing newer.
            reason = reply_closed_reason(channel=r.channel, data=r.data)
            for loop in [lp for lp in waiting if lp.opened_at <= at]:
                waiting.remove(loop)
                if loop.pk is not None:
                    loop_close(loop=loop, actor=r.actor, reason=reason, now=max(at, loop.opened_at))
                    continue
                closed_at = loop_finish_unsaved(loop, state=LoopState.CLOSED, now=at)
                events.append(
                    LoopEventIn(
                        loop=loop,
                        kind=LoopEventKind.CLOSED,
                        at=closed_at,
                        reason=reason,
                        actor=r.actor,
                    )
                )
                told.append(("loop.closed", loop, loop_event_data(loop, reason=reason), closed_at))
            continue
        if auto:
            continue
        last = last_outbound.get(case_id)
        if last is not None and last >= r.occurred_at:
            # History arriving late (an import, a batch out of order): this message was
            # already answered, so it neither reopens the case nor opens a reply loop.
            continue
        case = cases[case_id]
        if case.pk not in reopened:
            reopened.add(case.pk)
            if case.status in (CaseStatus.PENDING, CaseStatus.SOLVED):
                case_reopen_on_message(case=case, now=now)
        if waiting:
            current = waiting[0]
            if current.pk is not None and current.paused_at is not None:
                waiting[0] = loop_resume(
                    loop=current,
                    reason=f"customer wrote on {r.channel}",
                    now=max(at, current.paused_at),
                )
            continue
        if policies is None:
            policies = policies_active()
        answered = last is not None
        # A social mention carries its author's influence and its sentiment (set by the
        # listening import) for the SLA policy match.
        data = r.data if isinstance(r.data, dict) else {}
        influence = data.get("influence")
        loop = Loop(
            customer_id=case.customer_id,
            case_id=case.pk,
            kind=LoopKind.REPLY,
            title=reply_loop_title(
                answered=answered,
                customer=case.customer if case.customer_id else None,
                channel=r.channel,
            ).strip()[:300],
            team_id=case.team_id,
            assignee_id=case.assignee_id,
            channel=r.channel,
            opened_at=at,
            clock_started_at=at,
            opened_by_id=r.pk,
        )
        policy = policy_pick(
            policies,
            kind=LoopKind.REPLY,
            channel=r.channel,
            priority=case.priority,
            team_id=case.team_id,
            influence=float(influence) if isinstance(influence, int | float) else None,
            sentiment=str(data.get("sentiment") or ""),
        )
        loop_sla_set(loop, policy=policy, target=reply_loop_target(answered=answered))
        loop_schedule(loop)
        opened.append(loop)
        waiting.append(loop)
        events.append(
            LoopEventIn(loop=loop, kind=LoopEventKind.OPENED, at=at, data=loop_opened_data(loop))
        )
        told.append(("loop.opened", loop, loop_event_data(loop), at))
    if not opened:
        return
    loops_insert(loops=opened, events=events)
    for name in ("loop.opened", "loop.closed"):
        event_emit_many(
            name, [({**data, "loop": loop.pk}, at) for n, loop, data, at in told if n == name]
        )

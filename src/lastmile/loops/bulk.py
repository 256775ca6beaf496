"""Bulk actions over loops (the inbox's selected rows, the open loops of selected cases):
one call per action, all or nothing, through the one-loop services."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound
from lastmile.loops.models import Loop, LoopState
from lastmile.loops.selectors import loops_visible
from lastmile.loops.services import loop_close, loop_reassign
from lastmile.people.selectors import person_name
from lastmile.people.viewers import Actor, Viewer

BULK_LIMIT = 500


@dataclass
class LoopsBulkResult:
    loops: list[Loop]
    message: str


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def _bulk_loops(loop_ids: Iterable[int], *, viewer: Viewer) -> list[Loop]:
    """The open loops ``loop_ids`` the viewer's teams own, in id order; NotFound for one they
    may not act on, a Conflict for one no longer open: then nothing is done for any."""
    ids = sorted({int(i) for i in loop_ids})
    if not ids:
        raise InvalidInput("select at least one loop", [FieldError("ids", "nothing selected")])
    if len(ids) > BULK_LIMIT:
        raise InvalidInput(
            f"at most {BULK_LIMIT} loops at once", [FieldError("ids", f"at most {BULK_LIMIT}")]
        )
    loops = {lp.pk: lp for lp in loops_visible(viewer=viewer).filter(pk__in=ids)}
    for pk in ids:
        if pk not in loops:
            raise NotFound(f"loop {pk}")
    return [loops[pk] for pk in ids]


def _refused(loop: Loop, exc: DomainError) -> DomainError:
    exc.detail = f"“{loop.title}”: {exc.detail}. Nothing was changed."
    return exc


@transaction.atomic
def loops_bulk_close(
    *, loop_ids: Iterable[int], viewer: Viewer, reason: str, actor: Actor, now: datetime
) -> LoopsBulkResult:
    """Close every loop with ``reason`` (required), all or nothing."""
    if not (reason or "").strip():
        raise InvalidInput("closing loops needs a reason", [FieldError("reason", "required")])
    loops = _bulk_loops(loop_ids, viewer=viewer)
    for loop in loops:
        try:
            loop_close(loop=loop, actor=actor, reason=reason.strip(), now=now)
        except DomainError as exc:
            raise _refused(loop, exc) from None
    return LoopsBulkResult(loops, f"{_n(len(loops), 'loop')} closed: {reason.strip()}.")


@transaction.atomic
def loops_bulk_reassign(
    *,
    loop_ids: Iterable[int],
    viewer: Viewer,
    actor: Actor,
    now: datetime,
    team: Any = None,
    assignee: Any = None,
) -> LoopsBulkResult:
    """Give every loop to ``team`` (None: keeps each its team) and ``assignee`` (who must be
    in it), all or nothing."""
    loops = _bulk_loops(loop_ids, viewer=viewer)
    for loop in loops:
        try:
            loop_reassign(loop=loop, team=team, assignee=assignee, actor=actor, now=now)
        except DomainError as exc:
            raise _refused(loop, exc) from None
    if assignee is not None:
        who = person_name(assignee)
        return LoopsBulkResult(loops, f"{_n(len(loops), 'loop')} assigned to {who}.")
    return LoopsBulkResult(
        loops, f"{_n(len(loops), 'loop')} moved to {team.name if team else 'their team'}."
    )


def open_loop_ids_of_cases(*, case_ids: Iterable[int], viewer: Viewer) -> list[int]:
    """The open loops on ``case_ids`` that the viewer's teams own (what "close the loops of
    these cases" acts on)."""
    return list(
        loops_visible(viewer=viewer)
        .filter(case_id__in=list(case_ids), state=LoopState.OPEN)
        .values_list("pk", flat=True)
    )

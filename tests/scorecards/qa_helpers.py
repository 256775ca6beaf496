"""Conversations for the QA tests: a case with messages, solved at a given time."""

from __future__ import annotations

from datetime import datetime, timedelta

from lastmile.cases.models import Case
from lastmile.customers.services.timeline import interaction_record
from tests.cases.factories import CaseFactory


def conversation(customer, team, assignee, *, at: datetime, parts, solved=True):  # type: ignore[no-untyped-def]
    """A case of ``customer`` for ``team`` assigned to ``assignee``, with ``parts``
    (("in"|"out", body[, sentiment score])) a minute apart from ``at``, replies by the
    assignee; solved a minute after the last one (the reply loops closed by the replies)."""
    case = CaseFactory(
        customer=customer, team=team, assignee=assignee, created_at=at, updated_at=at
    )
    when = at
    for i, part in enumerate(parts):
        when = at + timedelta(minutes=i)
        inbound = part[0] == "in"
        score = part[2] if len(part) > 2 else 0.0
        interaction_record(
            customer=customer,
            case=case,
            channel="email",
            direction="inbound" if inbound else "outbound",
            occurred_at=when,
            now=when,
            body=part[1],
            actor=None if inbound else assignee,
            sentiment=(("positive" if score > 0 else "negative" if score < 0 else "neutral"), score)
            if inbound
            else None,
        )
    if solved:
        # Solved as the console would once the reply loops are closed; set here directly so
        # a test can leave a promise's loop open without the solve guard refusing.
        Case.objects.filter(pk=case.pk).update(
            status="solved", solved_at=when + timedelta(minutes=1)
        )
        case.refresh_from_db()
    return case

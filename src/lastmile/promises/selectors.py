"""Reads of promises and policies, scoped to a viewer, and the promise-kept rate.

Who sees a promise: the team that must keep it, the team of the person who made it and the
team of the case it was made on (admins and ``SYSTEM`` see every promise). Who acts on
it: the keeping team keeps or breaks it; the keeping team or the maker's side renegotiates;
an exception awaiting approval is decided by another person whose authority covers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from lastmile.core.errors import Conflict, DomainError, ErrorCode, NotFound, PermissionDenied
from lastmile.people.selectors import agent_authority, visible_team_ids
from lastmile.people.viewers import SYSTEM, Actor, Viewer, viewer_check
from lastmile.promises.checks import Verdict, needs_for, verdicts_for
from lastmile.promises.models import Policy, PolicyVersion, Promise, PromiseState
from lastmile.promises.terms import terms_validate

# --- policies ----------------------------------------------------------------------------


def policy_versions_effective(*, now: datetime) -> list[PolicyVersion]:
    """For each active policy, the highest version whose effective window contains ``now``."""
    qs = (
        PolicyVersion.objects.select_related("policy")
        .filter(policy__active=True, effective_from__lte=now)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now))
        .order_by("policy_id", "-version")
    )
    seen: set[int] = set()
    out = []
    for pv in qs:
        if pv.policy_id not in seen:
            seen.add(pv.policy_id)
            out.append(pv)
    return out


def policies_check(
    *, terms: Any, customer: dict[str, Any] | None = None, now: datetime
) -> list[Verdict]:
    """Every applicable policy's verdict on these terms (validated; InvalidInput if bad)."""
    checked = terms_validate(terms)
    return verdicts_for(
        policy_versions_effective(now=now), terms=checked, customer=dict(customer or {})
    )


def policy_list() -> list[Policy]:
    return list(Policy.objects.select_related("current", "team").order_by("key"))


# --- promises ----------------------------------------------------------------------------

_RELATED = (
    "customer",
    "case",
    "team",
    "made_by",
    "made_by_team",
    "warnings_confirmed_by",
    "overridden_by",
    "outcome_by",
    "approval_by",
    "approval_loop",
    "recorded_by",
    "replaces",
    "replaced_by",
    "loop",
)

# What a promise card shows (promises/_card.html): the people and teams named on it.
_CARD_RELATED = (
    "case",
    "team",
    "made_by",
    "made_by_team",
    "warnings_confirmed_by",
    "overridden_by",
    "outcome_by",
    "approval_by",
    "recorded_by",
)


def promises_visible(*, viewer: Viewer) -> QuerySet[Promise]:
    qs = Promise.objects.select_related(*_RELATED)
    teams = visible_team_ids(viewer)
    if teams is None:
        return qs
    return qs.filter(
        Q(team_id__in=teams) | Q(made_by_team_id__in=teams) | Q(case__team_id__in=teams)
    )


def promise_get(*, promise_id: int, viewer: Viewer) -> Promise:
    """One promise ``viewer`` may see; not visible is the same NotFound as missing."""
    found = (
        promises_visible(viewer=viewer).filter(pk=promise_id).first()
        if 0 < promise_id < 2**63
        else None
    )
    if found is None:
        raise NotFound(f"promise {promise_id}")
    return found


def promise_list(
    *,
    viewer: Viewer,
    state: str | None = None,
    team: str | None = None,
    customer: Any = None,
    case: Any = None,
    made_by: Any = None,
    made_after: datetime | None = None,
    made_before: datetime | None = None,
) -> QuerySet[Promise]:
    """Promises, soonest due first among the open, newest first otherwise.

    ``made_after``/``made_before``: made at or after / strictly before those instants (a
    scorecard period's bounds, as ``promise_kept_rate`` counts them)."""
    qs = promises_visible(viewer=viewer)
    if state:
        qs = qs.filter(state=state)
    if team:
        qs = qs.filter(team__slug=team)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if case is not None:
        qs = qs.filter(case=case)
    if made_by is not None:
        qs = qs.filter(made_by=made_by)
    if made_after is not None:
        qs = qs.filter(made_at__gte=made_after)
    if made_before is not None:
        qs = qs.filter(made_at__lt=made_before)
    return (
        qs.order_by("due_at", "pk")
        if state == PromiseState.OPEN
        else qs.order_by("-made_at", "-pk")
    )


def open_promises_for_customer(*, customer: Any) -> list[Promise]:
    """Every open promise to this customer, whichever team made it or keeps it, soonest due
    first; those awaiting a lead's approval too (the agent may have told the customer).

    Not scoped: whoever may open the customer must see what was promised to them, so nobody
    asks "who did you speak to?". The caller has checked the customer is visible.
    """
    # Only what a card shows is joined (not all of _RELATED): the case page's slowest query
    # on PostgreSQL, and most of its cost in Python was compiling the fourteen joins.
    return list(
        Promise.objects.select_related(*_CARD_RELATED)
        .filter(customer=customer, state__in=(PromiseState.OPEN, PromiseState.AWAITING))
        .order_by("due_at", "pk")
    )


def promises_for_customer(
    *, customer: Any, include_done: bool = True, case: Any = None, limit: int | None = None
) -> list[Promise]:
    """The promises a customer may see about themselves (the portal's "promises made to me"),
    on ``case`` only if given.

    Only those marked visible to the customer; newest first (at most ``limit``); a
    renegotiated promise is listed with the one that replaced it (``replaced_by``). An
    exception awaiting a lead's approval, or rejected, is not a promise (yet): not listed.
    """
    qs = (
        Promise.objects.select_related("team", "made_by", "made_by_team", "case")
        .filter(customer=customer, visible_to_customer=True)
        .exclude(state__in=(PromiseState.AWAITING, PromiseState.REJECTED))
    )
    if not include_done:
        qs = qs.filter(state=PromiseState.OPEN)
    if case is not None:
        qs = qs.filter(case=case)
    qs = qs.order_by("-made_at", "-pk")
    return list(qs[:limit] if limit is not None else qs)


def promise_history(*, promise: Promise) -> list[Promise]:
    """The chain of renegotiations this promise belongs to, oldest first (it included)."""
    qs = Promise.objects.select_related(*_RELATED)
    chain = [promise]
    seen = {promise.pk}
    while chain[0].replaces_id and chain[0].replaces_id not in seen:
        chain.insert(0, qs.get(pk=chain[0].replaces_id))
        seen.add(chain[0].pk)
    while True:
        nxt = qs.filter(replaces_id=chain[-1].pk).first()
        if nxt is None or nxt.pk in seen:
            return chain
        chain.append(nxt)
        seen.add(nxt.pk)


def exception_blocks(*, promise: Promise) -> list[Verdict]:
    """The blocks the promise failed when it was checked, with each version's authority term
    (the stored verdicts leave it out): what its exception asks to override."""
    failing = promise.failing("block")
    terms = {
        (pv.policy.key, pv.version): pv.authority_term
        for pv in PolicyVersion.objects.select_related("policy").filter(
            policy__key__in={v["policy"] for v in failing}
        )
    }
    return [
        Verdict(
            policy=v["policy"],
            title=v["title"],
            version=v["version"],
            severity=v["severity"],
            result=v["result"],
            text=v["text"],
            detail=v.get("detail", ""),
            authority_term=terms.get((v["policy"], v["version"]), ""),
        )
        for v in failing
    ]


def exception_refusal(*, promise: Promise, user: Actor) -> DomainError | None:
    """Why ``user`` may not approve or reject this promise's exception; None if they may.

    One rule for the service, the console and the API: the promise is awaiting approval;
    the decider is a person, neither who asked for the exception nor who made the promise
    (a second pair of eyes); and their authority covers every block it failed.
    """
    if promise.state != PromiseState.AWAITING:
        return Conflict(
            f"promise #{promise.pk} is {promise.state}, not awaiting approval",
            code=ErrorCode.PROMISE_NOT_AWAITING,
        )
    if user is None:
        return PermissionDenied(
            "an exception is approved by a person with the authority, not by an integration"
        )
    if user.pk in (promise.recorded_by_id, promise.made_by_id):
        return PermissionDenied(
            "you asked for this exception (or made the promise): another person whose "
            "authority covers it must approve or reject it"
        )
    needs = needs_for(
        exception_blocks(promise=promise),
        terms=promise.terms,
        authority=agent_authority(user),
    )
    if needs.not_overridable:
        names = ", ".join(v.policy for v in needs.not_overridable)
        return PermissionDenied(
            f"your authority does not cover overriding {names}; a lead whose authority "
            "does must decide"
        )
    return None


def promise_actions(*, promise: Promise, viewer: Viewer) -> set[str]:
    """What ``viewer`` may do with a promise: keep, break, renegotiate an open one; approve
    or reject one awaiting approval."""
    teams = visible_team_ids(viewer)
    return _actions(promise, teams) | _deciding(promise, viewer)


def _deciding(promise: Promise, viewer: Viewer) -> set[str]:
    # An exception is decided by a person: SYSTEM reads every promise but decides none.
    if promise.state != PromiseState.AWAITING or viewer is SYSTEM:
        return set()
    return (
        {"approve", "reject"} if exception_refusal(promise=promise, user=viewer) is None else set()
    )


def promises_with_actions(
    *, promises: list[Promise], viewer: Viewer, team_ids: Any = ...
) -> list[tuple[Promise, set[str]]]:
    """Each promise with what ``viewer`` may do with it (their teams read once).

    ``team_ids``: the viewer's ``visible_team_ids`` if the caller has them already.
    """
    viewer_check(viewer)  # also when the caller knows the teams: None is no viewer
    teams = visible_team_ids(viewer) if team_ids is ... else team_ids
    return [(p, _actions(p, teams) | _deciding(p, viewer)) for p in promises]


def _actions(promise: Promise, teams: set[int] | None) -> set[str]:
    if promise.state != PromiseState.OPEN:
        return set()
    if teams is None:
        return {"keep", "break", "renegotiate"}
    out: set[str] = set()
    if promise.team_id in teams:
        out |= {"keep", "break", "renegotiate"}
    maker_side = {
        promise.made_by_team_id,
        promise.case.team_id if promise.case is not None else None,
    }
    if maker_side & teams:
        out.add("renegotiate")
    return out


# --- the promise-kept rate ---------------------------------------------------------------


@dataclass
class KeptRate:
    """Promises of one team (that keeps them) or one agent (who made them)."""

    key: str  # team slug or username
    name: str
    made: int
    open: int
    kept: int
    broken: int
    renegotiated: int
    withdrawn: int

    @property
    def rate(self) -> float | None:
        """Kept out of those settled kept or broken; None before any is settled.

        Renegotiated and withdrawn promises are not counted: the replacement is.
        """
        settled = self.kept + self.broken
        return self.kept / settled if settled else None


def promise_kept_rate(
    *,
    by: str = "team",
    since: datetime | None = None,
    until: datetime | None = None,
    viewer: Viewer,
) -> list[KeptRate]:
    """The promise-kept rate per team (the keeping team) or per agent (the maker).

    Counts promises made in ``[since, until)``, in one grouped query; rows sorted by name.
    ``viewer`` scopes to the promises they may see (``SYSTEM``: every promise).
    """
    if by not in ("team", "agent"):
        raise ValueError("by is 'team' or 'agent'")
    qs = promises_visible(viewer=viewer).order_by()
    if since is not None:
        qs = qs.filter(made_at__gte=since)
    if until is not None:
        qs = qs.filter(made_at__lt=until)
    group = ("team__slug", "team__name") if by == "team" else ("made_by__username", "made_by_name")
    counts = {s: Count("pk", filter=Q(state=s)) for s in PromiseState.values}
    rows: dict[str, KeptRate] = {}
    for row in qs.values(*group).annotate(made=Count("pk"), **counts):
        key = row[group[0]] or "(deleted)"
        rate = rows.get(key)
        if rate is None:
            rate = rows[key] = KeptRate(key, row[group[1]] or key, 0, 0, 0, 0, 0, 0)
        rate.made += row["made"]
        rate.open += row["open"]
        rate.kept += row["kept"]
        rate.broken += row["broken"]
        rate.renegotiated += row["renegotiated"]
        rate.withdrawn += row["withdrawn"]
    return sorted(rows.values(), key=lambda r: r.name.lower())

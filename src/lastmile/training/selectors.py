"""Reads for practice and onboarding, each scoped to a viewer.

Who sees what: an agent the practice cases and path of the teams they work in, and their
own attempts; a lead those of their teams, and every attempt of their teams' agents; an
admin, a superuser and ``SYSTEM`` everything. Anyone else sees nothing, and a single row
not theirs is a 404, the same as a missing one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from lastmile.core.errors import NotFound
from lastmile.knowledge.selectors import ArticleHit, articles_search, suggestion_query
from lastmile.people.models import Role, Team
from lastmile.people.selectors import agent_for, visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check
from lastmile.promises.checks import Needs, Verdict, needs_for, verdict_for
from lastmile.promises.selectors import policies_check, policy_versions_effective
from lastmile.promises.terms import terms_format
from lastmile.training.models import (
    AttemptState,
    OnboardingPath,
    OnboardingStep,
    PracticeAttempt,
    PracticeCase,
)

SUGGESTIONS = 5
TREND_WEEKS = 8


@dataclass(frozen=True)
class TrainingScope:
    """``teams``: the teams whose practice cases and paths the viewer sees (None: all);
    ``led``: the teams whose agents' attempts they see and score (None: all); ``user_id``:
    whose own attempts they see; ``nobody``: no agent profile, nothing to see."""

    teams: frozenset[int] | None
    led: frozenset[int] | None
    user_id: int | None
    nobody: bool = False

    @property
    def everything(self) -> bool:
        return self.teams is None

    def leads(self, team_id: int) -> bool:
        return self.led is None or team_id in self.led


def training_scope(viewer: Viewer) -> TrainingScope:
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        return TrainingScope(None, None, None)
    teams = visible_team_ids(viewer)
    if teams is None:
        return TrainingScope(None, None, viewer.pk)
    agent = agent_for(viewer)
    if agent is None:
        return TrainingScope(frozenset(), frozenset(), viewer.pk, nobody=True)
    led = frozenset(teams) if agent.role == Role.LEAD else frozenset()
    return TrainingScope(frozenset(teams), led, viewer.pk)


def is_lead(viewer: Viewer) -> bool:
    """Whether ``viewer`` leads any team (or is an admin): who makes cases and scores."""
    scope = training_scope(viewer)
    return scope.led is None or bool(scope.led)


# --- practice cases and paths --------------------------------------------------------------


def practice_cases_visible(*, viewer: Viewer, active: bool | None = None) -> QuerySet[PracticeCase]:
    scope = training_scope(viewer)
    qs = PracticeCase.objects.select_related("team", "scorecard")
    if scope.teams is not None:
        qs = qs.filter(team_id__in=scope.teams)
    if active is not None:
        qs = qs.filter(active=active)
    return qs.order_by("-created_at", "-pk")


def practice_case_get(*, viewer: Viewer, case_id: int) -> PracticeCase:
    found = practice_cases_visible(viewer=viewer).filter(pk=case_id).first()
    if found is None:
        raise NotFound(f"practice case {case_id}")
    return found


def paths_visible(*, viewer: Viewer) -> QuerySet[OnboardingPath]:
    scope = training_scope(viewer)
    steps = OnboardingStep.objects.select_related("practice_case").order_by("position")
    qs = OnboardingPath.objects.select_related("team").prefetch_related(
        Prefetch("steps", queryset=steps)
    )
    if scope.teams is not None:
        qs = qs.filter(team_id__in=scope.teams)
    return qs.order_by("team__name")


def path_get(*, viewer: Viewer, team: Team) -> OnboardingPath | None:
    """The path of ``team`` (None if it has none yet); NotFound if the team is not seen."""
    scope = training_scope(viewer)
    if scope.teams is not None and team.pk not in scope.teams:
        raise NotFound(f"team {team.slug}")
    return paths_visible(viewer=viewer).filter(team=team).first()


# --- attempts -----------------------------------------------------------------------------


def attempts_visible(*, viewer: Viewer) -> QuerySet[PracticeAttempt]:
    scope = training_scope(viewer)
    qs = PracticeAttempt.objects.select_related(
        "practice_case", "agent", "team", "handoff_team", "scored_by"
    )
    if scope.led is not None:
        qs = qs.filter(Q(agent_id=scope.user_id) | Q(team_id__in=scope.led))
    return qs


def attempt_list(
    *,
    viewer: Viewer,
    state: str | None = None,
    agent_id: int | None = None,
    practice_case_id: int | None = None,
    team_id: int | None = None,
) -> QuerySet[PracticeAttempt]:
    qs = attempts_visible(viewer=viewer)
    if state is not None:
        qs = qs.filter(state=state)
    if agent_id is not None:
        qs = qs.filter(agent_id=agent_id)
    if practice_case_id is not None:
        qs = qs.filter(practice_case_id=practice_case_id)
    if team_id is not None:
        qs = qs.filter(team_id=team_id)
    return qs.order_by("-updated_at", "-pk")


def attempt_get(*, viewer: Viewer, attempt_id: int) -> PracticeAttempt:
    found = (
        attempts_visible(viewer=viewer)
        .prefetch_related("scores__category", "events__actor")
        .filter(pk=attempt_id)
        .first()
    )
    if found is None:
        raise NotFound(f"practice attempt {attempt_id}")
    return found


def attempt_open(*, agent: Any, practice_case: PracticeCase) -> PracticeAttempt | None:
    """The agent's open attempt at the case (draft, submitted or returned), if any."""
    return (
        PracticeAttempt.objects.filter(
            agent=agent,
            practice_case=practice_case,
            state__in=[AttemptState.DRAFT, AttemptState.SUBMITTED, AttemptState.RETURNED],
        )
        .select_related("handoff_team")
        .first()
    )


def attempts_waiting(*, viewer: Viewer) -> QuerySet[PracticeAttempt]:
    """The submitted attempts ``viewer`` scores (their teams' agents', not their own),
    oldest first."""
    scope = training_scope(viewer)
    if scope.led is not None and not scope.led:
        return PracticeAttempt.objects.none()
    return (
        attempts_visible(viewer=viewer)
        .filter(state=AttemptState.SUBMITTED)
        .exclude(agent_id=scope.user_id)
        .order_by("submitted_at", "pk")
    )


# --- progress and the QA trend ------------------------------------------------------------


@dataclass
class Progress:
    """An agent's progress on their teams' paths: ``done`` of ``total`` steps have a scored
    attempt; ``weeks``: the mean practice score of each ISO week (oldest first) with one."""

    user_id: int
    done: int = 0
    total: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    weeks: list[tuple[str, float, int]] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def _week_key(at: datetime) -> str:
    year, week, _ = at.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def progress_of(
    user_ids: list[int], *, until: datetime, weeks: int = TREND_WEEKS
) -> dict[int, Progress]:
    """Each user's ``Progress`` on the paths of the teams they work in, and their scored
    attempts' weekly means over the ``weeks`` weeks before ``until``. Four queries for any
    number of users. The caller has checked the viewer may see these users."""
    from lastmile.people.models import Agent

    out = {uid: Progress(user_id=uid) for uid in user_ids}
    if not user_ids:
        return out
    memberships: defaultdict[int, set[int]] = defaultdict(set)
    for uid, tid in Agent.objects.filter(user_id__in=user_ids, teams__isnull=False).values_list(
        "user_id", "teams"
    ):
        memberships[uid].add(tid)
    team_ids = set().union(*memberships.values()) if memberships else set()
    steps_by_team: defaultdict[int, list[OnboardingStep]] = defaultdict(list)
    for step in (
        OnboardingStep.objects.filter(path__team_id__in=team_ids, practice_case__active=True)
        .select_related("practice_case", "path")
        .order_by("path__team__name", "position")
    ):
        steps_by_team[step.path.team_id].append(step)
    scored = (
        PracticeAttempt.objects.filter(agent_id__in=user_ids, state=AttemptState.SCORED)
        .values("agent_id", "practice_case_id", "score", "scored_at")
        .order_by("scored_at", "pk")
    )
    best: dict[tuple[int, int], float] = {}
    since = until - timedelta(weeks=weeks)
    by_week: defaultdict[int, defaultdict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in scored:
        key = (row["agent_id"], row["practice_case_id"])
        best[key] = max(best.get(key, 0.0), row["score"] or 0.0)
        at = row["scored_at"]
        if at is not None and since <= at < until:
            by_week[row["agent_id"]][_week_key(at)].append(row["score"] or 0.0)
    for uid, progress in out.items():
        seen: set[int] = set()
        for tid in sorted(memberships.get(uid, ())):
            for step in steps_by_team.get(tid, []):
                if step.practice_case_id in seen:
                    continue
                seen.add(step.practice_case_id)
                score = best.get((uid, step.practice_case_id))
                progress.steps.append(
                    {"position": step.position, "case": step.practice_case, "score": score}
                )
                progress.total += 1
                progress.done += score is not None
        progress.weeks = [
            (week, round(sum(v) / len(v), 2), len(v)) for week, v in sorted(by_week[uid].items())
        ]
    return out


def practice_standing_of(
    user_ids: list[int], *, until: datetime, target: float | None = None
) -> dict[int, Any]:
    """Each user's practice at ``until`` for the pay plans' practice gate
    (``scorecards.pay.PracticeStanding``): of the steps of their teams' onboarding paths, how
    many have an attempt scored before ``until``; and how many practice cases (any, of any
    team) have their best attempt scored before ``until`` at or above ``target`` (0 without
    one). Three queries for any number of users."""
    from lastmile.people.models import Agent
    from lastmile.scorecards.pay import PracticeStanding

    if not user_ids:
        return {}
    memberships: defaultdict[int, set[int]] = defaultdict(set)
    for uid, tid in Agent.objects.filter(user_id__in=user_ids, teams__isnull=False).values_list(
        "user_id", "teams"
    ):
        memberships[uid].add(tid)
    team_ids = set().union(*memberships.values()) if memberships else set()
    steps_by_team: defaultdict[int, set[int]] = defaultdict(set)
    for tid, case_id in OnboardingStep.objects.filter(
        path__team_id__in=team_ids, practice_case__active=True
    ).values_list("path__team_id", "practice_case_id"):
        steps_by_team[tid].add(case_id)
    best: dict[tuple[int, int], float] = {}
    for uid, case_id, score in PracticeAttempt.objects.filter(
        agent_id__in=user_ids, state=AttemptState.SCORED, scored_at__lt=until
    ).values_list("agent_id", "practice_case_id", "score"):
        best[(uid, case_id)] = max(best.get((uid, case_id), 0.0), score or 0.0)
    at_target: defaultdict[int, int] = defaultdict(int)
    if target is not None:
        for (uid, _), score in best.items():
            at_target[uid] += score >= target
    out = {}
    for uid in user_ids:
        steps: set[int] = set().union(*(steps_by_team[t] for t in memberships.get(uid, ())))
        out[uid] = PracticeStanding(
            path_done=sum((uid, case_id) in best for case_id in steps),
            path_total=len(steps),
            cases_at_target=at_target[uid],
        )
    return out


def agent_progress_counts(*, team_ids: list[int]) -> dict[int, int]:
    """How many scored attempts each team has (the index's summary)."""
    rows = (
        PracticeAttempt.objects.filter(team_id__in=team_ids, state=AttemptState.SCORED)
        .values("team_id")
        .annotate(n=Count("pk"))
    )
    return {r["team_id"]: r["n"] for r in rows}


# --- the dry-run check while drafting -----------------------------------------------------


@dataclass
class PromiseCheck:
    """One drafted promise's policy verdicts (nothing recorded), or why its terms could
    not be read."""

    index: int
    text: str
    terms: dict[str, Any] | None
    verdicts: list[Verdict]
    needs: Needs | None
    terms_error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "text": self.text,
            "terms": self.terms,
            "terms_error": self.terms_error,
            "verdicts": [v.as_dict() for v in self.verdicts],
        }


@dataclass
class PracticeCheck:
    promises: list[PromiseCheck]
    suggestions: list[ArticleHit]
    example: str = ""  # terms an effective policy applies to, for the hint ("" if none)

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.promises for v in p.verdicts if v.failed)


def practice_check(
    *,
    practice_case: PracticeCase,
    reply: str,
    promises: list[tuple[str, dict[str, Any] | None, str]],
    authority: dict[str, Any] | None,
    now: datetime,
) -> PracticeCheck:
    """The policy verdicts of each drafted promise (``(text, terms or None, terms_error)``)
    against every effective policy, as ``POST /api/v1/policies/check`` gives them, and the
    knowledge articles for the conversation and the reply: a dry run that records nothing
    and names no customer (the customer's attributes are not part of a practice case)."""
    checked = []
    for i, (text, terms, problem) in enumerate(promises):
        if terms is None or problem:
            checked.append(PromiseCheck(i, text, None, [], None, problem))
            continue
        verdicts = policies_check(terms=terms, customer={}, now=now)
        checked.append(
            PromiseCheck(
                i, text, terms, verdicts, needs_for(verdicts, terms=terms, authority=authority)
            )
        )
    return PracticeCheck(
        promises=checked,
        suggestions=practice_suggestions(practice_case, reply),
        example=terms_example(team_id=practice_case.team_id, now=now),
    )


_HAS = re.compile(r"\bhas\(terms\.([a-z_][a-z0-9_]*)\)")
_EQUALS = re.compile(r"\bterms\.([a-z_][a-z0-9_]*)\s*==\s*(\"[^\"\\]*\"|-?\d+(?:\.\d+)?)")
_BOUND = re.compile(r"\bterms\.([a-z_][a-z0-9_]*)\)?\s*(<=|<|>=|>)\s*(-?\d+(?:\.\d+)?)")


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _example_for(applies_when: str, rule: str) -> dict[str, Any] | None:
    """Terms read off a policy's CEL: each ``terms.k == v`` of its applies_when, and each
    term it needs (``has(terms.k)``) at the bound its rule or applies_when sets; None when
    a needed term has no value to read."""
    terms: dict[str, Any] = {}
    for key, value in _EQUALS.findall(applies_when):
        terms[key] = value[1:-1] if value.startswith('"') else _number(value)
    for key, op, value in _BOUND.findall(f"{applies_when} && {rule}"):
        if key not in terms:
            bound = _number(value)
            terms[key] = bound - 1 if op == "<" else bound + 1 if op == ">" else bound
    for key in _HAS.findall(applies_when):
        if key not in terms:
            return None
    return terms or None


def terms_example(*, team_id: int | None, now: datetime) -> str:
    """Promise terms that an effective policy applies to, as an agent would type them (the
    practice page's hint): read off the policies' CEL (the team's own first, then the rest,
    each by key) and kept only when the policy check says the policy applies to them; ""
    when no policy gives such terms."""
    versions = sorted(
        policy_versions_effective(now=now),
        key=lambda pv: (pv.policy.team_id != team_id, pv.policy.team_id is not None, pv.policy.key),
    )
    for version in versions:
        terms = _example_for(version.applies_when, version.rule)
        if terms is None:
            continue
        verdict = verdict_for(version, terms=terms, customer={})
        if verdict is not None and verdict.result != "error":
            return terms_format(terms)
    return ""


def practice_suggestions(practice_case: PracticeCase, reply: str) -> list[ArticleHit]:
    """Articles for the practice case: its title (twice: what it is about), the customer's
    last three messages and the reply being drafted, as a case page suggests them."""
    said = [m["text"] for m in practice_case.conversation if m.get("author") == "customer"][-3:]
    query = suggestion_query([practice_case.title, practice_case.title, *said, reply])
    return articles_search(query, limit=SUGGESTIONS, match="any")

"""QA writes: the automatic first pass over closed conversations, and reviews by leads.

Reviews are never changed once written; a reviewer overrides the automatic pass with a new
review pointing at it (``qa_review_create(overrides=...)``).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.selectors import case_get, ref_number
from lastmile.core.errors import FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.core.events import event_emit
from lastmile.customers.models import Direction, Interaction
from lastmile.loops.models import Loop
from lastmile.people.models import Agent, Role
from lastmile.people.selectors import agent_for
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check
from lastmile.promises.models import Promise
from lastmile.scorecards.models import QaCategory, QaReview, QaScore, QaScorecard
from lastmile.scorecards.qa import RULES, Message, Rated, review_score, rules_judge
from lastmile.scorecards.selectors import Period, scope_of

CLOSED = (CaseStatus.SOLVED, CaseStatus.CLOSED)
AUTOMATIC_NAME = "Automatic"
AUTOMATIC_BATCH = 500


def qa_automatic_scorecard() -> QaScorecard:
    """The built-in "Automatic" scorecard, made with one category per rule on first use
    (0 failed, 1 passed; weights and critical flag from ``qa.RULES``). Safe to race: the
    one-automatic constraint keeps one, and the loser reads it."""
    found = QaScorecard.objects.filter(automatic=True).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            card = QaScorecard.objects.create(name=AUTOMATIC_NAME, automatic=True)
            for position, (rule, (name, weight, critical)) in enumerate(RULES.items()):
                QaCategory.objects.create(
                    scorecard=card,
                    name=name,
                    rule=rule,
                    weight=weight,
                    min_score=0,
                    max_score=1,
                    critical=critical,
                    position=position,
                )
            return card
    except IntegrityError:
        return QaScorecard.objects.get(automatic=True)


def _conversation(case: Case) -> list[Interaction]:
    return list(
        Interaction.objects.filter(case=case)
        .exclude(direction=Direction.NOTE)
        .order_by("occurred_at", "pk")
    )


def _replier(rows: list[Interaction]) -> Any:
    for row in reversed(rows):
        if row.direction == Direction.OUTBOUND and row.actor_id is not None:
            return row.actor
    return None


def qa_autoreview(*, case: Case, now: datetime) -> QaReview | None:
    """The automatic review of a closed ``case``, written once: the rules of ``qa`` over
    its messages, each a category of the Automatic scorecard, for the case's assignee (or
    the last agent who replied). Returns the case's automatic review (the one written
    before, if any); None when the case is not closed or nobody handled it."""
    return _autoreview(case, now)[0]


def _autoreview(case: Case, now: datetime) -> tuple[QaReview | None, bool]:
    """``qa_autoreview``'s review, and whether this call wrote it."""
    existing = QaReview.objects.filter(case=case, automatic=True).first()
    if existing is not None:
        return existing, False
    if case.status not in CLOSED:
        return None, False
    rows = _conversation(case)
    agent = case.assignee if case.assignee_id is not None else _replier(rows)
    if agent is None:
        return None, False
    card = qa_automatic_scorecard()
    categories = {c.rule: c for c in card.categories.all()}
    verdicts = rules_judge(
        [
            Message(
                at=r.occurred_at,
                inbound=r.direction == Direction.INBOUND,
                body=r.body,
                sentiment=r.sentiment_score,
            )
            for r in rows
        ],
        promises=Promise.objects.filter(case=case).count(),
    )
    scored = [(categories[rule], int(v.passed), v.reason) for rule, v in verdicts.items()]
    last_reply = next((r for r in reversed(rows) if r.direction == Direction.OUTBOUND), None)
    try:
        with transaction.atomic():
            review = QaReview.objects.create(
                scorecard=card,
                case=case,
                interaction=last_reply,
                agent=agent,
                team=case.team,
                automatic=True,
                score=_score(scored),
                conversation_at=case.solved_at or now,
                created_at=now,
            )
            _scores_write(review, scored)
            _reviewed(review, at=now)
    except IntegrityError:
        # Another worker wrote it first (one automatic review per case).
        return QaReview.objects.get(case=case, automatic=True), False
    return review, True


def _score(scored: list[tuple[QaCategory, int, str]]) -> float:
    return review_score(
        [
            Rated(weight=c.weight, low=c.min_score, high=c.max_score, critical=c.critical, score=s)
            for c, s, _ in scored
        ]
    )


def _scores_write(review: QaReview, scored: list[tuple[QaCategory, int, str]]) -> None:
    QaScore.objects.bulk_create(
        [
            QaScore(review=review, category=c, score=s, reason=reason[:300])
            for c, s, reason in scored
        ]
    )


def qa_autoreview_pending(*, now: datetime, limit: int = AUTOMATIC_BATCH) -> int:
    """The automatic pass over closed cases without an automatic review yet (oldest first,
    at most ``limit``), each once: what was reviewed before is not read again, so a run
    after a run does nothing. Cases nobody handled (no assignee, no agent's reply) are
    left out. Returns how many reviews were written."""
    handled = Q(assignee__isnull=False) | Exists(
        Interaction.objects.filter(
            case=OuterRef("pk"), direction=Direction.OUTBOUND, actor__isnull=False
        )
    )
    reviewed = Exists(QaReview.objects.filter(case=OuterRef("pk"), automatic=True))
    cases = (
        Case.objects.filter(status__in=CLOSED)
        .filter(handled)
        .exclude(reviewed)
        .select_related("assignee", "team")
        .order_by("pk")[:limit]
    )
    return sum(_autoreview(case, now)[1] for case in cases)


# --- reviews by people ------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreIn:
    category: int
    score: int


def _may_review(reviewer: User, agent: User) -> None:
    """Admins (and superusers) review anyone; a lead the agents of the teams they work in;
    nobody their own conversation."""
    if reviewer.pk == agent.pk:
        raise PermissionDenied("nobody reviews their own conversation")
    if reviewer.is_superuser:
        return
    profile = agent_for(reviewer)
    if profile is None or profile.role not in (Role.LEAD, Role.ADMIN):
        raise PermissionDenied("only team leads and admins review conversations")
    if profile.role == Role.ADMIN:
        return
    shared = Agent.objects.filter(user_id=agent.pk, teams__in=profile.teams.values("pk")).exists()
    if not shared:
        raise PermissionDenied(f"you lead none of {agent.username}'s teams")


def _case_for(ref: str, viewer: Viewer) -> Case:
    if ref_number(ref) is None:
        raise InvalidInput(f"no case {ref!r}", [FieldError("case", f"no case {ref!r}")])
    try:
        return case_get(ref=ref, viewer=viewer)
    except NotFound:
        # Not yours is missing, and a missing case in a body is invalid input.
        raise InvalidInput(f"no case {ref!r}", [FieldError("case", f"no case {ref!r}")]) from None


def qa_review_create(
    *,
    viewer: Viewer,
    case_ref: str,
    scorecard_id: int,
    scores: list[ScoreIn],
    comment: str = "",
    overrides_id: int | None = None,
    loop_id: int | None = None,
    interaction_id: int | None = None,
    now: datetime,
) -> QaReview:
    """A review by ``viewer`` (a lead of the agent's team, or an admin) of a case.

    1. The case (422 ``case`` when unknown or not the viewer's to see); the agent reviewed
       is its assignee, else the last agent who replied, else 422 ``case``; with
       ``overrides``, the overridden automatic review's agent (422 ``overrides`` unless it
       is an automatic review of this case).
    2. 403 unless the viewer may review that agent (``_may_review``).
    3. The scorecard (422 ``scorecard``: unknown, inactive, another team's, or the
       Automatic one outside an override; an override uses its target's scorecard); every
       category scored once within min..max (422 naming ``scores``, ``scores[i].category``
       or ``scores[i].score``); ``loop`` / ``interaction``, when given, of this case (422
       naming them otherwise).
    4. Writes the review and its scores, scored by ``qa.review_score``; nothing else is
       changed (an overridden review stays as it was).
    """
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        raise PermissionDenied("a review is by a person: use a lead's or an admin's token")
    case = _case_for(case_ref, viewer)
    target = None
    if overrides_id is not None:
        target = QaReview.objects.filter(pk=overrides_id, case=case, automatic=True).first()
        if target is None:
            raise InvalidInput(
                "overrides: not an automatic review of this case",
                [FieldError("overrides", f"no automatic review {overrides_id} of {case.ref}")],
            )
        agent = target.agent
    else:
        agent = case.assignee or _replier(_conversation(case))
        if agent is None:
            raise InvalidInput(
                f"{case.ref} has no agent to review",
                [FieldError("case", "the case has no assignee and no agent replied on it")],
            )
    _may_review(viewer, agent)
    card = _scorecard_for(scorecard_id, case=case, agent=agent, target=target)
    scored = _scores_checked(card, scores)
    loop = interaction = None
    if loop_id is not None:
        loop = Loop.objects.filter(pk=loop_id, case=case).first()
        if loop is None:
            raise InvalidInput(
                f"no loop {loop_id} on {case.ref}",
                [FieldError("loop", f"no loop {loop_id} on {case.ref}")],
            )
    if interaction_id is not None:
        interaction = Interaction.objects.filter(pk=interaction_id, case=case).first()
        if interaction is None:
            raise InvalidInput(
                f"no interaction {interaction_id} on {case.ref}",
                [FieldError("interaction", f"no interaction {interaction_id} on {case.ref}")],
            )
    if target is not None and interaction is None:
        interaction = target.interaction
    with transaction.atomic():
        review = QaReview.objects.create(
            scorecard=card,
            case=case,
            interaction=interaction,
            loop=loop,
            agent=agent,
            team=target.team if target else case.team,
            reviewer=viewer,
            overrides=target,
            score=_score(scored),
            comment=comment,
            # An override stays in its target's period: it replaces that score there.
            conversation_at=target.conversation_at if target else (case.solved_at or now),
            created_at=now,
        )
        _scores_write(review, scored)
        _reviewed(review, at=now)
    return review


def _reviewed(review: QaReview, *, at: datetime) -> None:
    """Tell ``qa.reviewed`` in the review's transaction (coaching opens a lesson below the
    team's target)."""
    event_emit(
        "qa.reviewed",
        {
            "review": review.pk,
            "case": review.case_id,
            "agent": review.agent_id,
            "team": review.team_id,
            "reviewer": review.reviewer_id,
            "automatic": review.automatic,
            "overrides": review.overrides_id,
            "score": review.score,
        },
        at=at,
    )


def _scorecard_for(
    scorecard_id: int, *, case: Case, agent: User, target: QaReview | None
) -> QaScorecard:
    def bad(reason: str) -> InvalidInput:
        return InvalidInput(f"scorecard: {reason}", [FieldError("scorecard", reason)])

    card = QaScorecard.objects.filter(pk=scorecard_id).first()
    if card is None:
        raise bad(f"no scorecard {scorecard_id}")
    if target is not None:
        if card.pk != target.scorecard_id:
            raise bad("an override is scored on the overridden review's scorecard")
        return card
    if card.automatic:
        raise bad("the Automatic scorecard is the first pass's: override its review instead")
    if not card.active:
        raise bad(f"scorecard {card.name!r} is inactive")
    if card.team_id is not None:
        teams = set(Agent.objects.filter(user_id=agent.pk).values_list("teams", flat=True))
        if card.team_id != case.team_id and card.team_id not in teams:
            raise bad(f"scorecard {card.name!r} is another team's")
    return card


def _scores_checked(card: QaScorecard, scores: list[ScoreIn]) -> list[tuple[QaCategory, int, str]]:
    categories = {c.pk: c for c in card.categories.all()}
    errors: list[FieldError] = []
    seen: set[int] = set()
    scored = []
    for i, s in enumerate(scores):
        cat = categories.get(s.category)
        if cat is None:
            errors.append(
                FieldError(
                    f"scores[{i}].category", f"no category {s.category} on scorecard {card.pk}"
                )
            )
            continue
        if cat.pk in seen:
            errors.append(FieldError(f"scores[{i}].category", f"category {cat.pk} scored twice"))
            continue
        seen.add(cat.pk)
        if not cat.min_score <= s.score <= cat.max_score:
            errors.append(
                FieldError(
                    f"scores[{i}].score",
                    f"{cat.name!r} is scored from {cat.min_score} to {cat.max_score}, not {s.score}",
                )
            )
            continue
        scored.append((cat, s.score, ""))
    for pk, cat in categories.items():
        if pk not in seen:
            errors.append(FieldError("scores", f"category {pk} ({cat.name!r}) has no score"))
    if errors:
        raise InvalidInput(f"bad scores: {errors[0].field}: {errors[0].reason}", errors)
    if not scored:
        raise InvalidInput("a review scores at least one category", [FieldError("scores", "empty")])
    return scored


def qa_sample(
    *, viewer: Viewer, period: Period, n: int, seed: int, team: Any = None
) -> dict[str, list[Case]]:
    """``n`` closed cases per agent (fewer if they closed fewer) solved in ``period``, for
    the agents ``viewer`` leads (every agent for an admin), narrowed to ``team``: the same
    ``seed`` and period always pick the same cases (a random sample seeded by
    ``seed:period:agent`` over the agent's cases in number order). By username."""
    viewer = viewer_check(viewer)
    if n < 1 or n > 100:
        raise InvalidInput("n: 1 to 100", [FieldError("n", "from 1 to 100")])
    scope = scope_of(viewer)
    profile = agent_for(viewer) if viewer is not SYSTEM else None
    if scope.agents is not None and (profile is None or profile.role != Role.LEAD):
        raise PermissionDenied("only team leads and admins sample conversations to review")
    cases = Case.objects.filter(
        status__in=CLOSED,
        solved_at__gte=period.start,
        solved_at__lt=period.end,
        assignee__isnull=False,
    ).select_related("assignee", "customer", "team")
    if scope.agents is not None:
        cases = cases.filter(assignee_id__in=scope.agents)
    if team is not None:
        if scope.named is not None and team.pk not in scope.named:
            raise NotFound(f"team {team.slug}")
        cases = cases.filter(assignee__agent__teams=team)
    by_agent: defaultdict[str, list[Case]] = defaultdict(list)
    for case in cases.order_by("number"):
        assert case.assignee is not None  # filtered above
        by_agent[case.assignee.username].append(case)
    out = {}
    for username in sorted(by_agent):
        pool = by_agent[username]
        rng = random.Random(f"{seed}:{period.key}:{username}")
        picked = rng.sample(pool, min(n, len(pool)))
        out[username] = sorted(picked, key=lambda c: c.number)
    return out


# --- the review form (the console's QA pages) ----------------------------------------------


def qa_may_sample(viewer: Viewer) -> bool:
    """Whether ``viewer`` may sample conversations and review them (a lead or an admin), as
    ``qa_sample`` decides: the console shows the Sample form and the Override links to them."""
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        return False
    if scope_of(viewer).agents is None:
        return True
    profile = agent_for(viewer)
    return profile is not None and profile.role == Role.LEAD


def qa_review_subject(
    *, viewer: Viewer, case_ref: str, overrides_id: int | None = None
) -> tuple[Case, User, QaReview | None]:
    """What a review form is of: the case (404 when ``viewer`` may not see it), the
    automatic review it overrides (404 unless an automatic review of this case), and the
    agent reviewed, chosen as ``qa_review_create`` chooses (422 ``case`` when nobody
    handled it); 403 unless ``viewer`` may review that agent."""
    viewer = viewer_check(viewer)
    if viewer is SYSTEM:
        raise PermissionDenied("a review is by a person")
    case = case_get(ref=case_ref, viewer=viewer)
    target = None
    if overrides_id is not None:
        target = (
            QaReview.objects.filter(pk=overrides_id, case=case, automatic=True)
            .select_related("scorecard", "agent")
            .first()
        )
        if target is None:
            raise NotFound(f"automatic review {overrides_id} of {case.ref}")
        agent = target.agent
    else:
        agent = case.assignee or _replier(_conversation(case))
        if agent is None:
            raise InvalidInput(
                f"{case.ref} has no agent to review",
                [FieldError("case", "the case has no assignee and no agent replied on it")],
            )
    _may_review(viewer, agent)
    return case, agent, target


def qa_review_scorecards(*, case: Case, agent: User, target: QaReview | None) -> list[QaScorecard]:
    """The scorecards a review of ``case`` may use, as ``qa_review_create`` accepts them: an
    override's, its target's; otherwise every active scorecard but the Automatic one that
    is every team's, the case's team's or one of the agent's teams'. By name."""
    cards = QaScorecard.objects.prefetch_related("categories").select_related("team")
    if target is not None:
        return list(cards.filter(pk=target.scorecard_id))
    teams = {t for t in Agent.objects.filter(user_id=agent.pk).values_list("teams", flat=True) if t}
    if case.team_id is not None:
        teams.add(case.team_id)
    return list(
        cards.filter(active=True, automatic=False)
        .filter(Q(team__isnull=True) | Q(team_id__in=teams))
        .order_by("name", "pk")
    )


def qa_conversation(case: Case) -> list[Interaction]:
    """The messages a review reads, in order (notes left out), with who wrote them."""
    return list(
        Interaction.objects.filter(case=case)
        .exclude(direction=Direction.NOTE)
        .select_related("actor")
        .order_by("occurred_at", "pk")
    )

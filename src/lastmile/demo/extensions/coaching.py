"""The coaching part of the demo: the Front office lead reviews one of the Front office
agent's closed conversations below the team's target (through the scorecards' review
service), which opens a lesson for the agent and a coaching loop for the lead. Runs after
the scorecards' part (its first pass has reviewed the closed conversations). Lessons the
history's broken promises and breaches opened on their own are counted too."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lastmile.cases.models import Case, CaseStatus
from lastmile.coaching.models import Lesson
from lastmile.scorecards.models import QaCategory, QaReview, QaScorecard
from lastmile.scorecards.services import ScoreIn, qa_review_create

AGENT = "front"
LEAD = "front-lead"
SCORECARD = "Conversation quality"
# (name, weight, critical, the lead's score out of 1..5)
CATEGORIES = (
    ("Understood the question", 2, False, 3),
    ("Named the next step", 2, True, 3),
    ("Tone", 1, False, 4),
)
COMMENT = (
    "The customer asked twice when the card would arrive and the reply never said. "
    "Give the date, and say what happens if it does not come."
)


def _scorecard() -> QaScorecard:
    # A configuration row, as an admin would add it (no service owns scorecards' setup).
    card, created = QaScorecard.objects.get_or_create(name=SCORECARD, defaults={"active": True})
    if created:
        for position, (name, weight, critical, _) in enumerate(CATEGORIES):
            QaCategory.objects.create(
                scorecard=card,
                name=name,
                weight=weight,
                critical=critical,
                min_score=1,
                max_score=5,
                position=position,
            )
    return card


def _conversation(agent: Any, team: Any) -> Case | None:
    """The agent's latest closed conversation of the team that the first pass reviewed
    (it has a reply of theirs), else their latest closed case."""
    reviewed = (
        QaReview.objects.filter(agent=agent, automatic=True, case__team=team)
        .select_related("case")
        .order_by("-conversation_at", "-id")
        .first()
    )
    if reviewed is not None:
        return reviewed.case
    return (
        Case.objects.filter(
            assignee=agent, team=team, status__in=(CaseStatus.SOLVED, CaseStatus.CLOSED)
        )
        .order_by("-solved_at", "-id")
        .first()
    )


def seed(seeder: Any) -> list[str]:
    agent, lead = seeder.users.get(AGENT), seeder.users.get(LEAD)
    team = seeder.teams.get(AGENT)
    if agent is None or lead is None or team is None:
        return ["coaching: no Front office agent and lead in this demo; no lesson seeded"]
    earlier = Lesson.objects.count()
    case = _conversation(agent, team)
    if case is None:
        return [f"coaching: {AGENT} has no closed conversation yet; no lesson seeded"]
    card = _scorecard()
    scores = {c.name: c.pk for c in card.categories.all()}
    review = qa_review_create(
        viewer=lead,
        case_ref=case.ref,
        scorecard_id=card.pk,
        scores=[ScoreIn(scores[name], score) for name, _, _, score in CATEGORIES],
        comment=COMMENT,
        now=seeder.now - timedelta(minutes=30),
    )
    lesson = Lesson.objects.filter(qa_review=review).first()
    if lesson is None:
        return [f"coaching: {LEAD} reviewed {case.ref} at {review.score:.0f}; no lesson opened"]
    return [
        f"coaching: {LEAD} reviewed {case.ref} at {review.score:.0f} (target 80): lesson "
        f"/coaching/{lesson.pk}/ for {AGENT} (sign in as {AGENT} to answer it, as {LEAD} to "
        f"accept or return it); {earlier} more from the history's broken promises and breaches"
    ]

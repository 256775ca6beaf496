"""The coaching part of the demo: the Front office lead reviews one of the Front office
agent's closed conversations below the team's target (through the scorecards' review
service), which opens a lesson for the agent and a coaching loop for the lead. Runs after
the scorecards' part (its first pass has reviewed the closed conversations). Lessons the
history's broken promises and breaches opened on their own are counted too.

The lead's comment is written from the conversation reviewed (its subject, the customer's
last question and what the first pass found), so the lesson never describes another case:
the conversation is the agent's latest one whose last reply the first pass found naming no
next step (the lead's critical category), else their latest reviewed one.

The history's breaches of the last week (``LESSON_MAX_AGE``) in agents' hands have their
lessons here too, opened at each breach as the worker would have opened them a moment after
the sweep (``breach_lessons_catch_up(replay=True)``), and worked through as a team that keeps
up would: the agent answers three hours after the breach, the lead accepts twenty hours
after it; what is younger is still waiting for the lead, or for the agent. Without this the
seed's sweeps queue a lesson for each on commit, and the worker opened them all at once when
it started (dozens, each opened at that moment, behind a report that counted none of them).
``settle`` (after the seed's last sweep) opens those of the breaches that sweep made, and
says how many lessons the demo starts with, by source and state."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from lastmile.cases.models import Case, CaseStatus
from lastmile.coaching.models import Lesson, LessonReason, LessonState
from lastmile.coaching.services import breach_lessons_catch_up, lesson_accept, lesson_submit
from lastmile.customers.models import Direction, Interaction
from lastmile.scorecards.models import QaCategory, QaReview, QaScore, QaScorecard
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
ADVICE = "Say what happens next and by when, and what the customer can do if it does not."

# How long after its breach the agent answers a history's lesson, and the lead accepts it.
ANSWERED_AFTER = timedelta(hours=3)
ACCEPTED_AFTER = timedelta(hours=20)
# The agent's answers to the three breach questions (``services.QUESTIONS``), by turns.
BREACH_ANSWERS = (
    (
        "Three cases came in at once and this one sat at the bottom of my list.",
        "Telling the customer when I would have an answer, or handing it to a teammate.",
        "Look at my loops at risk at the start of each hour and ask for help early.",
    ),
    (
        "I was waiting for another team and did not chase them before the deadline.",
        "Chasing the other team at half time, and telling the customer where it stood.",
        "Put a reminder at half the deadline on anything that waits for someone else.",
    ),
    (
        "I answered the quick cases first and this one ran out of time.",
        "A short holding reply that named the next step and when it would happen.",
        "Send the holding reply first, then work the case.",
    ),
)
LEAD_NOTE = "Thanks, agreed: let's check the at-risk list together on Monday."


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


def _question(text: str) -> str:
    """The last sentence of ``text`` that asks something ("" if none). A sentence ends at
    ".", "!" or "?" before a space or the end, or at a line's end: the point in "£42.99"
    ends nothing."""
    sentences = (s.strip() for s in _SENTENCE_END.split(text))
    return next((s for s in reversed(list(sentences)) if s.endswith("?")), "")


def _comment(case: Case, next_step_failed: bool) -> str:
    """The lead's words on ``case``, from the case itself."""
    inbound = (
        Interaction.objects.filter(case=case, direction=Direction.INBOUND)
        .order_by("-occurred_at", "-pk")
        .values_list("body", flat=True)
    )
    question = next((q for q in (_question(b) for b in inbound) if q), "")
    about = (
        f'On "{case.subject}" the customer asked "{question}"'
        if question
        else f'On "{case.subject}"'
    )
    if next_step_failed:
        return f"{about} and the last reply named no next step. {ADVICE}"
    return f"{about}. {ADVICE}"


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


def _conversation(agent: Any, team: Any) -> tuple[Case | None, bool]:
    """The agent's latest closed conversation of the team whose last reply the first pass
    found naming no next step, else their latest reviewed one, else their latest closed
    case; and whether the first pass failed its next step."""
    reviewed = QaReview.objects.filter(agent=agent, automatic=True, case__team=team)
    no_next_step = QaScore.objects.filter(category__rule="next_step", score=0).values("review")
    for candidates, failed in ((reviewed.filter(pk__in=no_next_step), True), (reviewed, False)):
        review = candidates.select_related("case").order_by("-conversation_at", "-id").first()
        if review is not None:
            return review.case, failed
    case = (
        Case.objects.filter(
            assignee=agent, team=team, status__in=(CaseStatus.SOLVED, CaseStatus.CLOSED)
        )
        .order_by("-solved_at", "-id")
        .first()
    )
    return case, False


def history_lessons(seeder: Any) -> None:
    """The lessons of the last week's breaches, opened at each breach, and the agents'
    answers and the leads' decisions on them that are due by ``seeder.now``."""
    now: datetime = seeder.now
    breach_lessons_catch_up(now=now, grace=timedelta(0), replay=True)
    waiting = (
        Lesson.objects.filter(reason=LessonReason.BREACH, state=LessonState.ASSIGNED)
        .select_related("agent", "lead")
        .order_by("created_at", "pk")
    )
    for lesson in waiting:
        if lesson.created_at + ANSWERED_AFTER > now:
            continue
        lesson_submit(
            lesson=lesson,
            actor=lesson.agent,
            answers=list(BREACH_ANSWERS[lesson.pk % len(BREACH_ANSWERS)]),
            now=lesson.created_at + ANSWERED_AFTER,
        )
        if lesson.lead is not None and lesson.created_at + ACCEPTED_AFTER <= now:
            lesson_accept(
                lesson=lesson,
                actor=lesson.lead,
                note=LEAD_NOTE,
                now=lesson.created_at + ACCEPTED_AFTER,
            )


def settle(seeder: Any) -> list[str]:
    """After the seed's last sweep: the lessons of the breaches it made, and the lessons the
    demo starts with, by source and state (the worker opens no more of them when it
    starts)."""
    history_lessons(seeder)
    lessons = Lesson.objects.all()
    if not lessons.exists():
        return []
    by_reason = {
        LessonReason.BREACH: "breaches in agents' hands",
        LessonReason.PROMISE_BROKEN: "broken promises",
        LessonReason.QA_BELOW_TARGET: "reviews below target",
    }
    sources = ", ".join(
        f"{n} from {words}"
        for reason, words in by_reason.items()
        if (n := lessons.filter(reason=reason).count())
    )
    states = [
        ("to answer", (LessonState.ASSIGNED, LessonState.RETURNED)),
        ("waiting for the lead", (LessonState.SUBMITTED,)),
        ("accepted", (LessonState.ACCEPTED,)),
    ]
    counted = ", ".join(
        f"{n} {words}"
        for words, in_states in states
        if (n := lessons.filter(state__in=in_states).count())
    )
    return [f"coaching, as the demo starts: {lessons.count()} lessons ({sources}): {counted}"]


def seed(seeder: Any) -> list[str]:
    agent, lead = seeder.users.get(AGENT), seeder.users.get(LEAD)
    team = seeder.teams.get(AGENT)
    if agent is None or lead is None or team is None:
        return ["coaching: no Front office agent and lead in this demo; no lesson seeded"]
    history_lessons(seeder)
    case, next_step_failed = _conversation(agent, team)
    if case is None:
        return [f"coaching: {AGENT} has no closed conversation yet; no lesson seeded"]
    card = _scorecard()
    scores = {c.name: c.pk for c in card.categories.all()}
    review = qa_review_create(
        viewer=lead,
        case_ref=case.ref,
        scorecard_id=card.pk,
        scores=[ScoreIn(scores[name], score) for name, _, _, score in CATEGORIES],
        comment=_comment(case, next_step_failed),
        now=seeder.now - timedelta(minutes=30),
    )
    lesson = Lesson.objects.filter(qa_review=review).first()
    if lesson is None:
        return [f"coaching: {LEAD} reviewed {case.ref} at {review.score:.0f}; no lesson opened"]
    return [
        f"coaching: {LEAD} reviewed {case.ref} at {review.score:.0f} (target 80): lesson "
        f"/coaching/{lesson.pk}/ for {AGENT} (sign in as {AGENT} to answer it, as {LEAD} to "
        "accept or return it)"
    ]

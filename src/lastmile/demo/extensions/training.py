"""The practice part of the demo: the Front office lead turns three of the team's closed
conversations into practice cases (masked, through the training services) and makes them
the team's onboarding path; a new agent, Nia, is part-way through it: her first draft is
scored, her second waits for the lead, the third is to do. ``/training/`` as ``front-new``
or ``front-lead`` shows it, and the scorecard page shows her progress."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lastmile.cases.models import Case, CaseStatus
from lastmile.coaching.masking import known_details, mask_known
from lastmile.customers.models import Direction, Interaction
from lastmile.people.models import Role, Team
from lastmile.people.services import agent_create
from lastmile.scorecards.models import QaCategory, QaScorecard
from lastmile.training import services
from lastmile.training.models import PracticeCase

TEAM = "front"
LEAD = "front-lead"
NEW_AGENT = ("front-new", "Nia", "Okafor")
SCORECARD = "Practice answer"
# (name, weight, critical, min, max)
CATEGORIES = (
    ("Answered what the customer asked", 3, True, 0, 4),
    ("Promised only within policy", 2, False, 0, 2),
    ("Named the next step and when", 2, False, 0, 2),
    ("Tone", 1, False, 1, 5),
)
GUIDANCE = (
    "Answer the question first; promise only what policy allows (check the terms); say what "
    "happens next and by when; hand off to the team that owns the next step with what they "
    "need to know."
)
SCORES = (3, 2, 1, 4)  # the lead's scores of the first draft, category by category
FIRST_REPLY = (
    "I'm sorry this has taken so long. I've checked your account and the payment is on its "
    "way; we will confirm by email by Friday, and I'll follow up if it has not arrived."
)
SECOND_REPLY = (
    "Thank you for telling us. I've asked the back office to look into it today and we'll "
    "write to you by tomorrow evening with what they find."
)


def _scorecard() -> QaScorecard:
    # A configuration row, as an admin would add it (no service owns scorecards' setup).
    card, created = QaScorecard.objects.get_or_create(name=SCORECARD, defaults={"active": True})
    if created:
        for position, (name, weight, critical, low, high) in enumerate(CATEGORIES):
            QaCategory.objects.create(
                scorecard=card,
                name=name,
                weight=weight,
                critical=critical,
                min_score=low,
                max_score=high,
                position=position,
            )
    return card


def _closed_conversations(team: Team, n: int) -> list[Case]:
    """The team's ``n`` latest closed cases with a customer's message and a reply."""
    out = []
    cases = Case.objects.filter(
        team=team, status__in=(CaseStatus.SOLVED, CaseStatus.CLOSED)
    ).order_by("-solved_at", "-pk")
    for case in cases[:200]:
        directions = set(
            Interaction.objects.filter(case=case)
            .exclude(body="")
            .values_list("direction", flat=True)
        )
        if {Direction.INBOUND, Direction.OUTBOUND} <= directions:
            out.append(case)
        if len(out) == n:
            break
    return out


def _title(case: Case) -> str:
    first = (
        Interaction.objects.filter(case=case, direction=Direction.INBOUND)
        .exclude(body="")
        .order_by("occurred_at", "pk")
        .values_list("body", flat=True)
        .first()
        or case.subject
    )
    # Masked as the conversation is: the customer's own names and details too.
    words = " ".join(mask_known(first, known_details([case.customer_id])).split())
    # No "1." of its own: the path numbers its steps, and lists would read "1. 1. …".
    return f"{words[:80]}{'…' if len(words) > 80 else ''}"


def seed(seeder: Any) -> list[str]:
    from lastmile.demo.seed import EMAIL_DOMAIN, PASSWORD  # the seed imports this module

    now = seeder.now
    team = Team.objects.filter(slug=TEAM).first()
    lead = getattr(team, "lead", None)
    if team is None or lead is None:
        return ["training: no Front office team with a lead in this demo; no practice seeded"]
    cases = _closed_conversations(team, 3)
    if len(cases) < 3:
        return [f"training: {team.name} has {len(cases)} closed conversations; no path seeded"]
    username, first, last = NEW_AGENT
    nia = agent_create(
        username=username,
        password=PASSWORD,
        teams=[team],
        role=Role.AGENT,
        email=f"{username}@{EMAIL_DOMAIN}",
        first_name=first,
        last_name=last,
        update=True,
    ).user
    card = _scorecard()
    made: list[PracticeCase] = [
        services.practice_case_create(
            viewer=lead,
            case_ref=case.ref,
            title=_title(case),
            guidance=GUIDANCE,
            scorecard_id=card.pk,
            now=now - timedelta(days=6),
        )
        for case in cases
    ]
    services.path_arrange(
        viewer=lead, team=team, case_ids=[c.pk for c in made], now=now - timedelta(days=6)
    )
    # Nia's first case: drafted, submitted and scored two days ago.
    at = now - timedelta(days=2)
    first_try = services.attempt_save(
        viewer=nia,
        practice_case=made[0],
        reply=FIRST_REPLY,
        promises=[
            services.PromiseDraft(
                text="Confirm the payment by email", terms="", due_at=at + timedelta(days=3)
            )
        ],
        now=at,
    )
    services.attempt_submit(viewer=nia, attempt=first_try, now=at + timedelta(minutes=5))
    categories = list(card.categories.all())
    scored = services.attempt_score(
        viewer=lead,
        attempt=first_try,
        scores=[
            services.ScoreIn(category=c.pk, score=s)
            for c, s in zip(categories, SCORES, strict=True)
        ],
        comment="Good answer and a clear next step. Say which day, not just 'Friday'.",
        now=at + timedelta(hours=3),
    )
    # Her second: submitted an hour ago, waiting for the lead.
    at = now - timedelta(hours=1)
    second_try = services.attempt_save(
        viewer=nia,
        practice_case=made[1],
        reply=SECOND_REPLY,
        handoff_team="back",
        handoff_note="Customer reports a payment not received; please check and reply by tomorrow.",
        now=at,
    )
    services.attempt_submit(viewer=nia, attempt=second_try, now=at + timedelta(minutes=4))
    return [
        f"training: {team.name}'s onboarding path of {len(made)} practice cases "
        f"(from {', '.join(c.ref for c in cases)}, masked); {username} ({first} {last}) has "
        f"one scored ({scored.score}) and one waiting for {lead.username} (/training/)"
    ]

"""Coaching writes: a lesson opened by a QA review below target, a broken promise or a loop
that breached in the agent's hands (each source once), with a ``coaching`` loop for the
agent's lead; the agent submits answers or a better reply; the lead accepts (the loop
closes) or returns it (the agent submits again). Every change is a ``LessonEvent``.

The sources reach this app as domain events (``qa.reviewed``, ``promise.broken``,
``loop.breached``) heard in the writer's transaction; ``CoachingConfig.ready`` subscribes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from lastmile.cases.models import Case
from lastmile.coaching.masking import known_details, mask_known, masked_conversation
from lastmile.coaching.models import (
    DEFAULT_QA_TARGET,
    CoachingSettings,
    Lesson,
    LessonEvent,
    LessonEventKind,
    LessonReason,
    LessonState,
)
from lastmile.core.clock import utcnow
from lastmile.core.errors import Conflict, FieldError, InvalidInput, PermissionDenied
from lastmile.knowledge.selectors import articles_search, articles_suggest_for_case
from lastmile.loops.models import (
    TEAM_OWN_KINDS,
    Loop,
    LoopKind,
    LoopState,
)
from lastmile.loops.selectors import with_breach_owner
from lastmile.loops.services import loop_close, loop_open
from lastmile.people.models import Agent, Role, Team
from lastmile.people.selectors import agent_for, person_name
from lastmile.people.viewers import Actor
from lastmile.promises.models import Policy, Promise
from lastmile.scorecards.models import QaReview

log = logging.getLogger(__name__)

# A broken promise or a breach heard longer ago than this opens no lesson: a lesson is about
# last week's work, and a history imported or replayed (or a worker long stopped) must not
# bury the leads in coaching loops already late.
LESSON_MAX_AGE = timedelta(days=7)

ARTICLES_LIMIT = 3
POLICIES_LIMIT = 5
ANSWER_MAX = 5000
NOTE_MAX = 2000

QUESTIONS: dict[str, list[str]] = {
    LessonReason.QA_BELOW_TARGET: [
        "What did the customer need, in one sentence?",
        "What would you do differently in this conversation, and why?",
        "Which article or policy applies here, and what does it say to do?",
    ],
    LessonReason.PROMISE_BROKEN: [
        "Why could the promise not be kept?",
        "What could you have promised instead, within policy?",
        "What will you check before making a promise like this again?",
    ],
    LessonReason.BREACH: [
        "What kept this from being done before its deadline?",
        "What would have kept it on time (a hand-off, a reply, asking for help)?",
        "What will you do the next time a deadline is at risk?",
    ],
}


# --- settings -------------------------------------------------------------------------------


def qa_target_for(team: Team | int | None) -> int:
    """The team's QA target (``CoachingSettings``), the default for no row or no team."""
    team_id = team.pk if isinstance(team, Team) else team
    if team_id is None:
        return DEFAULT_QA_TARGET
    found = CoachingSettings.objects.filter(team_id=team_id).values_list("qa_target", flat=True)
    return next(iter(found), DEFAULT_QA_TARGET)


def coaching_settings_set(
    *, team: Team, qa_target: int, automatic_reviews: bool = False
) -> CoachingSettings:
    """Set a team's QA target (0-100, 422 ``qa_target`` otherwise) and whether automatic
    reviews open lessons."""
    if not 0 <= qa_target <= 100:
        raise InvalidInput(
            "the QA target is a score from 0 to 100",
            [FieldError("qa_target", "between 0 and 100")],
        )
    found, _ = CoachingSettings.objects.update_or_create(
        team=team, defaults={"qa_target": qa_target, "automatic_reviews": automatic_reviews}
    )
    return found


# --- opening a lesson -----------------------------------------------------------------------


def _lead_of(team: Team | None) -> User | None:
    return team.lead if team is not None and team.lead_id is not None else None


def _articles(case: Case | None, text: str) -> list[dict[str, Any]]:
    if case is not None:
        hits = articles_suggest_for_case(case, limit=ARTICLES_LIMIT)
    else:
        hits = articles_search(text, limit=ARTICLES_LIMIT, match="any")
    return [
        {"slug": h.article.slug, "title": h.article.title, "policy_keys": h.article.policy_keys}
        for h in hits
    ]


def _policies(keys: Sequence[str]) -> list[dict[str, Any]]:
    wanted = list(dict.fromkeys(k for k in keys if k))[:POLICIES_LIMIT]
    if not wanted:
        return []
    found = {p.key: p for p in Policy.objects.select_related("current").filter(key__in=wanted)}
    policies = []
    for key in wanted:
        if (policy := found.get(key)) is not None:
            current = policy.current
            text = current.text if current is not None else ""
            policies.append({"key": key, "title": policy.title, "text": text})
    return policies


def lesson_open(
    *,
    reason: str,
    agent: User,
    team: Team | None,
    title: str,
    what_went_wrong: str,
    now: datetime,
    case: Case | None = None,
    qa_review: QaReview | None = None,
    promise: Promise | None = None,
    breached_loop: Loop | None = None,
    lead: User | None = None,
    policy_keys: Sequence[str] = (),
    actor: Actor = None,
) -> Lesson:
    """Open the lesson of one source (exactly one of ``qa_review``, ``promise``,
    ``breached_loop``) for ``agent``, and the ``coaching`` loop of ``team`` for ``lead``
    (the team's lead when not given; unassigned, in the team's queue, if it has none).

    Idempotent: the source's lesson, if it has one already, is returned as it is.
    """
    sources = {"qa_review": qa_review, "promise": promise, "breached_loop": breached_loop}
    given = {k: v for k, v in sources.items() if v is not None}
    if len(given) != 1:
        raise ValueError("a lesson has exactly one source")
    if reason not in LessonReason.values:
        raise InvalidInput(
            f"unknown reason {reason!r}",
            [FieldError("reason", f"one of {', '.join(LessonReason.values)}")],
        )
    existing = Lesson.objects.filter(**given).first()
    if existing is not None:
        return existing
    lead = lead if lead is not None else _lead_of(team)
    conversation = masked_conversation(case) if case is not None else []
    if case is not None:
        # The reviewer (or the promise) may have quoted the customer: masked there too.
        known = known_details([case.customer_id])
        what_went_wrong = mask_known(what_went_wrong, known)
        title = mask_known(title, known)
    articles = _articles(case, f"{title} {what_went_wrong}")
    keys = [*policy_keys, *(k for a in articles for k in a["policy_keys"])]
    try:
        with transaction.atomic():
            loop = loop_open(
                customer=None,
                kind=LoopKind.COACHING,
                # The lead's task names the agent and the case, not the customer's words.
                title=(
                    f"Coach {person_name(agent)}: {LessonReason(reason).label.lower()}"
                    + (f" on {case.ref}" if case is not None else "")
                )[:300],
                team=team,
                assignee=lead,
                actor=actor,
                reason=what_went_wrong[:500],
                now=now,
            )
            lesson = Lesson.objects.create(
                agent=agent,
                team=team,
                lead=lead,
                loop=loop,
                reason=reason,
                case=case,
                title=title[:300],
                conversation=[m.as_json() for m in conversation],
                what_went_wrong=what_went_wrong,
                articles=[{"slug": a["slug"], "title": a["title"]} for a in articles],
                policies=_policies(keys),
                questions=list(QUESTIONS[reason]),
                created_at=now,
                updated_at=now,
                **given,
            )
            LessonEvent.objects.create(
                lesson=lesson,
                kind=LessonEventKind.OPENED,
                actor=actor,
                at=now,
                note=what_went_wrong[:NOTE_MAX],
                data={"state": LessonState.ASSIGNED, "reason": reason, "loop": loop.pk},
            )
    except IntegrityError:
        # The same source's event heard twice at once: the first writer's lesson stands.
        return Lesson.objects.get(**given)
    return lesson


def _percent(score: int, low: int, high: int) -> int:
    return round(100 * (score - low) / (high - low)) if high > low else 0


def _review_words(review: QaReview, target: int) -> str:
    """What went wrong in the reviewer's words: the comment, then the categories that fell
    below half (with the rule's reason for an automatic review)."""
    parts = []
    if review.comment.strip():
        parts.append(review.comment.strip())
    low = []
    for s in review.scores.select_related("category"):
        c = s.category
        pct = _percent(s.score, c.min_score, c.max_score)
        if pct < 50:
            low.append(f"{c.name} {pct} %" + (f" ({s.reason})" if s.reason else ""))
    who = "the automatic first pass" if review.automatic else person_name(review.reviewer)
    parts.append(
        f"QA score {review.score:.0f} against the team's target of {target}, by {who}."
        + (f" Low: {'; '.join(low)}." if low else "")
    )
    return "\n\n".join(parts)


def on_qa_reviewed(name: str, data: dict[str, Any], at: datetime) -> None:
    """``qa.reviewed``: a review below the team's target opens a lesson (an automatic
    review only where the team's settings ask for it)."""
    team_id = data.get("team")
    found = CoachingSettings.objects.filter(team_id=team_id).first() if team_id else None
    target = found.qa_target if found is not None else DEFAULT_QA_TARGET
    if data.get("automatic") and (found is None or not found.automatic_reviews):
        return
    if float(data["score"]) >= target:
        return
    review = (
        QaReview.objects.select_related("agent", "case", "reviewer", "team__lead")
        .filter(pk=data["review"])
        .first()
    )
    if review is None or review.team is None:
        return  # no team: nobody's coaching loop to open
    lead = _lead_of(review.team) or review.reviewer
    if lead is not None and lead.pk == review.agent_id:
        return  # nobody coaches themselves
    lesson_open(
        reason=LessonReason.QA_BELOW_TARGET,
        agent=review.agent,
        team=review.team,
        lead=lead,
        case=review.case,
        qa_review=review,
        title=f"QA {review.score:.0f} (target {target}) on {review.case.ref}",
        what_went_wrong=_review_words(review, target),
        actor=review.reviewer,
        now=at,
    )


def on_promise_broken(name: str, data: dict[str, Any], at: datetime) -> None:
    """``promise.broken``: the agent who made the promise gets a lesson; the reason it broke
    is what went wrong; the policies it was checked against apply."""
    if not data.get("made_by") or utcnow() - at > LESSON_MAX_AGE:
        return
    promise = (
        Promise.objects.select_related("made_by", "made_by_team__lead", "team__lead", "case")
        .filter(pk=data["promise"])
        .first()
    )
    if promise is None or promise.made_by is None:
        return
    team = promise.made_by_team or promise.team
    if team is None:
        return
    lead = _lead_of(team)
    if lead is not None and lead.pk == promise.made_by_id:
        return
    reason = promise.outcome_reason or data.get("reason") or ""
    lesson_open(
        reason=LessonReason.PROMISE_BROKEN,
        agent=promise.made_by,
        team=team,
        lead=lead,
        case=promise.case,
        promise=promise,
        title=f"Broken promise: {promise.text}"[:300],
        what_went_wrong=(
            f"The promise “{promise.text}” was broken: {reason}"
            if reason
            else f"The promise “{promise.text}” was broken."
        ),
        policy_keys=[v.get("policy", "") for v in promise.verdicts or []],
        actor=promise.outcome_by,
        now=at,
    )


def on_loop_breached(name: str, data: dict[str, Any], at: datetime) -> None:
    """``loop.breached``: a loop of a customer's that breached while assigned to an agent
    opens a lesson for that agent (not a team's own loop, not the lead's own)."""
    on_loops_breached(name, [(data, at)])


def on_loops_breached(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """The sweeper's run of ``loop.breached``: the breaches in an agent's hands are handed to
    the worker once the sweep commits (``tasks.breach_lessons_task``), so a sweep that marks
    thousands of loops breached does not mask and search a conversation for each of them."""
    items = [
        (int(data["loop"]), int(data["assignee"]), at.isoformat())
        for data, at in events
        if data.get("assignee") and data.get("kind") not in TEAM_OWN_KINDS
    ]
    if not items:
        return

    def queue() -> None:
        from lastmile.coaching.tasks import breach_lessons_task

        try:
            breach_lessons_task(items)
        except Exception:
            log.warning("coaching: could not queue %s breach lessons", len(items), exc_info=True)

    transaction.on_commit(queue)


def breach_assignees(loops: Sequence[Loop]) -> dict[int, int | None]:
    """Who each of ``loops`` was assigned to when it breached, from its trail, by the
    scorecards' own rule (``loops.selectors.with_breach_owner``). One query for all."""
    owners = with_breach_owner(Loop.objects.filter(pk__in=[lp.pk for lp in loops]))
    return {
        pk: int(owner) if owner else None for pk, owner in owners.values_list("pk", "breach_owner")
    }


def breach_lessons_open(
    items: Sequence[tuple[int, int, str]], *, now: datetime | None = None
) -> int:
    """Open the lessons of breaches ``(loop id, assignee id, when)``: a loop of a customer's
    that breached while assigned to an agent opens a lesson for that agent (not the lead's
    own, not a loop of no team); each loop once, however often it is asked, and at once by
    two workers (``lesson_one_per_breach``). The agent is the one the loop had when it
    breached, read from its trail (``breach_assignees``), whatever it has now and whatever
    the caller heard. The loops, teams and trails are read at once; returns how many
    lessons it opened (one it lost to another worker at the same moment counts too).
    ``now``: the clock (the worker's, when not given)."""
    loops = Loop.objects.select_related("case", "team__lead").in_bulk(
        [loop_id for loop_id, _, _ in items]
    )
    already = set(
        Lesson.objects.filter(breached_loop_id__in=list(loops)).values_list(
            "breached_loop_id", flat=True
        )
    )
    now = now if now is not None else utcnow()
    moments = {loop_id: datetime.fromisoformat(when) for loop_id, _, when in items}
    wanted = [
        lp
        for lp in loops.values()
        if lp.pk not in already
        and lp.team is not None  # no team: nobody's coaching loop to open
        and lp.kind not in TEAM_OWN_KINDS
        and now - moments[lp.pk] <= LESSON_MAX_AGE
    ]
    assignees = breach_assignees(wanted)
    agents = User.objects.in_bulk({a for a in assignees.values() if a is not None})
    kinds = dict(LoopKind.choices)
    opened = 0
    for loop in sorted(wanted, key=lambda lp: lp.pk):
        if loop.pk in already:
            continue
        at = moments[loop.pk]
        agent = agents.get(assignees[loop.pk])  # type: ignore[arg-type]
        lead = _lead_of(loop.team)
        if agent is None or (lead is not None and lead.pk == agent.pk):
            continue  # nobody's, or the lead's own
        due = f" (due {loop.due_at:%d %b %Y %H:%M} UTC)" if loop.due_at else ""
        lesson_open(
            reason=LessonReason.BREACH,
            agent=agent,
            team=loop.team,
            lead=lead,
            case=loop.case,
            breached_loop=loop,
            title=f"Breached: {loop.title}"[:300],
            what_went_wrong=(
                f"The {kinds.get(loop.kind, loop.kind).lower()} loop “{loop.title}” passed "
                f"its deadline{due} while it was yours, and breached."
            ),
            now=max(at, now),  # the lead's loop runs from when the worker opened it
        )
        already.add(loop.pk)
        opened += 1
    return opened


# A breach's lesson is opened by ``tasks.breach_lessons_task``, queued when the sweep
# commits; a worker killed holding that task loses it. The periodic catch-up
# (``tasks.breach_lessons_catch_up_task``) opens what is still missing this long after the
# breach: past the task's own retries, so it rarely races it (and a race opens one anyway).
CATCH_UP_GRACE = timedelta(minutes=5)
CATCH_UP_BATCH = 500


def breach_lessons_catch_up(
    *, now: datetime, grace: timedelta = CATCH_UP_GRACE, replay: bool = False
) -> int:
    """Open the lessons the worker's task never opened: the loops of a team, of a customer's
    kind, that breached within ``LESSON_MAX_AGE`` of ``now`` and at least ``grace`` ago and
    have no lesson, through ``breach_lessons_open`` (so the same rules, the agent at the
    breach from the trail, and one lesson per breach however often and however many workers
    run it). Each is opened at ``now``, or with ``replay`` (a history played into the
    database, as the demo's) at its breach, as the worker would have opened it then.
    Returns how many it opened."""
    missing = (
        Loop.objects.filter(
            breached_at__gte=now - LESSON_MAX_AGE,
            breached_at__lte=now - grace,
            team__isnull=False,
        )
        .exclude(kind__in=TEAM_OWN_KINDS)
        .filter(~Exists(Lesson.objects.filter(breached_loop_id=OuterRef("pk"))))
        .order_by("breached_at", "pk")
        .values_list("pk", "assignee_id", "breached_at")
    )
    items = [(pk, assignee or 0, at.isoformat()) for pk, assignee, at in missing if at is not None]
    opened = 0
    if replay:
        for item in items:
            opened += breach_lessons_open([item], now=datetime.fromisoformat(item[2]))
        return opened
    for i in range(0, len(items), CATCH_UP_BATCH):
        opened += breach_lessons_open(items[i : i + CATCH_UP_BATCH], now=now)
    if opened:
        log.info("coaching: caught up %s breach lessons", opened)
    return opened


# --- the agent's answers and the lead's decision -------------------------------------------


def _is_admin(user: User) -> bool:
    profile = agent_for(user)
    return user.is_superuser or (profile is not None and profile.role == Role.ADMIN)


def lesson_may_decide(lesson: Lesson, user: Actor) -> bool:
    """Whether ``user`` may accept or return ``lesson``: its lead, a lead of its team, an
    admin; never the agent it is for."""
    if user is None or user.pk == lesson.agent_id:
        return False
    if user.pk == lesson.lead_id or _is_admin(user):
        return True
    return (
        lesson.team_id is not None
        and Agent.objects.filter(user=user, role=Role.LEAD, teams__id=lesson.team_id).exists()
    )


def _claim(lesson: Lesson, *, states: Sequence[str], to: str, now: datetime, **fields: Any) -> None:
    """Move ``lesson`` from one of ``states`` to ``to``: a conditional UPDATE, so of two at
    once only one moves it; 409 ``state`` for the other, and for a lesson in another state."""
    moved = Lesson.objects.filter(pk=lesson.pk, state__in=list(states)).update(
        state=to, updated_at=now, **fields
    )
    if not moved:
        current = Lesson.objects.filter(pk=lesson.pk).values_list("state", flat=True).first()
        raise Conflict(
            f"the lesson is {current or 'gone'}; it must be {' or '.join(states)}",
            errors=[FieldError("state", f"is {current}")],
        )
    lesson.refresh_from_db()


def lesson_submit(
    *,
    lesson: Lesson,
    actor: User,
    answers: Sequence[str] = (),
    draft: str = "",
    now: datetime,
) -> Lesson:
    """The agent's answers to the lesson's questions and/or the better reply they drafted.

    Only the agent the lesson is for (403); while assigned or returned (409 ``state``);
    every question answered or a draft written (422 ``answers`` / ``draft``)."""
    if actor is None or actor.pk != lesson.agent_id:
        raise PermissionDenied("only the agent the lesson is for completes it")
    answers = [(a or "").strip() for a in answers]
    draft = (draft or "").strip()
    errors = []
    if len(answers) > len(lesson.questions):
        errors.append(
            FieldError("answers", f"{len(lesson.questions)} questions, {len(answers)} answers")
        )
    for i, answer in enumerate(answers):
        if len(answer) > ANSWER_MAX:
            errors.append(FieldError(f"answers[{i}]", f"at most {ANSWER_MAX} characters"))
    if len(draft) > ANSWER_MAX:
        errors.append(FieldError("draft", f"at most {ANSWER_MAX} characters"))
    answered = len(answers) == len(lesson.questions) and all(answers)
    if not errors and not answered and not draft:
        missing = [i for i in range(len(lesson.questions)) if i >= len(answers) or not answers[i]]
        errors.append(
            FieldError(
                "answers",
                f"answer every question (question {missing[0] + 1} is empty) or draft "
                "the better reply",
            )
        )
        errors.append(FieldError("draft", "draft the better reply, or answer every question"))
    if errors:
        raise InvalidInput(errors[0].reason, errors)
    padded = [*answers, *[""] * (len(lesson.questions) - len(answers))]
    with transaction.atomic():
        _claim(
            lesson,
            states=(LessonState.ASSIGNED, LessonState.RETURNED),
            to=LessonState.SUBMITTED,
            now=now,
            answers=padded,
            draft=draft,
            submitted_at=now,
        )
        LessonEvent.objects.create(
            lesson=lesson,
            kind=LessonEventKind.SUBMITTED,
            actor=actor,
            at=now,
            data={"state": LessonState.SUBMITTED, "answers": padded, "draft": draft},
        )
    return lesson


def _decide(*, lesson: Lesson, actor: User, note: str, now: datetime, to: str, kind: str) -> Lesson:
    if not lesson_may_decide(lesson, actor):
        raise PermissionDenied("only the agent's lead or an admin accepts or returns a lesson")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput("the note is too long", [FieldError("note", f"at most {NOTE_MAX}")])
    if to == LessonState.RETURNED and not note:
        raise InvalidInput(
            "say what to do again when returning a lesson",
            [FieldError("note", "required to return a lesson")],
        )
    with transaction.atomic():
        _claim(
            lesson,
            states=(LessonState.SUBMITTED,),
            to=to,
            now=now,
            lead_note=note,
            decided_at=now,
        )
        LessonEvent.objects.create(
            lesson=lesson, kind=kind, actor=actor, at=now, note=note, data={"state": to}
        )
        if to == LessonState.ACCEPTED and lesson.loop_id is not None:
            loop = Loop.objects.get(pk=lesson.loop_id)
            if loop.state == LoopState.OPEN:
                loop_close(
                    loop=loop,
                    actor=actor,
                    reason=f"Lesson accepted by {person_name(actor)}"
                    + (f": {note}" if note else ""),
                    now=now,
                )
    return lesson


def lesson_accept(*, lesson: Lesson, actor: User, note: str = "", now: datetime) -> Lesson:
    """The lead accepts the submitted lesson; the coaching loop closes."""
    return _decide(
        lesson=lesson,
        actor=actor,
        note=note,
        now=now,
        to=LessonState.ACCEPTED,
        kind=LessonEventKind.ACCEPTED,
    )


def lesson_return(*, lesson: Lesson, actor: User, note: str, now: datetime) -> Lesson:
    """The lead returns the submitted lesson with a note (422 ``note`` without one); it goes
    back to the agent and the coaching loop stays open."""
    return _decide(
        lesson=lesson,
        actor=actor,
        note=note,
        now=now,
        to=LessonState.RETURNED,
        kind=LessonEventKind.RETURNED,
    )

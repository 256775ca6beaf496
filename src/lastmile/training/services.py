"""Every write of practice and onboarding.

A practice attempt never reaches a customer, a case, a loop or a promise: its reply,
promises and hand-off are stored on the attempt only, and the policy check it runs is the
dry run of ``selectors.practice_check``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from lastmile.cases.models import CaseStatus
from lastmile.cases.selectors import case_get, ref_number
from lastmile.coaching.masking import masked_conversation
from lastmile.core.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from lastmile.people.models import Team
from lastmile.people.selectors import agent_authority
from lastmile.people.viewers import Viewer, actor_of, viewer_check
from lastmile.promises.terms import terms_parse, terms_validate
from lastmile.scorecards.models import QaCategory, QaScorecard
from lastmile.scorecards.qa import Rated, review_score
from lastmile.training.models import (
    AttemptState,
    OnboardingPath,
    OnboardingStep,
    PracticeAttempt,
    PracticeCase,
    PracticeEvent,
    PracticeScore,
)
from lastmile.training.selectors import practice_check, training_scope

MAX_PROMISES = 5
MAX_PATH = 50
MAX_TEXT = 10_000


def _lead_check(viewer: Viewer, team_id: int, what: str) -> None:
    """403 unless ``viewer`` leads the team (or is an admin, or the system)."""
    if not training_scope(viewer).leads(team_id):
        raise PermissionDenied(f"only a lead of the team or an admin {what}")


def _bad(field: str, reason: str) -> InvalidInput:
    return InvalidInput(f"{field}: {reason}", [FieldError(field, reason)])


def _text(value: str, field: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    value = (value or "").strip()
    if required and not value:
        raise _bad(field, "must not be empty")
    if len(value) > limit:
        raise _bad(field, f"at most {limit} characters")
    return value


# --- practice cases -----------------------------------------------------------------------


def _scorecard_for(scorecard_id: int | None, team: Team) -> QaScorecard:
    if scorecard_id is None:
        raise _bad("scorecard", "choose the QA scorecard to score drafts with")
    card = QaScorecard.objects.filter(pk=scorecard_id).first()
    if card is None:
        raise _bad("scorecard", f"no scorecard {scorecard_id}")
    if card.automatic:
        raise _bad("scorecard", "the Automatic scorecard is the first pass's; choose a lead's")
    if not card.active:
        raise _bad("scorecard", f"scorecard {card.name!r} is inactive")
    if card.team_id is not None and card.team_id != team.pk:
        raise _bad("scorecard", f"scorecard {card.name!r} is another team's")
    if not card.categories.exists():
        raise _bad("scorecard", f"scorecard {card.name!r} has no categories")
    return card


def practice_case_create(
    *,
    viewer: Viewer,
    case_ref: str,
    title: str,
    guidance: str,
    scorecard_id: int | None,
    now: datetime,
) -> PracticeCase:
    """A practice case made by a lead from a closed case of their team.

    1. The case (422 ``case``: unknown, not the viewer's to see, or not solved/closed; a
       case with no team cannot be practice for one).
    2. 403 unless the viewer leads the case's team (or is an admin).
    3. The scorecard (422 ``scorecard``: unknown, the Automatic one, inactive, another
       team's, or without categories); a title (422 ``title``).
    4. The conversation is masked and frozen now (``coaching.masking``), internal notes
       left out: later changes to the case never reach the practice case.
    """
    viewer = viewer_check(viewer)
    ref = (case_ref or "").strip()
    if ref_number(ref) is None:
        raise _bad("case", f"no case {ref!r}")
    try:
        case = case_get(ref=ref, viewer=viewer)
    except NotFound:
        raise _bad("case", f"no case {ref!r}") from None
    if case.status not in (CaseStatus.SOLVED, CaseStatus.CLOSED):
        raise _bad("case", f"{case.ref} is {case.status}: practice is made from closed cases")
    if case.team is None:
        raise _bad("case", f"{case.ref} has no team")
    _lead_check(viewer, case.team.pk, "makes practice cases for it")
    card = _scorecard_for(scorecard_id, case.team)
    title = _text(title, "title", required=True, limit=200)
    guidance = _text(guidance, "guidance", required=False)
    messages = [m.as_json() for m in masked_conversation(case) if m.author != "note"]
    if not any(m["author"] == "customer" for m in messages):
        raise _bad("case", f"{case.ref} has no message from the customer to practise on")
    return PracticeCase.objects.create(
        title=title,
        team=case.team,
        scorecard=card,
        source_ref=case.ref,
        conversation=messages,
        guidance=guidance,
        created_by=actor_of(viewer),
        created_at=now,
    )


def practice_case_update(
    *,
    viewer: Viewer,
    practice_case: PracticeCase,
    title: str | None = None,
    guidance: str | None = None,
    active: bool | None = None,
) -> PracticeCase:
    """A lead renames a practice case, rewrites its guidance, or retires it (inactive: off
    the path's progress, no new attempts). The conversation is never changed."""
    _lead_check(viewer, practice_case.team_id, "changes its practice cases")
    fields = []
    if title is not None:
        practice_case.title = _text(title, "title", required=True, limit=200)
        fields.append("title")
    if guidance is not None:
        practice_case.guidance = _text(guidance, "guidance", required=False)
        fields.append("guidance")
    if active is not None:
        practice_case.active = active
        fields.append("active")
    if fields:
        practice_case.save(update_fields=fields)
    return practice_case


# --- the onboarding path ------------------------------------------------------------------


def path_arrange(
    *, viewer: Viewer, team: Team, case_ids: Sequence[int], now: datetime
) -> OnboardingPath:
    """The team's onboarding path becomes ``case_ids`` in that order.

    403 unless the viewer leads the team; 422 ``cases[i]`` for a case that is not an
    active practice case of the team, or named twice; at most ``MAX_PATH`` steps. The old
    steps are replaced in one transaction, with an ``arranged`` event."""
    viewer = viewer_check(viewer)
    _lead_check(viewer, team.pk, "arranges its onboarding path")
    if len(case_ids) > MAX_PATH:
        raise _bad("cases", f"at most {MAX_PATH} steps")
    found = {
        c.pk: c for c in PracticeCase.objects.filter(pk__in=list(case_ids), team=team, active=True)
    }
    errors = []
    seen: set[int] = set()
    for i, cid in enumerate(case_ids):
        if cid not in found:
            errors.append(
                FieldError(f"cases[{i}]", f"no active practice case {cid} of {team.slug}")
            )
        elif cid in seen:
            errors.append(FieldError(f"cases[{i}]", f"practice case {cid} is on the path twice"))
        seen.add(cid)
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    with transaction.atomic():
        path, _ = OnboardingPath.objects.select_for_update().get_or_create(
            team=team, defaults={"updated_at": now, "updated_by": actor_of(viewer)}
        )
        path.steps.all().delete()
        OnboardingStep.objects.bulk_create(
            [
                OnboardingStep(path=path, practice_case=found[cid], position=i)
                for i, cid in enumerate(case_ids, start=1)
            ]
        )
        path.updated_at = now
        path.updated_by = actor_of(viewer)
        path.save(update_fields=["updated_at", "updated_by"])
        PracticeEvent.objects.create(
            path=path,
            kind="arranged",
            actor=actor_of(viewer),
            at=now,
            data={"cases": list(case_ids)},
        )
    return path


# --- attempts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PromiseDraft:
    """A promise the agent would make: the words, the terms (typed ``key=value`` text or
    an object) and when it would be due."""

    text: str
    terms: str | dict[str, Any] = ""
    due_at: datetime | None = None


def _promises_checked(drafts: Sequence[PromiseDraft]) -> list[dict[str, Any]]:
    if len(drafts) > MAX_PROMISES:
        raise _bad("promises", f"at most {MAX_PROMISES}")
    out = []
    errors = []
    for i, d in enumerate(drafts):
        text = (d.text or "").strip()
        if not text:
            errors.append(FieldError(f"promises[{i}].text", "say what you would promise"))
        elif len(text) > 2000:
            errors.append(FieldError(f"promises[{i}].text", "at most 2000 characters"))
        try:
            terms = terms_validate(d.terms) if isinstance(d.terms, dict) else terms_parse(d.terms)
        except InvalidInput as exc:
            reason = exc.errors[0].reason if exc.errors else exc.detail
            errors.append(FieldError(f"promises[{i}].terms", reason))
            terms = {}
        if d.due_at is None:
            errors.append(FieldError(f"promises[{i}].due_at", "say when it would be due"))
        out.append(
            {"text": text, "terms": terms, "due_at": d.due_at.isoformat() if d.due_at else None}
        )
    if errors:
        raise InvalidInput(f"{errors[0].field}: {errors[0].reason}", errors)
    return out


def _event(attempt: PracticeAttempt, kind: str, viewer: Viewer, now: datetime, **data: Any) -> None:
    PracticeEvent.objects.create(
        attempt=attempt, kind=kind, actor=actor_of(viewer), at=now, data=data
    )


def _claim(attempt: PracticeAttempt, states: Sequence[str], doing: str) -> PracticeAttempt:
    """The attempt, locked and in one of ``states``; 409 otherwise (someone acted first)."""
    locked = PracticeAttempt.objects.select_for_update().get(pk=attempt.pk)
    if locked.state not in states:
        raise Conflict(f"the attempt is {locked.get_state_display().lower()}: it cannot be {doing}")
    return locked


def attempt_save(
    *,
    viewer: Viewer,
    practice_case: PracticeCase,
    reply: str,
    promises: Sequence[PromiseDraft] = (),
    handoff_team: str | None = None,
    handoff_note: str = "",
    now: datetime,
) -> PracticeAttempt:
    """The viewer's draft at ``practice_case``, written: their open attempt (draft or
    returned) updated, or a new one.

    403 unless the viewer works in the case's team (an admin too), 409 when the case is
    retired or their attempt is waiting for the lead; 422 naming ``reply``,
    ``promises[i].text|terms|due_at``, ``handoff_team`` or ``handoff_note``. Nothing outside
    the attempt is written."""
    viewer = viewer_check(viewer)
    user = actor_of(viewer)
    if user is None:
        raise PermissionDenied("practice is by a person: use an agent's token")
    scope = training_scope(viewer)
    if scope.teams is not None and practice_case.team_id not in scope.teams:
        raise NotFound(f"practice case {practice_case.pk}")
    if not practice_case.active:
        raise Conflict("this practice case is retired: it takes no new drafts")
    reply = _text(reply, "reply", required=False)
    drafts = _promises_checked(promises)
    team = None
    if handoff_team:
        team = Team.objects.filter(slug=handoff_team).first()
        if team is None:
            raise _bad("handoff_team", f"no team {handoff_team!r}")
    note = _text(handoff_note, "handoff_note", required=False, limit=2000)
    if note and team is None:
        raise _bad("handoff_team", "a hand-off note needs the team it goes to")
    values = {
        "reply": reply,
        "promises": drafts,
        "handoff_team": team,
        "handoff_note": note,
        "updated_at": now,
    }
    try:
        with transaction.atomic():
            attempt = (
                PracticeAttempt.objects.select_for_update()
                .filter(
                    agent=user,
                    practice_case=practice_case,
                    state__in=[AttemptState.DRAFT, AttemptState.SUBMITTED, AttemptState.RETURNED],
                )
                .first()
            )
            if attempt is not None and attempt.state == AttemptState.SUBMITTED:
                raise Conflict("your attempt is waiting for the lead: it cannot be changed")
            if attempt is None:
                attempt = PracticeAttempt.objects.create(
                    practice_case=practice_case,
                    agent=user,
                    team_id=practice_case.team_id,
                    created_at=now,
                    **values,
                )
                _event(attempt, "started", viewer, now)
            else:
                for name, value in values.items():
                    setattr(attempt, name, value)
                attempt.save(update_fields=list(values))
                _event(attempt, "saved", viewer, now)
    except IntegrityError:
        # Two first saves at once: the other made the attempt; save into it.
        return attempt_save(
            viewer=viewer,
            practice_case=practice_case,
            reply=reply,
            promises=promises,
            handoff_team=handoff_team,
            handoff_note=handoff_note,
            now=now,
        )
    return attempt


def attempt_submit(*, viewer: Viewer, attempt: PracticeAttempt, now: datetime) -> PracticeAttempt:
    """The agent hands their draft to the lead: draft or returned -> submitted (409
    otherwise). 403 unless it is the viewer's own; 422 ``reply`` when there is no reply.
    The dry-run policy verdicts of its promises are kept with it for the lead."""
    viewer = viewer_check(viewer)
    if attempt.agent_id != getattr(viewer, "pk", None):
        raise PermissionDenied("only the agent who drafted it submits an attempt")
    with transaction.atomic():
        locked = _claim(attempt, [AttemptState.DRAFT, AttemptState.RETURNED], "submitted")
        if not locked.reply.strip():
            raise _bad("reply", "write the reply before submitting")
        check = practice_check(
            practice_case=locked.practice_case,
            reply=locked.reply,
            promises=[(p["text"], p["terms"], "") for p in locked.promises],
            authority=agent_authority(viewer),  # type: ignore[arg-type]
            now=now,
        )
        locked.checks = [p.as_dict() for p in check.promises]
        locked.state = AttemptState.SUBMITTED
        locked.submitted_at = now
        locked.updated_at = now
        locked.save(update_fields=["checks", "state", "submitted_at", "updated_at"])
        _event(locked, "submitted", viewer, now, warnings=check.warnings)
    return locked


@dataclass(frozen=True)
class ScoreIn:
    category: int
    score: int


def _scores_checked(card: QaScorecard, scores: Sequence[ScoreIn]) -> list[tuple[QaCategory, int]]:
    categories = {c.pk: c for c in card.categories.all()}
    errors: list[FieldError] = []
    seen: set[int] = set()
    scored = []
    for i, s in enumerate(scores):
        cat = categories.get(s.category)
        if cat is None:
            errors.append(
                FieldError(f"scores[{i}].category", f"no category {s.category} on {card.name!r}")
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
        scored.append((cat, s.score))
    for pk, cat in categories.items():
        if pk not in seen:
            errors.append(FieldError("scores", f"category {pk} ({cat.name!r}) has no score"))
    if errors:
        raise InvalidInput(f"bad scores: {errors[0].field}: {errors[0].reason}", errors)
    return scored


def _reviewer_check(viewer: Viewer, attempt: PracticeAttempt) -> None:
    if attempt.agent_id == getattr(viewer, "pk", None):
        raise PermissionDenied("nobody scores their own practice")
    _lead_check(viewer, attempt.team_id, "scores its agents' practice")


def attempt_score(
    *,
    viewer: Viewer,
    attempt: PracticeAttempt,
    scores: Sequence[ScoreIn],
    comment: str = "",
    now: datetime,
) -> PracticeAttempt:
    """A lead scores a submitted attempt with the practice case's QA scorecard: every
    category once within its range (422 naming ``scores``, ``scores[i].category`` or
    ``scores[i].score``); the total is ``qa.review_score`` of them, the published formula
    the QA reviews use. 403 for the agent themself or a non-lead; 409 unless submitted."""
    viewer = viewer_check(viewer)
    _reviewer_check(viewer, attempt)
    comment = _text(comment, "comment", required=False)
    scored = _scores_checked(attempt.practice_case.scorecard, scores)
    total = review_score(
        [
            Rated(weight=c.weight, low=c.min_score, high=c.max_score, critical=c.critical, score=s)
            for c, s in scored
        ]
    )
    with transaction.atomic():
        locked = _claim(attempt, [AttemptState.SUBMITTED], "scored")
        PracticeScore.objects.filter(attempt=locked).delete()
        PracticeScore.objects.bulk_create(
            [PracticeScore(attempt=locked, category=c, score=s) for c, s in scored]
        )
        locked.score = total
        locked.comment = comment
        locked.scored_by = actor_of(viewer)
        locked.scored_at = now
        locked.updated_at = now
        locked.state = AttemptState.SCORED
        locked.save(
            update_fields=["score", "comment", "scored_by", "scored_at", "updated_at", "state"]
        )
        _event(locked, "scored", viewer, now, score=total)
    return locked


def attempt_return(
    *, viewer: Viewer, attempt: PracticeAttempt, comment: str, now: datetime
) -> PracticeAttempt:
    """A lead sends a submitted attempt back to redo, saying why (422 ``comment``):
    submitted -> returned (409 otherwise); the agent edits it and submits again."""
    viewer = viewer_check(viewer)
    _reviewer_check(viewer, attempt)
    comment = _text(comment, "comment", required=True)
    with transaction.atomic():
        locked = _claim(attempt, [AttemptState.SUBMITTED], "returned")
        locked.state = AttemptState.RETURNED
        locked.comment = comment
        locked.updated_at = now
        locked.save(update_fields=["state", "comment", "updated_at"])
        _event(locked, "returned", viewer, now, comment=comment)
    return locked

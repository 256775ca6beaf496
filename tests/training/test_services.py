"""Practice cases, paths and attempts through the services: masking frozen at creation,
the QA total by the scorecards' formula, states, and that practice touches nothing real."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.models import Case
from lastmile.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lastmile.customers.models import Interaction
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.models import Loop
from lastmile.promises.models import Promise
from lastmile.scorecards.qa import Rated, review_score
from lastmile.scorecards.services import qa_automatic_scorecard
from lastmile.training import services
from lastmile.training.models import AttemptState, PracticeAttempt, PracticeEvent
from lastmile.training.selectors import progress_of
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db


def _draft(viewer, practice, now, **kw):  # type: ignore[no-untyped-def]
    values = {
        "reply": "Sorry for the wait. We will refund the delivery charge by Friday.",
        "promises": [
            services.PromiseDraft(
                text="Refund the delivery charge",
                terms="refund_amount=25",
                due_at=now + timedelta(days=2),
            )
        ],
        "handoff_team": None,
        "handoff_note": "",
    }
    values.update(kw)
    return services.attempt_save(viewer=viewer, practice_case=practice, now=now, **values)


def _all_scores(card, picks):  # type: ignore[no-untyped-def]
    cats = list(card.categories.all())
    return [services.ScoreIn(category=c.pk, score=s) for c, s in zip(cats, picks, strict=True)]


# --- making practice cases -----------------------------------------------------------------


def test_a_lead_makes_a_practice_case_with_the_customer_masked(practice, closed_case):
    texts = " ".join(m["text"] for m in practice.conversation)
    assert [m["author"] for m in practice.conversation] == ["customer", "agent"]
    assert "Margaret" not in texts and "Oduya" not in texts
    assert "+447700900123" not in texts and "margaret.oduya@example.com" not in texts
    assert "[name]" in texts and "[phone]" in texts and "[email]" in texts
    assert "three days late" in texts
    assert practice.source_ref == closed_case.ref and practice.team_id == closed_case.team_id


def test_the_snapshot_is_frozen_when_the_case_changes_later(practice, closed_case, now):
    before = list(practice.conversation)
    interaction_record(
        customer=closed_case.customer,
        case=closed_case,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        body="One more thing: my neighbour Jane took the parcel.",
    )
    Interaction.objects.filter(case=closed_case, direction="outbound").update(body="Edited later")
    practice.refresh_from_db()
    assert practice.conversation == before


def test_an_agent_may_not_make_a_practice_case(alice, closed_case, card, now):
    with pytest.raises(PermissionDenied):
        services.practice_case_create(
            viewer=alice,
            case_ref=closed_case.ref,
            title="x",
            guidance="",
            scorecard_id=card.pk,
            now=now,
        )


def test_an_open_case_is_no_practice_case(lena, team, card, now):
    case = CaseFactory(team=team)
    with pytest.raises(InvalidInput) as exc:
        services.practice_case_create(
            viewer=lena, case_ref=case.ref, title="x", guidance="", scorecard_id=card.pk, now=now
        )
    assert exc.value.errors[0].field == "case"


def test_another_teams_case_is_unknown_to_a_lead(lena, other_team, card, now):
    case = CaseFactory(team=other_team, status="solved")
    with pytest.raises(InvalidInput) as exc:
        services.practice_case_create(
            viewer=lena, case_ref=case.ref, title="x", guidance="", scorecard_id=card.pk, now=now
        )
    assert exc.value.errors[0].field == "case"


def test_the_automatic_scorecard_is_refused(lena, closed_case, now):
    auto = qa_automatic_scorecard()
    with pytest.raises(InvalidInput) as exc:
        services.practice_case_create(
            viewer=lena,
            case_ref=closed_case.ref,
            title="x",
            guidance="",
            scorecard_id=auto.pk,
            now=now,
        )
    assert exc.value.errors[0].field == "scorecard"


def test_a_title_is_required(lena, closed_case, card, now):
    with pytest.raises(InvalidInput) as exc:
        services.practice_case_create(
            viewer=lena,
            case_ref=closed_case.ref,
            title="  ",
            guidance="",
            scorecard_id=card.pk,
            now=now,
        )
    assert exc.value.errors[0].field == "title"


# --- the path --------------------------------------------------------------------------------


def test_a_lead_arranges_the_path_in_order_and_again(lena, practice, closed_case, card, now):
    second = services.practice_case_create(
        viewer=lena,
        case_ref=closed_case.ref,
        title="Second",
        guidance="",
        scorecard_id=card.pk,
        now=now,
    )
    path = services.path_arrange(
        viewer=lena, team=practice.team, case_ids=[second.pk, practice.pk], now=now
    )
    assert [(s.position, s.practice_case_id) for s in path.steps.order_by("position")] == [
        (1, second.pk),
        (2, practice.pk),
    ]
    path = services.path_arrange(viewer=lena, team=practice.team, case_ids=[practice.pk], now=now)
    assert [s.practice_case_id for s in path.steps.all()] == [practice.pk]
    assert PracticeEvent.objects.filter(path=path, kind="arranged").count() == 2


def test_a_path_names_each_bad_case(lena, practice, now):
    with pytest.raises(InvalidInput) as exc:
        services.path_arrange(
            viewer=lena, team=practice.team, case_ids=[practice.pk, practice.pk, 999], now=now
        )
    assert [e.field for e in exc.value.errors] == ["cases[1]", "cases[2]"]


def test_an_agent_may_not_arrange_the_path(alice, practice, now):
    with pytest.raises(PermissionDenied):
        services.path_arrange(viewer=alice, team=practice.team, case_ids=[practice.pk], now=now)


# --- attempts ------------------------------------------------------------------------------


def test_drafting_and_submitting_touch_no_customer_case_loop_or_promise(
    nina, practice, refund_policy, other_team, now
):
    counts = (
        Promise.objects.count(),
        Loop.objects.count(),
        Interaction.objects.count(),
        Case.objects.count(),
    )
    attempt = _draft(nina, practice, now, handoff_team="back", handoff_note="Approve the refund")
    services.attempt_submit(viewer=nina, attempt=attempt, now=now)
    assert counts == (
        Promise.objects.count(),
        Loop.objects.count(),
        Interaction.objects.count(),
        Case.objects.count(),
    )


def test_submitting_keeps_the_dry_run_verdicts_for_the_lead(nina, practice, refund_policy, now):
    attempt = _draft(
        nina,
        practice,
        now,
        promises=[services.PromiseDraft(text="Refund", terms="refund_amount=45", due_at=now)],
    )
    attempt = services.attempt_submit(viewer=nina, attempt=attempt, now=now)
    assert attempt.state == AttemptState.SUBMITTED
    verdicts = attempt.checks[0]["verdicts"]
    assert [(v["policy"], v["result"]) for v in verdicts] == [("delivery-refund", "fail")]


def test_a_second_save_updates_the_one_open_attempt(nina, practice, now):
    first = _draft(nina, practice, now)
    second = _draft(nina, practice, now + timedelta(minutes=1), reply="Better reply")
    assert first.pk == second.pk
    assert PracticeAttempt.objects.get().reply == "Better reply"


def test_bad_promises_are_named(nina, practice, now):
    with pytest.raises(InvalidInput) as exc:
        _draft(
            nina,
            practice,
            now,
            promises=[services.PromiseDraft(text="", terms="refund_amount=", due_at=None)],
        )
    assert [e.field for e in exc.value.errors] == [
        "promises[0].text",
        "promises[0].terms",
        "promises[0].due_at",
    ]
    assert not PracticeAttempt.objects.exists()


def test_a_handoff_needs_a_known_team(nina, practice, now):
    with pytest.raises(InvalidInput) as exc:
        _draft(nina, practice, now, handoff_team="nowhere")
    assert exc.value.errors[0].field == "handoff_team"


def test_an_empty_reply_cannot_be_submitted(nina, practice, now):
    attempt = _draft(nina, practice, now, reply="")
    with pytest.raises(InvalidInput) as exc:
        services.attempt_submit(viewer=nina, attempt=attempt, now=now)
    assert exc.value.errors[0].field == "reply"


def test_the_total_is_the_qa_formulas(nina, lena, practice, card, now):
    attempt = services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    picks = [3, 4, 1]
    scored = services.attempt_score(
        viewer=lena, attempt=attempt, scores=_all_scores(card, picks), comment="Good", now=now
    )
    expected = review_score(
        [
            Rated(weight=c.weight, low=c.min_score, high=c.max_score, critical=c.critical, score=s)
            for c, s in zip(card.categories.all(), picks, strict=True)
        ]
    )
    assert scored.score == expected == 66.67
    assert scored.state == AttemptState.SCORED and scored.scored_by == lena


def test_a_critical_category_under_half_zeroes_the_total(nina, lena, practice, card, now):
    attempt = services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    scored = services.attempt_score(
        viewer=lena, attempt=attempt, scores=_all_scores(card, [1, 5, 2]), now=now
    )
    assert scored.score == 0.0


def test_scoring_needs_every_category_in_range(nina, lena, practice, card, now):
    attempt = services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    cats = list(card.categories.all())
    with pytest.raises(InvalidInput) as exc:
        services.attempt_score(
            viewer=lena,
            attempt=attempt,
            scores=[services.ScoreIn(category=cats[0].pk, score=9)],
            now=now,
        )
    assert [e.field for e in exc.value.errors] == ["scores[0].score", "scores", "scores"]
    attempt.refresh_from_db()
    assert attempt.state == AttemptState.SUBMITTED and attempt.score is None


def test_a_draft_cannot_be_scored_and_a_score_is_given_once(nina, lena, practice, card, now):
    attempt = _draft(nina, practice, now)
    with pytest.raises(Conflict):
        services.attempt_score(
            viewer=lena, attempt=attempt, scores=_all_scores(card, [4, 5, 2]), now=now
        )
    services.attempt_submit(viewer=nina, attempt=attempt, now=now)
    services.attempt_score(
        viewer=lena, attempt=attempt, scores=_all_scores(card, [4, 5, 2]), now=now
    )
    with pytest.raises(Conflict):
        services.attempt_score(
            viewer=lena, attempt=attempt, scores=_all_scores(card, [0, 1, 0]), now=now
        )
    attempt.refresh_from_db()
    assert attempt.score == 100.0


def test_nobody_scores_their_own_practice_and_an_agent_scores_none(
    nina, alice, lena, practice, card, now
):
    mine = services.attempt_submit(viewer=lena, attempt=_draft(lena, practice, now), now=now)
    with pytest.raises(PermissionDenied):
        services.attempt_score(
            viewer=lena, attempt=mine, scores=_all_scores(card, [4, 5, 2]), now=now
        )
    hers = services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    with pytest.raises(PermissionDenied):
        services.attempt_score(
            viewer=alice, attempt=hers, scores=_all_scores(card, [4, 5, 2]), now=now
        )


def test_a_returned_attempt_is_redone_and_submitted_again(nina, lena, practice, now):
    attempt = services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    with pytest.raises(InvalidInput):
        services.attempt_return(viewer=lena, attempt=attempt, comment="", now=now)
    services.attempt_return(
        viewer=lena, attempt=attempt, comment="Say when the refund lands.", now=now
    )
    with pytest.raises(Conflict):
        services.attempt_return(viewer=lena, attempt=attempt, comment="again", now=now)
    redone = _draft(nina, practice, now, reply="Refund lands by Friday.")
    assert redone.pk == attempt.pk and redone.state == AttemptState.RETURNED
    redone = services.attempt_submit(viewer=nina, attempt=redone, now=now)
    assert redone.state == AttemptState.SUBMITTED
    kinds = list(PracticeEvent.objects.filter(attempt=attempt).values_list("kind", flat=True))
    assert kinds == ["started", "submitted", "returned", "saved", "submitted"]


def test_a_submitted_attempt_cannot_be_changed(nina, practice, now):
    services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    with pytest.raises(Conflict):
        _draft(nina, practice, now, reply="changed my mind")


def test_an_outsider_cannot_draft_at_another_teams_case(charlie, practice, now):
    with pytest.raises(NotFound):
        _draft(charlie, practice, now)


def test_a_retired_case_takes_no_draft(lena, nina, practice, now):
    services.practice_case_update(viewer=lena, practice_case=practice, active=False)
    with pytest.raises(Conflict):
        _draft(nina, practice, now)


def test_progress_counts_scored_steps_and_weekly_means(
    nina, lena, practice, closed_case, card, now
):
    second = services.practice_case_create(
        viewer=lena,
        case_ref=closed_case.ref,
        title="Second",
        guidance="",
        scorecard_id=card.pk,
        now=now,
    )
    services.path_arrange(
        viewer=lena, team=practice.team, case_ids=[practice.pk, second.pk], now=now
    )
    a = services.attempt_submit(viewer=nina, attempt=_draft(nina, practice, now), now=now)
    services.attempt_score(viewer=lena, attempt=a, scores=_all_scores(card, [4, 5, 2]), now=now)
    b = services.attempt_submit(viewer=nina, attempt=_draft(nina, second, now), now=now)
    services.attempt_score(
        viewer=lena, attempt=b, scores=_all_scores(card, [2, 3, 1]), now=now + timedelta(days=7)
    )
    p = progress_of([nina.pk], until=now + timedelta(days=8))[nina.pk]
    assert (p.done, p.total) == (2, 2)
    assert p.weeks == [("2026-W48", 100.0, 1), ("2026-W49", 50.0, 1)]
    before = progress_of([nina.pk], until=now + timedelta(days=1))[nina.pk]
    assert before.weeks == [("2026-W48", 100.0, 1)]

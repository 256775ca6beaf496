"""The practice pages: my path and progress (and, for a lead, the teams' paths and the
attempts waiting for a score), a practice case with the draft form, an attempt with the
lead's scoring form, a team's path arranged, and a practice case made from a closed case.

Views parse the form, read the clock and call one service; a refusal comes back in the
service's words with its status. The draft form works without JavaScript (a "Check" button
re-renders the page with the verdicts and articles); training.js asks the check endpoint as
the agent types instead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lastmile.console.pages import page_chrome
from lastmile.console.selectors import all_teams
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput, NotFound
from lastmile.people.models import Agent, Team
from lastmile.people.selectors import agent_authority
from lastmile.promises.terms import terms_format, terms_parse
from lastmile.scorecards.models import QaScorecard
from lastmile.training import selectors, services
from lastmile.training.models import AttemptState, PracticeAttempt, PracticeCase

PROMISE_ROWS = 2
PAGE = 20
DUE_FORMAT = "%Y-%m-%dT%H:%M"


def _due(text: str) -> datetime | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        naive = datetime.strptime(text, DUE_FORMAT)  # noqa: DTZ007 - made aware below
    except ValueError:
        return None
    return timezone.make_aware(naive, timezone.get_current_timezone())


# --- the index ----------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    viewer = request.user
    scope = selectors.training_scope(viewer)
    context: dict[str, Any] = {**page_chrome(request, now), "nobody": scope.nobody}
    if scope.nobody:
        return render(request, "training/index.html", context)
    mine = selectors.progress_of([viewer.pk], until=now)[viewer.pk]
    open_attempts = {
        a.practice_case_id: a
        for a in selectors.attempt_list(viewer=viewer, agent_id=viewer.pk).exclude(
            state=AttemptState.SCORED
        )
    }
    for step in mine.steps:
        step["open"] = open_attempts.get(step["case"].pk)
    context["mine"] = mine
    context["my_attempts"] = Paginator(
        selectors.attempt_list(viewer=viewer, agent_id=viewer.pk), PAGE
    ).get_page(request.GET.get("page"))
    lead = selectors.is_lead(viewer)
    context["lead"] = lead
    if lead:
        context["waiting"] = Paginator(selectors.attempts_waiting(viewer=viewer), PAGE).get_page(
            request.GET.get("waiting")
        )
        teams = []
        paths = {p.team_id: p for p in selectors.paths_visible(viewer=viewer)}
        team_qs = Team.objects.order_by("name")
        if scope.led is not None:
            team_qs = team_qs.filter(pk__in=scope.led)
        team_list = list(team_qs)
        members = list(
            Agent.objects.filter(teams__in=team_list)
            .exclude(user_id=viewer.pk)
            .select_related("user")
            .prefetch_related("teams")
            .distinct()
            .order_by("user__username")
        )
        progress = selectors.progress_of([a.user_id for a in members], until=now)
        for team in team_list:
            path = paths.get(team.pk)
            teams.append(
                {
                    "team": team,
                    "path": path,
                    "agents": [
                        {"agent": a, "progress": progress[a.user_id]}
                        for a in members
                        if any(t.pk == team.pk for t in a.teams.all())
                    ],
                }
            )
        context["teams"] = teams
        context["cases"] = Paginator(
            selectors.practice_cases_visible(viewer=viewer).filter(
                team_id__in=[t.pk for t in team_list]
            ),
            PAGE,
        ).get_page(request.GET.get("cases"))
    return render(request, "training/index.html", context)


# --- making a practice case ---------------------------------------------------------------


def _scorecards() -> list[QaScorecard]:
    return list(
        QaScorecard.objects.filter(active=True, automatic=False)
        .select_related("team")
        .order_by("name")
    )


@login_required
@require_http_methods(["GET", "POST"])
def case_new(request: HttpRequest) -> HttpResponse:
    """``/training/cases/new?case=LM-1042``: a lead turns a closed case into practice."""
    now = utcnow()
    data = request.POST if request.method == "POST" else request.GET
    values = {k: (data.get(k) or "").strip() for k in ("case", "title", "guidance", "scorecard")}
    error = ""
    status = 200
    if not selectors.is_lead(request.user):
        error = "Only team leads and admins make practice cases."
        status = 403
    elif request.method == "POST":
        try:
            scorecard = int(values["scorecard"]) if values["scorecard"].isdigit() else None
            made = services.practice_case_create(
                viewer=request.user,
                case_ref=values["case"],
                title=values["title"],
                guidance=values["guidance"],
                scorecard_id=scorecard,
                now=now,
            )
        except DomainError as exc:
            error, status = exc.detail, exc.status
        else:
            messages.success(request, f"Practice case “{made.title}” made from {made.source_ref}.")
            return redirect("training:case", case_id=made.pk)
    return render(
        request,
        "training/case_new.html",
        {
            **page_chrome(request, now),
            "values": values,
            "scorecards": _scorecards(),
            "error": error,
            "allowed": status != 403,
        },
        status=status,
    )


# --- practising ---------------------------------------------------------------------------


def _form_values(attempt: PracticeAttempt | None, post: QueryDict | None) -> dict[str, Any]:
    """What the draft form shows: what was posted, else the saved draft."""
    rows = []
    if post is not None:
        for i in range(PROMISE_ROWS):
            rows.append(
                {
                    "i": i,
                    "text": post.get(f"promise-{i}-text", ""),
                    "terms": post.get(f"promise-{i}-terms", ""),
                    "due_at": post.get(f"promise-{i}-due_at", ""),
                }
            )
        return {
            "reply": post.get("reply", ""),
            "promises": rows,
            "handoff_team": post.get("handoff_team", ""),
            "handoff_note": post.get("handoff_note", ""),
        }
    saved = list(attempt.promises) if attempt is not None else []
    for i in range(PROMISE_ROWS):
        p = saved[i] if i < len(saved) else {}
        due = ""
        if p.get("due_at"):
            due = timezone.localtime(datetime.fromisoformat(p["due_at"])).strftime(DUE_FORMAT)
        rows.append(
            {
                "i": i,
                "text": p.get("text", ""),
                "terms": terms_format(p["terms"]) if p.get("terms") else "",
                "due_at": due,
            }
        )
    return {
        "reply": attempt.reply if attempt else "",
        "promises": rows,
        "handoff_team": attempt.handoff_team.slug if attempt and attempt.handoff_team else "",
        "handoff_note": attempt.handoff_note if attempt else "",
    }


def _check(request: HttpRequest, case: PracticeCase, values: dict[str, Any], now: datetime) -> Any:
    promises: list[tuple[str, dict[str, Any] | None, str]] = []
    for row in values["promises"]:
        if not (row["text"].strip() or row["terms"].strip()):
            continue
        try:
            promises.append((row["text"], terms_parse(row["terms"]), ""))
        except InvalidInput as exc:
            promises.append((row["text"], None, exc.errors[0].reason if exc.errors else exc.detail))
    return selectors.practice_check(
        practice_case=case,
        reply=values["reply"],
        promises=promises,
        authority=agent_authority(request.user),
        now=now,
    )


def _drafts(values: dict[str, Any]) -> list[services.PromiseDraft]:
    out = []
    for row in values["promises"]:
        if not (row["text"].strip() or row["terms"].strip() or row["due_at"].strip()):
            continue
        out.append(
            services.PromiseDraft(text=row["text"], terms=row["terms"], due_at=_due(row["due_at"]))
        )
    return out


def _shown_conversation(case: PracticeCase) -> list[dict[str, Any]]:
    """The conversation up to the customer's last message: what the agent answers. The
    replies after it (the original answer) are the lead's to compare with."""
    messages_ = list(case.conversation)
    last = max((i for i, m in enumerate(messages_) if m.get("author") == "customer"), default=-1)
    return [_message(m) for m in messages_[: last + 1]]


def _message(m: dict[str, Any]) -> dict[str, Any]:
    return {**m, "at": datetime.fromisoformat(m["at"])}


def _practice_render(
    request: HttpRequest,
    case: PracticeCase,
    now: datetime,
    *,
    values: dict[str, Any] | None = None,
    error: str = "",
    errors: list[Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    attempt = selectors.attempt_open(agent=request.user, practice_case=case)
    if values is None:
        values = _form_values(attempt, None)
    scope = selectors.training_scope(request.user)
    scored = selectors.attempt_list(
        viewer=request.user,
        agent_id=request.user.pk,
        practice_case_id=case.pk,
        state=AttemptState.SCORED,
    )
    lead = scope.leads(case.team_id)
    return render(
        request,
        "training/case.html",
        {
            **page_chrome(request, now),
            "case": case,
            "conversation": _shown_conversation(case),
            "original": [_message(m) for m in case.conversation] if lead else [],
            "attempt": attempt,
            "scored": list(scored[:5]),
            "values": values,
            "check": _check(request, case, values, now),
            "teams": all_teams(),
            "error": error,
            "errors": errors or [],
            "lead": lead,
            "editable": case.active
            and (attempt is None or attempt.state != AttemptState.SUBMITTED),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def case_page(request: HttpRequest, case_id: int) -> HttpResponse:
    now = utcnow()
    try:
        case = selectors.practice_case_get(viewer=request.user, case_id=case_id)
    except DomainError as exc:
        return error_response(request, exc)
    if request.method == "GET":
        return _practice_render(request, case, now)
    action = request.POST.get("action", "save")
    if action in ("retire", "reactivate"):
        try:
            services.practice_case_update(
                viewer=request.user, practice_case=case, active=action == "reactivate"
            )
        except DomainError as exc:
            return _practice_render(request, case, now, error=exc.detail, status=exc.status)
        messages.success(
            request,
            "Practice case retired." if action == "retire" else "Practice case active again.",
        )
        return redirect("training:case", case_id=case.pk)
    values = _form_values(None, request.POST)
    if action == "check":
        return _practice_render(request, case, now, values=values)
    try:
        attempt = services.attempt_save(
            viewer=request.user,
            practice_case=case,
            reply=values["reply"],
            promises=_drafts(values),
            handoff_team=values["handoff_team"] or None,
            handoff_note=values["handoff_note"],
            now=now,
        )
        if action == "submit":
            services.attempt_submit(viewer=request.user, attempt=attempt, now=now)
    except DomainError as exc:
        return _practice_render(
            request,
            case,
            now,
            values=values,
            error=exc.detail,
            errors=list(exc.errors),
            status=exc.status,
        )
    if action == "submit":
        messages.success(request, "Submitted: your lead scores it with the QA scorecard.")
        return redirect("training:attempt", attempt_id=attempt.pk)
    messages.success(request, "Draft saved.")
    return redirect("training:case", case_id=case.pk)


@login_required
@require_POST
def case_check(request: HttpRequest, case_id: int) -> HttpResponse:
    """The verdicts and articles for the draft being typed (training.js), a fragment."""
    now = utcnow()
    try:
        case = selectors.practice_case_get(viewer=request.user, case_id=case_id)
    except DomainError as exc:
        return error_response(request, exc)
    values = _form_values(None, request.POST)
    return render(
        request, "training/_check.html", {"check": _check(request, case, values, now), "case": case}
    )


# --- scoring ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def attempt_page(request: HttpRequest, attempt_id: int) -> HttpResponse:
    now = utcnow()
    try:
        attempt = selectors.attempt_get(viewer=request.user, attempt_id=attempt_id)
    except DomainError as exc:
        return error_response(request, exc)
    categories = list(attempt.practice_case.scorecard.categories.all())
    error, errors, status = "", [], 200
    posted: dict[int, str] = {}
    if request.method == "POST":
        action = request.POST.get("action", "score")
        comment = request.POST.get("comment", "")
        posted = {c.pk: request.POST.get(f"score-{c.pk}", "") for c in categories}
        try:
            if action == "return":
                services.attempt_return(
                    viewer=request.user, attempt=attempt, comment=comment, now=now
                )
                messages.success(request, "Returned to the agent to redo.")
            else:
                scores = []
                for i, c in enumerate(categories):
                    raw = posted[c.pk].strip()
                    if not raw.lstrip("-").isdigit():
                        raise InvalidInput(
                            f"score {c.name!r}",
                            [FieldError(f"scores[{i}].score", f"score {c.name!r}")],
                        )
                    scores.append(services.ScoreIn(category=c.pk, score=int(raw)))
                services.attempt_score(
                    viewer=request.user, attempt=attempt, scores=scores, comment=comment, now=now
                )
                messages.success(request, "Scored.")
        except DomainError as exc:
            error, errors, status = exc.detail, list(exc.errors), exc.status
        else:
            return redirect("training:attempt", attempt_id=attempt.pk)
        attempt = selectors.attempt_get(viewer=request.user, attempt_id=attempt_id)
    scope = selectors.training_scope(request.user)
    may_score = (
        attempt.state == AttemptState.SUBMITTED
        and attempt.agent_id != request.user.pk
        and scope.leads(attempt.team_id)
    )
    given = {s.category_id: s.score for s in attempt.scores.all()}
    rows = [
        {
            "category": c,
            "score": given.get(c.pk),
            "value": posted.get(c.pk, ""),
            "range": range(c.min_score, c.max_score + 1),
        }
        for c in categories
    ]
    case = attempt.practice_case
    lead = scope.leads(case.team_id)
    return render(
        request,
        "training/attempt.html",
        {
            **page_chrome(request, now),
            "attempt": attempt,
            "case": case,
            "conversation": [_message(m) for m in case.conversation]
            if lead
            else _shown_conversation(case),
            "rows": rows,
            "may_score": may_score,
            "lead": lead,
            "show_guidance": lead or attempt.state == AttemptState.SCORED,
            "events": list(attempt.events.all()),
            "error": error,
            "errors": errors,
            "comment": request.POST.get("comment", "") if request.method == "POST" else "",
        },
        status=status,
    )


# --- a team's path ------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def path_page(request: HttpRequest, slug: str) -> HttpResponse:
    """A lead arranges the team's path: each active practice case gets a step number, or
    none to leave it off."""
    now = utcnow()
    team = Team.objects.filter(slug=slug).first()
    try:
        if team is None:
            raise NotFound(f"team {slug}")
        path = selectors.path_get(viewer=request.user, team=team)
    except DomainError as exc:
        return error_response(request, exc)
    cases = list(
        selectors.practice_cases_visible(viewer=request.user, active=True).filter(team=team)
    )
    on_path = {s.practice_case_id: s.position for s in path.steps.all()} if path else {}
    error, status = "", 200
    posted: dict[int, str] = {}
    if request.method == "POST":
        posted = {c.pk: (request.POST.get(f"pos-{c.pk}") or "").strip() for c in cases}
        try:
            bad = [c for c in cases if posted[c.pk] and not posted[c.pk].isdigit()]
            if bad:
                raise InvalidInput(
                    "step numbers are whole numbers",
                    [FieldError("cases", f"“{bad[0].title}”: a whole number or none")],
                )
            chosen = sorted((int(posted[c.pk]), c.title, c.pk) for c in cases if posted[c.pk])
            services.path_arrange(
                viewer=request.user, team=team, case_ids=[pk for _, _, pk in chosen], now=now
            )
        except DomainError as exc:
            error, status = exc.detail, exc.status
        else:
            messages.success(request, f"{team.name}'s onboarding path saved.")
            return redirect("training:path", slug=team.slug)
    rows = [
        {
            "case": c,
            "value": posted.get(c.pk, str(on_path.get(c.pk, "")))
            if posted
            else str(on_path.get(c.pk, "")),
        }
        for c in sorted(cases, key=lambda c: (on_path.get(c.pk) or 10_000, c.title))
    ]
    return render(
        request,
        "training/path.html",
        {
            **page_chrome(request, now),
            "team": team,
            "path": path,
            "rows": rows,
            "may_arrange": selectors.training_scope(request.user).leads(team.pk),
            "error": error,
        },
        status=status,
    )

"""The QA pages a lead reviews from: the sample of solved cases to review (on the reviews
page), and the review form of one case, which writes through ``qa_review_create`` as
``POST /api/v1/qa/reviews`` does (the same checks, the same errors, nothing half-written).

Plain forms: no JavaScript needed; the form posts with Django's CSRF token."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, FieldError, InvalidInput
from lastmile.people.models import Team
from lastmile.people.selectors import team_by_slug, visible_team_ids
from lastmile.scorecards.models import QaReview, QaScorecard
from lastmile.scorecards.selectors import PERIOD_HELP, period_parse
from lastmile.scorecards.services import (
    ScoreIn,
    qa_conversation,
    qa_may_sample,
    qa_review_create,
    qa_review_scorecards,
    qa_review_subject,
    qa_sample,
)

SAMPLE_FIELDS = ("sample_team", "sample_period", "sample_n", "sample_seed")


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def sample_context(request: HttpRequest) -> dict[str, Any]:
    """The Sample form of the reviews page and, once asked (``sample=1``), the cases
    ``qa_sample`` picks per agent, each with its review link. Empty for an agent."""
    if not qa_may_sample(request.user):  # type: ignore[arg-type]
        return {"may_sample": False}
    now = utcnow()
    q = request.GET
    asked = {k: (q.get(k) or "").strip() for k in SAMPLE_FIELDS}
    ids = visible_team_ids(request.user)  # type: ignore[arg-type]
    teams = Team.objects.order_by("name")
    if ids is not None:
        teams = teams.filter(pk__in=ids)
    filtered = any(q.get(k) for k in ("agent", "team", "period", "case", "effective"))
    out: dict[str, Any] = {
        "may_sample": True,
        # open unless the page lists some reviews only (a score's drill-down, a saved review)
        "sample_open": q.get("sample") == "1" or not filtered,
        "sample_asked": asked,
        "sample_teams": list(teams),
        "period_help": PERIOD_HELP,
        "sample": None,
        "sample_errors": {},
    }
    if q.get("sample") != "1":
        return out
    errors: dict[str, str] = {}
    n = _int(asked["sample_n"] or "5")
    seed = _int(asked["sample_seed"] or "0")
    if n is None:
        errors["n"] = "a whole number from 1 to 100"
    if seed is None:
        errors["seed"] = "a whole number"
    try:
        period = period_parse(asked["sample_period"] or None, now=now)
    except DomainError as exc:
        errors["period"] = exc.detail
    if errors:
        out["sample_errors"] = errors
        return out
    assert n is not None and seed is not None
    try:
        picked = qa_sample(
            viewer=request.user,  # type: ignore[arg-type]
            period=period,
            n=n,
            seed=seed,
            team=team_by_slug(asked["sample_team"] or None),
        )
    except DomainError as exc:
        field = next((e.field for e in exc.errors), "team")
        out["sample_errors"] = {field: exc.detail}
        return out
    refs = [c.pk for cases in picked.values() for c in cases]
    done: dict[int, list[float]] = {}
    for case_id, score in (
        QaReview.objects.filter(case_id__in=refs, automatic=False)
        .order_by("created_at", "pk")
        .values_list("case_id", "score")
    ):
        done.setdefault(case_id, []).append(score)
    # an automatic review still counting: a plain review counts beside it, an override instead
    overridden = QaReview.objects.filter(overrides__isnull=False).values("overrides")
    automatic = dict(
        QaReview.objects.filter(case_id__in=refs, automatic=True)
        .exclude(pk__in=overridden)
        .values_list("case_id", "pk")
    )
    # the review form brings the lead back to this sample, to review the next case
    back = urlencode({"sample": "1", **{k: v for k, v in asked.items() if v}})
    out["sample"] = {
        "period": period,
        "agents": [
            {
                "agent": agent,
                "cases": [
                    {
                        "ref": c.ref,
                        "subject": c.subject,
                        "solved_at": c.solved_at,
                        "reviewed": done.get(c.pk, []),
                        "review": "/scorecards/qa/review/?"
                        + urlencode({"case": c.ref, "sample": back}),
                        "automatic": automatic.get(c.pk),
                        "override": "/scorecards/qa/review/?"
                        + urlencode(
                            {"case": c.ref, "overrides": automatic.get(c.pk), "sample": back}
                        ),
                    }
                    for c in cases
                ],
            }
            for agent, cases in picked.items()
        ],
    }
    return out


# --- the review form ------------------------------------------------------------------------

_INDEXED = re.compile(r"^scores\[(\d+)\]\.(?:score|category)$")
_CATEGORY = re.compile(r"\bcategory (\d+)\b")


def _field_errors(
    exc: DomainError, order: list[int]
) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """The service's field errors placed on the form: per category (``scores[i]`` is the
    i-th category posted, in ``order``), per other field, and the rest."""
    by_category: dict[int, str] = {}
    by_field: dict[str, str] = {}
    rest: list[str] = []
    errors: list[FieldError] = list(exc.errors) or [FieldError("", exc.detail)]
    for e in errors:
        m = _INDEXED.match(e.field)
        if m and int(m.group(1)) < len(order):
            by_category.setdefault(order[int(m.group(1))], e.reason)
            continue
        if e.field == "scores" and (c := _CATEGORY.search(e.reason)):
            by_category.setdefault(int(c.group(1)), e.reason)
            continue
        if e.field in ("scorecard", "comment", "case", "overrides"):
            by_field.setdefault(e.field, e.reason)
            continue
        rest.append(f"{e.field}: {e.reason}" if e.field else e.reason)
    return by_category, by_field, rest


def _sample_query(text: str) -> str:
    """The sample a review was opened from (its form's fields only), to go back to."""
    asked = QueryDict(text)
    if asked.get("sample") != "1":
        return ""
    keep = {k: asked[k] for k in SAMPLE_FIELDS if asked.get(k)}
    return urlencode({"sample": "1", **keep})


def _form_page(request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    return render(request, "scorecards/qa_review.html", context, status=status)


def _card_refused(request: HttpRequest, ref: str, scorecard_id: int, target: Any) -> str:
    """Why the service refuses a scorecard the form does not offer (posted by hand, or
    made inactive since): its own reason, asked with no scores so nothing can be written."""
    try:
        qa_review_create(
            viewer=request.user,  # type: ignore[arg-type]
            case_ref=ref,
            scorecard_id=scorecard_id,
            scores=[],
            overrides_id=target.pk if target else None,
            now=utcnow(),
        )
    except DomainError as exc:
        scorecard = next((e.reason for e in exc.errors if e.field == "scorecard"), "")
        return scorecard or exc.detail
    raise AssertionError("a review with no scores was written")  # pragma: no cover


@login_required
@require_http_methods(["GET", "POST"])
def qa_review_page(request: HttpRequest) -> HttpResponse:
    """The review form of one case (``?case=LM-1042``, with ``&overrides=<id>`` to override
    its automatic review): the conversation, the scorecard, one score per category and a
    comment. 404 when the viewer may not see the case (or the override is not of it), 403
    unless they may review its agent, as the API."""
    now = utcnow()
    data = request.POST if request.method == "POST" else request.GET
    chrome = page_chrome(request, now)
    ref = (data.get("case") or "").strip()
    overrides_text = (data.get("overrides") or "").strip()
    overrides = _int(overrides_text) if overrides_text else None
    sample = _sample_query(data.get("sample") or "")
    base: dict[str, Any] = {**chrome, "case_ref": ref, "overrides": overrides, "sample": sample}
    try:
        if overrides_text and overrides is None:
            raise InvalidInput("overrides: a review number", [FieldError("overrides", "a number")])
        case, agent, target = qa_review_subject(
            viewer=request.user,  # type: ignore[arg-type]
            case_ref=ref,
            overrides_id=overrides,
        )
    except DomainError as exc:
        return _form_page(request, {**base, "fatal": exc.detail}, status=exc.status)
    cards = qa_review_scorecards(case=case, agent=agent, target=target)
    asked_card = _int(data.get("scorecard"))
    card: QaScorecard | None = next((c for c in cards if c.pk == asked_card), None)
    refused = ""
    if card is None and request.method == "POST" and asked_card is not None:
        refused = _card_refused(request, case.ref, asked_card, target)
    if card is None and cards:
        card = cards[0]
    context: dict[str, Any] = {
        **base,
        "case": case,
        "agent": agent,
        "target": target,
        "cards": cards,
        "card": card,
        "messages_": qa_conversation(case),
        "comment": data.get("comment", "") if request.method == "POST" else "",
        "errors": {},
        "category_errors": {},
        "other_errors": [],
    }
    categories = list(card.categories.all()) if card is not None else []
    posted = {c.pk: (data.get(f"score_{c.pk}") or "").strip() for c in categories}
    # an override shows what the automatic review said of each category
    was = {s.category_id: s for s in target.scores.all()} if target is not None else {}
    if request.method == "GET" or card is None or refused:
        context["rows"] = [
            {"category": c, "value": "", "error": "", "was": was.get(c.pk)} for c in categories
        ]
        if refused or card is None:
            context["errors"] = {"scorecard": refused or "no active scorecard applies to this case"}
        if request.method == "POST":
            context["failed"] = True
            return _form_page(request, context, status=422)
        return _form_page(request, context)

    # POST: every score a whole number first, then the service's checks
    category_errors: dict[int, str] = {}
    scores: list[ScoreIn] = []
    for c in categories:
        value = _int(posted[c.pk])
        if value is None:
            category_errors[c.pk] = (
                f"{c.name!r} needs a whole number from {c.min_score} to {c.max_score}"
            )
        else:
            scores.append(ScoreIn(category=c.pk, score=value))
    status = 422
    if not category_errors:
        try:
            review = qa_review_create(
                viewer=request.user,  # type: ignore[arg-type]
                case_ref=case.ref,
                scorecard_id=card.pk,
                scores=scores,
                comment=context["comment"],
                overrides_id=target.pk if target else None,
                now=now,
            )
        except DomainError as exc:
            if exc.status != 422:
                return _form_page(request, {**base, "fatal": exc.detail}, status=exc.status)
            category_errors, context["errors"], context["other_errors"] = _field_errors(
                exc, [s.category for s in scores]
            )
            status = exc.status
        else:
            query = urlencode({"case": case.ref, "reviewed": review.pk})
            if sample:
                query += "&" + sample
            return HttpResponseRedirect(f"/scorecards/qa/?{query}#qa-review-{review.pk}")
    context["rows"] = [
        {
            "category": c,
            "value": posted[c.pk],
            "error": category_errors.get(c.pk, ""),
            "was": was.get(c.pk),
        }
        for c in categories
    ]
    context["failed"] = True
    return _form_page(request, context, status=status)

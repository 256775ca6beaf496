"""The responders' pages: what a responder may answer and the reply form, the lead's
approvals, and each responder's scorecard. Views parse, call a selector or a service, and
render; the rules are in ``services`` and ``selectors``."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lastmile.cases.models import Case
from lastmile.cases.selectors import case_held
from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, NotFound
from lastmile.core.paging import page_get
from lastmile.listening.selectors import mention_get
from lastmile.listening.services.replies import mention_case
from lastmile.macros.services import macro_render
from lastmile.people.selectors import person_name
from lastmile.responders import selectors, services
from lastmile.responders.models import Enrolment, ReplyState, ResponderReply
from lastmile.scorecards.selectors import PERIOD_HELP, period_parse

RECENT = 10


def _me(request: HttpRequest) -> User:
    """The signed-in user (every view here is behind ``login_required``)."""
    user = request.user
    assert isinstance(user, User)
    return user


def _limits(e: Enrolment, *, now: Any) -> dict[str, Any]:
    approver = selectors.approver_of(e)
    return {
        "approver": person_name(approver) if approver else "",
        "approved": selectors.approved_count(e),
        "expired": selectors.enrolment_expired(e, now=now),
        "macros": list(e.macros.all()),
    }


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    enrolment = selectors.enrolment_of(request.user)
    context: dict[str, Any] = {**page_chrome(request, now), "enrolment": enrolment}
    if enrolment is not None:
        mentions = page_get(request, selectors.mentions_answerable(enrolment=enrolment), param="mp")
        cases = page_get(request, selectors.cases_answerable(enrolment=enrolment), param="cp")
        waiting = selectors.awaiting_reply([c.pk for c in cases.object_list])
        context.update(
            limits=_limits(enrolment, now=now),
            mentions=mentions,
            cases=cases,
            waiting=waiting,
            recent=list(
                selectors.with_approved_now(
                    selectors.replies_visible(viewer=_me(request)).filter(responder=_me(request))
                ).order_by("-created_at", "-id")[:RECENT]
            ),
        )
    led = selectors.responders_led(viewer=_me(request))
    context["led"] = led
    context["held_count"] = selectors.replies_held_for(viewer=_me(request)).count() if led else 0
    return render(request, "responders/index.html", context)


def _reply_context(
    request: HttpRequest, enrolment: Enrolment, *, case: Case | None, now: Any
) -> list[tuple[Any, str]]:
    """The enrolment's saved responses, each with its text as it would go on ``case``."""
    out = []
    for m in enrolment.macros.all():
        text = (
            macro_render(macro=m, case=case, agent=request.user, now=now)
            if case is not None
            else m.body
        )
        out.append((m, text))
    return out


@login_required
@require_http_methods(["GET", "POST"])
def reply_mention(request: HttpRequest, mention_id: int) -> HttpResponse:
    return _reply(request, "mention", str(mention_id))


@login_required
@require_http_methods(["GET", "POST"])
def reply_case(request: HttpRequest, ref: str) -> HttpResponse:
    return _reply(request, "case", ref)


def _reply(request: HttpRequest, kind: str, key: str) -> HttpResponse:
    """The reply form for one mention (``kind`` mention, ``key`` its id) or one case (a ref)."""
    now = utcnow()
    enrolment = selectors.enrolment_of(request.user)
    if enrolment is None:
        return error_response(request, NotFound("your enrolment as a responder"))
    mention = case = None
    try:
        if kind == "mention":
            mention = mention_get(mention_id=int(key) if key.isdigit() else 0)
            case = mention_case(mention)
        else:
            case = case_held(ref=key)
            if case is None or case.team_id != enrolment.team_id:
                raise NotFound(f"case {key}")
            case = Case.objects.select_related("customer", "team").get(pk=case.pk)
    except DomainError as exc:
        return error_response(request, exc)
    context: dict[str, Any] = {
        **page_chrome(request, now),
        "enrolment": enrolment,
        "limits": _limits(enrolment, now=now),
        "mention": mention,
        "case": case,
        "kind": kind,
        "key": key,
        "choices": _reply_context(request, enrolment, case=case, now=now),
        "chosen": "",
        "body": "",
        "error": None,
    }
    if request.method == "GET":
        return render(request, "responders/reply.html", context)
    chosen = request.POST.get("macro", "")
    body = request.POST.get("body", "") if enrolment.free_text else ""
    macro = next((m for m, _ in context["choices"] if str(m.pk) == chosen), None)
    context.update(chosen=chosen, body=body)
    if chosen and macro is None:
        # A saved response not in the list (an old form): the service names the limit.
        from lastmile.macros.models import Macro

        macro = Macro.objects.filter(pk=int(chosen) if chosen.isdigit() else 0).first()
    try:
        row, _ = services.reply_submit(
            responder=_me(request),
            now=now,
            mention=mention,
            case=case if mention is None else None,
            macro=macro,
            body=body,
        )
    except DomainError as exc:
        context["error"] = exc
        return render(request, "responders/reply.html", context, status=exc.status)
    if row.state == ReplyState.HELD:
        approver = context["limits"]["approver"] or "the team's lead"
        messages.info(request, f"Held for {approver}'s approval: {row.reason}.")
    else:
        messages.success(request, "Sent: the customer has your reply.")
    return redirect("responders:index")


@login_required
@require_GET
def approvals(request: HttpRequest) -> HttpResponse:
    now = utcnow()
    page = page_get(request, selectors.replies_held_for(viewer=_me(request)))
    return render(
        request,
        "responders/approvals.html",
        {
            **page_chrome(request, now),
            "page": page,
            "led": selectors.responders_led(viewer=_me(request)),
        },
    )


def _decide(request: HttpRequest, reply_id: int, action: str) -> HttpResponse:
    now = utcnow()
    try:
        row: ResponderReply = selectors.reply_get(reply_id=reply_id, viewer=_me(request))
        if action == "approve":
            services.reply_approve(reply=row, actor=_me(request), now=now)
            messages.success(request, f"Approved: {person_name(row.responder)}'s reply is sent.")
        else:
            services.reply_return(
                reply=row,
                actor=_me(request),
                note=request.POST.get("note", ""),
                now=now,
            )
            messages.info(request, f"Returned to {person_name(row.responder)} with your note.")
    except DomainError as exc:
        return error_response(request, exc)
    return redirect("responders:approvals")


@login_required
@require_POST
def approve(request: HttpRequest, reply_id: int) -> HttpResponse:
    return _decide(request, reply_id, "approve")


@login_required
@require_POST
def return_(request: HttpRequest, reply_id: int) -> HttpResponse:
    return _decide(request, reply_id, "return")


@login_required
@require_GET
def scorecard(request: HttpRequest, username: str) -> HttpResponse:
    now = utcnow()
    asked = (request.GET.get("period") or "").strip()
    try:
        enrolment = selectors.enrolment_for_username(username=username, viewer=_me(request))
    except DomainError as exc:
        return error_response(request, exc)
    context: dict[str, Any] = {
        **page_chrome(request, now),
        "enrolment": enrolment,
        "asked": asked,
        "period_help": PERIOD_HELP,
        "definitions": list(selectors.SCORECARD_DEFINITIONS.items()),
        "error": "",
    }
    status = 200
    try:
        period = period_parse(asked or None, now=now)
    except DomainError as exc:
        context["error"] = exc.detail
        status = exc.status
    else:
        card = selectors.responder_card(enrolment=enrolment, start=period.start, end=period.end)
        rows = selectors.with_approved_now(
            selectors.replies_visible(viewer=_me(request)).filter(
                enrolment=enrolment, created_at__gte=period.start, created_at__lt=period.end
            )
        ).order_by("-created_at", "-id")
        context.update(
            period=period,
            card=card,
            limits=_limits(enrolment, now=now),
            page=page_get(request, rows),
        )
    return render(request, "responders/scorecard.html", context, status=status)

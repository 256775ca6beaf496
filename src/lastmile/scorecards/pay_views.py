"""The pay statement page (/scorecards/pay/): an agent's own statement for a month before it
is exported, with their disputes and the lead's answers; a lead's or an admin's table of the
statements they may read, each linking to the agent's statement, where they adjust and
answer disputes; the payroll exports for leads and admins. And the digest page
(/scorecards/digest/), where anyone signed in asks for the weekly email digest or stops it.

GET pages take ``month`` (YYYY-MM; default: the last complete month, the one payroll is
about) and ``agent`` in the query string. The forms post to their own addresses and come
back to the statement (POST, redirect, GET); a refused form shows the page again with the
service's sentence, at the service's status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lastmile.console.pages import page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, NotFound
from lastmile.people.models import Role
from lastmile.people.selectors import agent_for, user_by_username
from lastmile.scorecards.digest import (
    digest_build,
    digest_hour,
    digest_subscribed,
    digest_subscription_set,
)
from lastmile.scorecards.models import DisputeState, PayDispute
from lastmile.scorecards.pay import (
    PayStatement,
    format_value,
    pay_adjustment_add,
    pay_dispute_answer,
    pay_dispute_get,
    pay_dispute_open,
    pay_disputes,
    pay_may_adjust,
    pay_month_parse,
    pay_statements,
    statements_csv,
    statements_xlsx,
)
from lastmile.scorecards.selectors import Period

PAGE_SIZE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def last_complete_month(now: datetime) -> str:
    first = now.astimezone(UTC).replace(day=1)
    return f"{first - timedelta(days=1):%Y-%m}"


def _month_shift(key: str, months: int) -> str:
    year, month = int(key[:4]), int(key[5:7])
    n = year * 12 + (month - 1) + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def is_manager(user: Any) -> bool:
    """Leads, admins and superusers read their teams' statements, export and adjust."""
    if user.is_superuser:
        return True
    profile = agent_for(user)
    return profile is not None and profile.role in (Role.LEAD, Role.ADMIN)


def statement_url(month: str, agent: str = "") -> str:
    query = {"month": month, **({"agent": agent} if agent else {})}
    return "/scorecards/pay/?" + urlencode(query)


def _lines(s: PayStatement) -> list[dict[str, Any]]:
    out = []
    for line in s.lines:
        target = format_value(line.metric, line.target)
        out.append(
            {
                "line": line,
                "shown": "—" if line.value is None else format_value(line.metric, line.value),
                "target": target if line.higher_is_better else f"at most {target}",
            }
        )
    return out


def _statement_context(
    request: HttpRequest, period: Period, who: User, now: datetime
) -> dict[str, Any]:
    """One agent's statement, their disputes and the forms the viewer may use on it."""
    viewer = request.user
    assert isinstance(viewer, User)
    if who.pk == viewer.pk and agent_for(viewer) is None:  # no profile: no statement
        found, disputes = [], []
    else:
        found = pay_statements(viewer=viewer, period=period, agent=who)
        disputes = list(pay_disputes(viewer=viewer, month=period.key, agent=who))
    statement = found[0] if found else None
    own = who.pk == viewer.pk
    may_adjust = pay_may_adjust(viewer, who)
    open_lines = {d.line for d in disputes if d.state == DisputeState.OPEN}
    return {
        "who": who,
        "own": own,
        "statement": statement,
        "lines": _lines(statement) if statement else [],
        "disputes": disputes,
        "may_adjust": may_adjust and statement is not None,
        "may_dispute": own and statement is not None and period.start <= now,
        "dispute_choices": (
            [("", "The whole statement")] + [(ln.metric, ln.label) for ln in statement.lines]
            if statement
            else []
        ),
        "open_lines": open_lines,
    }


def _page(
    request: HttpRequest,
    *,
    month: str | None = None,
    agent: str | None = None,
    error: str = "",
    status: int = 200,
    form: dict[str, str] | None = None,
) -> HttpResponse:
    now = utcnow()
    user = request.user
    assert isinstance(user, User)
    asked_month = (month if month is not None else request.GET.get("month", "")).strip()
    asked_agent = (agent if agent is not None else request.GET.get("agent", "")).strip()
    manager = is_manager(user)
    context: dict[str, Any] = {
        **page_chrome(request, now),
        "asked": {"month": asked_month, "agent": asked_agent},
        "manager": manager,
        "has_profile": agent_for(user) is not None or user.is_superuser,
        "error": error,
        "form": form or {},
        "period": None,
        "statement": None,
        "table": None,
        "is_table": False,
        "month_value": asked_month,
        "digest_on": digest_subscribed(user),
    }
    try:
        period = pay_month_parse(asked_month or last_complete_month(now), now=now)
        context["period"] = period
        context["month_value"] = asked_month or period.key
        context["month_prev"] = _month_shift(period.key, -1)
        context["month_next"] = _month_shift(period.key, 1)
        who = user_by_username(asked_agent or None, field="agent") if asked_agent else None
        if who is None and manager:
            rows = pay_statements(viewer=user, period=period)
            page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
            context["table"] = page
            context["is_table"] = True
            context["table_rows"] = [
                {"s": s, "url": statement_url(period.key, s.agent)} for s in page.object_list
            ]
            context["mine"] = any(s.agent == user.username for s in rows)
            context["export_query"] = urlencode({"month": period.key})
        else:
            context.update(_statement_context(request, period, who or user, now))
    except DomainError as exc:
        context["error"] = context["error"] or exc.detail
        status = status if status != 200 else exc.status
    return render(request, "scorecards/pay.html", context, status=status)


@login_required
@require_GET
def pay_page(request: HttpRequest) -> HttpResponse:
    return _page(request)


def _back(request: HttpRequest, month: str, agent: str, note: str, anchor: str) -> HttpResponse:
    messages.success(request, note)
    # An agent's own statement is the page without ``agent``; a lead's own is not (theirs
    # is the table).
    own = agent == request.user.get_username() and not is_manager(request.user)
    return HttpResponseRedirect(statement_url(month, "" if own else agent) + anchor)


@login_required
@require_POST
def pay_adjust(request: HttpRequest) -> HttpResponse:
    """A lead's or an admin's adjustment, from the statement page."""
    p = request.POST
    month, agent = p.get("month", ""), p.get("agent", "")
    try:
        who = user_by_username(agent or None, field="agent")
        if who is None:
            raise NotFound("agent")
        pay_adjustment_add(
            viewer=request.user,  # type: ignore[arg-type]
            agent=who,
            month=month,
            points=p.get("points", "").strip() or None,
            reason=p.get("reason", ""),
            now=utcnow(),
        )
    except DomainError as exc:
        return _page(
            request, month=month, agent=agent, error=exc.detail, status=exc.status, form=p.dict()
        )
    return _back(request, month, agent, "Adjustment added.", "#adjustments")


@login_required
@require_POST
def pay_dispute(request: HttpRequest) -> HttpResponse:
    """The agent disputes a line of their statement, or the whole of it."""
    p = request.POST
    month = p.get("month", "")
    try:
        pay_dispute_open(
            viewer=request.user,  # type: ignore[arg-type]
            month=month,
            line=p.get("line", ""),
            reason=p.get("reason", ""),
            now=utcnow(),
        )
    except DomainError as exc:
        return _page(
            request, month=month, agent="", error=exc.detail, status=exc.status, form=p.dict()
        )
    return _back(
        request, month, request.user.get_username(), "Dispute sent to your lead.", "#disputes"
    )


@login_required
@require_POST
def pay_dispute_answer_view(request: HttpRequest, dispute_id: int) -> HttpResponse:
    """The lead answers a dispute (optionally with an adjustment); the dispute loop closes."""
    p = request.POST
    dispute: PayDispute | None = None
    try:
        dispute = pay_dispute_get(viewer=request.user, dispute_id=dispute_id)  # type: ignore[arg-type]
        pay_dispute_answer(
            viewer=request.user,  # type: ignore[arg-type]
            dispute=dispute,
            answer=p.get("answer", ""),
            points=p.get("points", "").strip() or None,
            now=utcnow(),
        )
    except DomainError as exc:
        return _page(
            request,
            month=dispute.month if dispute else p.get("month", ""),
            agent=dispute.agent.username if dispute else "",
            error=exc.detail,
            status=exc.status,
            form={**p.dict(), "dispute": str(dispute_id)},
        )
    return _back(
        request, dispute.month, dispute.agent.username, "Answer sent.", f"#dispute-{dispute.pk}"
    )


def _export(request: HttpRequest) -> tuple[str, list[PayStatement]] | HttpResponse:
    if not is_manager(request.user):
        return _page(request, error="Only team leads and admins export pay.", status=403)
    try:
        period = pay_month_parse(
            request.GET.get("month") or last_complete_month(utcnow()), now=utcnow()
        )
    except DomainError as exc:
        return _page(request, error=exc.detail, status=exc.status)
    return period.key, pay_statements(viewer=request.user, period=period)  # type: ignore[arg-type]


@login_required
@require_GET
def pay_export_csv(request: HttpRequest) -> HttpResponse:
    """The statements the lead or admin may read, as the API's CSV (with the session)."""
    found = _export(request)
    if isinstance(found, HttpResponse):
        return found
    month, statements = found
    response = HttpResponse(statements_csv(statements), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pay-{month}.csv"'
    return response


@login_required
@require_GET
def pay_export_xlsx(request: HttpRequest) -> HttpResponse:
    found = _export(request)
    if isinstance(found, HttpResponse):
        return found
    month, statements = found
    response = HttpResponse(statements_xlsx(statements, month=month), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="pay-{month}.xlsx"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def digest_page(request: HttpRequest) -> HttpResponse:
    """Ask for the weekly digest or stop it; a preview of this week's."""
    user = request.user
    assert isinstance(user, User)
    now = utcnow()
    if request.method == "POST":
        wanted = request.POST.get("active") == "on"
        digest_subscription_set(user=user, active=wanted, now=now)
        messages.success(
            request,
            "You will get the digest every Monday." if wanted else "The digest is stopped.",
        )
        return HttpResponseRedirect("/scorecards/digest/")
    digest = digest_build(user=user, now=now)
    context = {
        **page_chrome(request, now),
        "digest_on": digest_subscribed(user),
        "digest": digest,
        "hour": digest_hour(),
        "has_email": bool(user.email),
    }
    return render(request, "scorecards/digest.html", context)

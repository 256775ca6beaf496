"""Console pages for promises: the panel on a case, the live policy check, outcomes, the ledger.

Views parse forms, read the clock and call one service; a DomainError comes back in the
service's own words with its status. With htmx, a refused promise re-renders only the
promise panel (``HX-Retarget``), so what the agent typed stays; recorded, the case page
reloads.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from lastmile.cases.models import Case
from lastmile.cases.selectors import case_get
from lastmile.console import selectors as console_selectors
from lastmile.console.pages import form_errors, page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from lastmile.customers.models import Customer
from lastmile.customers.selectors import customer_get
from lastmile.people.authority import authority_words
from lastmile.people.selectors import agent_authority, agents_sharing_a_team, visible_team_ids
from lastmile.promises.checks import Needs, Verdict, needs_for
from lastmile.promises.forms import BreakForm, ExceptionDecisionForm, KeepForm, PromiseForm
from lastmile.promises.models import Promise, PromiseState
from lastmile.promises.selectors import (
    open_promises_for_customer,
    policies_check,
    promise_actions,
    promise_get,
    promise_history,
    promise_kept_rate,
    promise_list,
    promises_with_actions,
)
from lastmile.promises.services import (
    PolicyConflict,
    promise_break,
    promise_exception_approve,
    promise_exception_reject,
    promise_keep,
    promise_record,
    promise_renegotiate,
)
from lastmile.promises.terms import terms_parse

PANEL = "#promise-panel"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def promise_form(
    request: HttpRequest,
    *,
    data: Any = None,
    case: Case | None = None,
    initial: dict[str, Any] | None = None,
    prefix: str | None = None,
    team_ids: Any = ...,
) -> PromiseForm:
    """The promise form for ``request.user``: any team keeps it; they or a teammate made it."""
    start: dict[str, Any] = {"made_by": request.user.pk, "visible_to_customer": True}
    if case is not None:
        start |= {"team": case.team_id, "channel": case.channel or "email"}
    return PromiseForm(
        data,
        initial=start | (initial or {}),
        teams=list(console_selectors.all_teams()),
        makers=[a.user for a in agents_sharing_a_team(request.user, team_ids=team_ids)]
        or [request.user],
        channel=(case.channel if case is not None else ""),
        prefix=prefix,
    )


def _checked(
    request: HttpRequest, terms: dict[str, Any], customer: Customer, now: datetime
) -> tuple[list[Verdict], Needs]:
    verdicts = policies_check(terms=terms, customer=customer.attributes or {}, now=now)
    return verdicts, needs_for(verdicts, terms=terms, authority=agent_authority(request.user))


def verdicts_context(
    request: HttpRequest,
    *,
    terms: dict[str, Any] | None,
    customer: Customer,
    now: datetime,
    terms_error: str = "",
) -> dict[str, Any]:
    """What the live check shows: each verdict, and what saving will need from this agent."""
    verdicts: list[Verdict] = []
    needs = None
    if terms is not None and not terms_error:
        verdicts, needs = _checked(request, terms, customer, now)
    authority = agent_authority(request.user)
    return {
        "verdicts": verdicts,
        "needs": needs,
        "terms_error": terms_error,
        "checked": terms is not None or bool(terms_error),
        "authority": authority_words(authority),
    }


def panel_context(
    request: HttpRequest,
    *,
    case: Case | None,
    customer: Customer,
    now: datetime,
    form: PromiseForm | None = None,
    check: dict[str, Any] | None = None,
    error: str | None = None,
    next_url: str | None = None,
) -> dict[str, Any]:
    """The promise panel: open promises to this customer (every team's), and the form."""
    promises = open_promises_for_customer(customer=customer)
    team_ids = visible_team_ids(request.user)
    if form is None and case is not None:
        form = promise_form(request, case=case, team_ids=team_ids)
    return {
        "request": request,
        "user": request.user,
        "now": now,
        "case": case,
        "customer": customer,
        "cards": promises_with_actions(promises=promises, viewer=request.user, team_ids=team_ids),
        "form": form,
        "check": check or {"checked": False},
        "promise_error": error,
        "next_url": next_url or request.get_full_path(),
    }


# --- the live policy check ---------------------------------------------------------------


@login_required
@require_POST
def check(request: HttpRequest) -> HttpResponse:
    """Verdicts for the terms being typed (htmx, ``keyup changed delay:300ms``)."""
    now = utcnow()
    try:
        customer = _customer_of(request)
    except NotFound as exc:
        return error_response(request, exc)
    prefix = request.POST.get("form_prefix") or ""
    raw = request.POST.get(f"{prefix}-terms" if prefix else "terms", "")
    try:
        terms, problem = terms_parse(raw), ""
    except InvalidInput as exc:
        terms, problem = None, (exc.errors[0].reason if exc.errors else exc.detail)
    context = verdicts_context(
        request, terms=terms, customer=customer, now=now, terms_error=problem
    )
    return render(request, "promises/_verdicts.html", {"check": context, "prefix": prefix})


def _customer_of(request: HttpRequest) -> Customer:
    ref = request.POST.get("case") or ""
    if ref:
        return case_get(ref=ref, viewer=request.user).customer
    try:
        customer_id = int(request.POST.get("customer") or 0)
    except ValueError:
        customer_id = 0
    return customer_get(customer_id=customer_id, viewer=request.user)


# --- recording on a case -----------------------------------------------------------------


def _panel_response(
    request: HttpRequest,
    case: Case,
    now: datetime,
    form: PromiseForm,
    *,
    status: int,
    error: str,
    verdicts: list[Verdict] | None = None,
) -> HttpResponse:
    terms = form.cleaned_data.get("terms") if hasattr(form, "cleaned_data") else None
    if verdicts is not None:
        needs = needs_for(verdicts, terms=terms or {}, authority=agent_authority(request.user))
        check_ctx = {
            "verdicts": verdicts,
            "needs": needs,
            "terms_error": "",
            "checked": True,
            "authority": authority_words(agent_authority(request.user)),
        }
    elif isinstance(terms, dict):
        check_ctx = verdicts_context(request, terms=terms, customer=case.customer, now=now)
    else:
        check_ctx = {
            "checked": bool(form.errors.get("terms")),
            "terms_error": " ".join(str(e) for e in form.errors.get("terms", [])),
            "verdicts": [],
        }
    context = panel_context(
        request,
        case=case,
        customer=case.customer,
        now=now,
        form=form,
        check=check_ctx,
        error=error,
        next_url=reverse("console:case", args=[case.ref]),
    )
    if _is_htmx(request):
        response = render(request, "promises/_panel.html", context, status=status)
        response["HX-Retarget"] = PANEL
        response["HX-Reselect"] = PANEL
        response["HX-Reswap"] = "outerHTML"
        return response
    return render(
        request, "promises/record.html", {**page_chrome(request, now), **context}, status=status
    )


@login_required
@require_POST
def case_record(request: HttpRequest, ref: str) -> HttpResponse:
    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    now = utcnow()
    form = promise_form(request, data=request.POST, case=case)
    if not form.is_valid():
        return _panel_response(
            request, case, now, form, status=422, error="Check the promise: " + form_errors(form)
        )
    d = form.cleaned_data
    try:
        promise = promise_record(
            case=case,
            text=d["text"],
            terms=d["terms"],
            due_at=d["due_at"],
            team=d["team"],
            channel=d["channel"],
            made_by=d["made_by"],
            actor=request.user,
            confirm_warnings=d["confirm_warnings"],
            override=d["override"],
            visible_to_customer=d["visible_to_customer"],
            recorded_via="console",
            now=now,
        )
    except PolicyConflict as exc:
        return _panel_response(
            request, case, now, form, status=exc.status, error=exc.detail, verdicts=exc.verdicts
        )
    except DomainError as exc:
        for e in exc.errors:
            if e.field in form.fields:
                form.add_error(e.field, e.reason)
        return _panel_response(request, case, now, form, status=exc.status, error=exc.detail)
    if promise.is_awaiting:
        messages.success(
            request, "Recorded, awaiting approval by a lead: it is not a promise until approved."
        )
    else:
        messages.success(request, f"Promise recorded: {promise.team.name} keeps it.")
    return redirect("console:case", case.ref)


# --- one promise: its page, its outcomes -------------------------------------------------


def _detail_page(
    request: HttpRequest,
    promise: Promise,
    *,
    now: datetime,
    status: int = 200,
    error: str | None = None,
    form: PromiseForm | None = None,
    check_ctx: dict[str, Any] | None = None,
) -> HttpResponse:
    actions = promise_actions(promise=promise, viewer=request.user)
    if form is None and "renegotiate" in actions:
        form = promise_form(request, initial=PromiseForm.initial_from(promise), prefix="re")
    context = {
        **page_chrome(request, now),
        "promise": promise,
        "history": promise_history(promise=promise),
        "actions": actions,
        "card": (promise, actions),
        "form": form,
        "prefix": "re",
        "check": check_ctx or {"checked": False},
        "error": error,
        "next_url": request.POST.get("next") or "",
    }
    response = render(request, "promises/detail.html", context, status=status)
    if _is_htmx(request):
        response["HX-Push-Url"] = reverse("promises:detail", args=[promise.pk])
    return response


@login_required
@require_GET
def detail(request: HttpRequest, promise_id: int) -> HttpResponse:
    try:
        promise = promise_get(promise_id=promise_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    return _detail_page(request, promise, now=utcnow())


def _acting_on(request: HttpRequest, promise_id: int, action: str) -> Promise:
    promise = promise_get(promise_id=promise_id, viewer=request.user)
    if promise.is_open and action not in promise_actions(promise=promise, viewer=request.user):
        raise PermissionDenied(f"only the team that keeps this promise may {action} it")
    return promise


@login_required
@require_POST
def keep(request: HttpRequest, promise_id: int) -> HttpResponse:
    return _outcome(request, promise_id, "keep")


@login_required
@require_POST
def break_(request: HttpRequest, promise_id: int) -> HttpResponse:
    return _outcome(request, promise_id, "break")


def _outcome(request: HttpRequest, promise_id: int, action: str) -> HttpResponse:
    try:
        promise = _acting_on(request, promise_id, action)
    except (NotFound, PermissionDenied) as exc:
        return error_response(request, exc)
    now = utcnow()
    try:
        if action == "keep":
            keep_form = KeepForm(request.POST)
            if not keep_form.is_valid():
                raise InvalidInput(form_errors(keep_form))
            promise_keep(
                promise=promise, actor=request.user, note=keep_form.cleaned_data["note"], now=now
            )
            done = f"Promise kept: {promise.text[:80]}"
        else:
            break_form = BreakForm(request.POST)
            if not break_form.is_valid():
                raise InvalidInput(form_errors(break_form))
            promise_break(
                promise=promise,
                actor=request.user,
                reason=break_form.cleaned_data["reason"],
                now=now,
            )
            lead = promise.team.lead
            done = (
                f"Promise broken; a follow-up is open for "
                f"{(lead.get_full_name() or lead.username) if lead else promise.team.name}."
            )
    except DomainError as exc:
        promise.refresh_from_db()
        return _detail_page(request, promise, now=now, status=exc.status, error=exc.detail)
    messages.success(request, done)
    return redirect(_next(request, reverse("promises:detail", args=[promise.pk])))


@login_required
@require_POST
def renegotiate(request: HttpRequest, promise_id: int) -> HttpResponse:
    try:
        promise = _acting_on(request, promise_id, "renegotiate")
    except (NotFound, PermissionDenied) as exc:
        return error_response(request, exc)
    now = utcnow()
    form = promise_form(request, data=request.POST, prefix="re")
    if not form.is_valid():
        return _detail_page(
            request,
            promise,
            now=now,
            status=422,
            error="Check the new promise: " + form_errors(form),
            form=form,
        )
    d = form.cleaned_data
    try:
        new = promise_renegotiate(
            promise=promise,
            text=d["text"],
            terms=d["terms"],
            due_at=d["due_at"],
            team=d["team"],
            channel=d["channel"],
            made_by=d["made_by"],
            actor=request.user,
            confirm_warnings=d["confirm_warnings"],
            override=d["override"],
            now=now,
        )
    except DomainError as exc:
        check_ctx = None
        if isinstance(exc, PolicyConflict):
            check_ctx = {
                "verdicts": exc.verdicts,
                "needs": needs_for(
                    exc.verdicts, terms=d["terms"], authority=agent_authority(request.user)
                ),
                "checked": True,
                "terms_error": "",
                "authority": authority_words(agent_authority(request.user)),
            }
        promise.refresh_from_db()
        return _detail_page(
            request,
            promise,
            now=now,
            status=exc.status,
            error=exc.detail,
            form=form,
            check_ctx=check_ctx,
        )
    messages.success(request, "Promise renegotiated; the old one is kept in its history.")
    return redirect("promises:detail", new.pk)


def exception_decide(verdict: str) -> Any:
    """approve / reject an exception awaiting approval: the form, then the service, whose
    refusal (the asker, no authority, already decided) comes back in its words and status."""

    @login_required
    @require_POST
    def decide(request: HttpRequest, promise_id: int) -> HttpResponse:
        try:
            promise = promise_get(promise_id=promise_id, viewer=request.user)
        except NotFound as exc:
            return error_response(request, exc)
        now = utcnow()
        form = ExceptionDecisionForm(request.POST)
        try:
            if not form.is_valid():
                raise InvalidInput(form_errors(form))
            reason = form.cleaned_data["reason"]
            if verdict == "approve":
                promise_exception_approve(
                    promise=promise, actor=request.user, reason=reason, now=now
                )
                done = f"Exception approved: the promise is live; {promise.team.name} keeps it."
            else:
                promise_exception_reject(
                    promise=promise, actor=request.user, reason=reason, now=now
                )
                done = f"Exception rejected; {promise.made_by_name} tells the customer."
        except DomainError as exc:
            promise.refresh_from_db()
            return _detail_page(request, promise, now=now, status=exc.status, error=exc.detail)
        messages.success(request, done)
        return redirect(_next(request, reverse("promises:detail", args=[promise.pk])))

    decide.__name__ = f"exception_{verdict}"
    return decide


# --- the ledger --------------------------------------------------------------------------


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Open promises my teams keep or made, recent outcomes, and the kept rate (30 days)."""
    now = utcnow()
    since = now - timedelta(days=30)
    open_rows = list(promise_list(viewer=request.user, state=PromiseState.OPEN)[:100])
    done = list(
        promise_list(viewer=request.user)
        .exclude(state=PromiseState.OPEN)
        .order_by("-outcome_at", "-pk")[:30]
    )
    context = {
        **page_chrome(request, now),
        "cards": promises_with_actions(promises=open_rows, viewer=request.user),
        "done": done,
        "by_team": promise_kept_rate(by="team", since=since, viewer=request.user),
        "by_agent": promise_kept_rate(by="agent", since=since, viewer=request.user),
        "since": since,
        "next_url": request.get_full_path(),
    }
    return render(request, "promises/index.html", context)

"""The agent console: pages that read through selectors and act through services.

Views parse input (forms), read the clock (the edge), call one service and render. A
``DomainError`` from a service is shown as its ``detail`` with its status; nothing else
decides anything here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from lastmile.cases.models import Case
from lastmile.cases.selectors import case_get, case_held
from lastmile.cases.services import case_set_status
from lastmile.console import selectors
from lastmile.console.forms import (
    CloseForm,
    InboxFilterForm,
    PauseForm,
    StatusForm,
    TaskForm,
)
from lastmile.console.pages import form_errors, page_chrome
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from lastmile.customers.models import Customer
from lastmile.customers.selectors import customer_get
from lastmile.loops.models import Loop, LoopKind
from lastmile.loops.selectors import inbox_version, loop_get
from lastmile.loops.services import loop_close, loop_open, loop_pause, loop_resume
from lastmile.people.selectors import teams_remembered


def _teams_read_once(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page's selectors each scope by the viewer's teams: read them once per request."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with teams_remembered(request.user):
            return view(request, *args, **kwargs)

    return wrapper


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def _is_partial(request: HttpRequest, target: str) -> bool:
    """An htmx request for one region of the page (not a history restore, which needs it all)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == target
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def error_response(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A page saying what went wrong, in the service's own words, with its status."""
    now = utcnow()
    return render(
        request,
        "console/error.html",
        {**page_chrome(request, now), "detail": exc.detail, "code": exc.code, "status": exc.status},
        status=exc.status,
    )


# --- inbox -------------------------------------------------------------------------------


@login_required
@require_GET
@_teams_read_once
def inbox(request: HttpRequest) -> HttpResponse:
    from lastmile.console.case_views import bulk_context

    now = utcnow()
    teams = selectors.teams_of(request.user)
    form = InboxFilterForm(request.GET, teams=teams.teams)
    form.is_valid()  # a bad value (a team not mine) is dropped, the rest still filters
    data = form.cleaned_data
    filters = selectors.InboxFilters(
        team=data.get("team") or "",
        kind=data.get("kind") or "",
        breached=bool(data.get("breached")),
        mine=bool(data.get("mine")),
    )
    # Stamped before the rows are read: a loop that changes in between is redrawn at the
    # page's first poll, never missed by it.
    stamp = inbox_version(viewer=request.user)
    box = selectors.inbox(
        viewer=request.user, now=now, filters=filters, page_number=request.GET.get("page")
    )
    context = {
        "now": now,
        "my_teams": teams,
        "box": box,
        "form": form,
        "stamp": stamp,
        **bulk_context(request),
    }
    if _is_partial(request, "inbox-rows"):
        response = render(request, "console/_rows.html", context)
    else:
        response = render(request, "console/inbox.html", context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


# --- case page ---------------------------------------------------------------------------


def _case_page(
    request: HttpRequest,
    case: Case,
    *,
    now: datetime,
    status: int = 200,
    error: str | None = None,
    forms: dict[str, Any] | None = None,
) -> HttpResponse:
    # The case page's parts drawn by the modules that act on them (they import this one).
    from lastmile.console.case_views import case_edit_context
    from lastmile.console.replies import composer_context

    open_loops, done_loops = selectors.case_loops(case=case, viewer=request.user, now=now)
    thread = selectors.case_thread(case=case)
    forms = forms or {}
    context = {
        **page_chrome(request, now),
        "case": case,
        "thread": thread.rows,
        "thread_page": thread,
        "done_total": (
            selectors.case_loops_finished(case=case)
            if len(done_loops) >= selectors.DONE_LOOPS_SHOWN
            else len(done_loops)
        ),
        "open_loops": open_loops,
        "done_loops": done_loops,
        "panel": selectors.customer_panel(
            customer=case.customer, viewer=request.user, now=now, beside=case
        ),
        "error": error,
        "task_form": forms.get("task") or TaskForm(teams=selectors.all_teams()),
        "status_form": forms.get("status") or StatusForm(initial={"status": case.status}),
        **case_edit_context(request, case, now=now, forms=forms),
        **composer_context(request, case, now=now, forms=forms),
    }
    return render(request, "console/case.html", context, status=status)


@login_required
@require_GET
@_teams_read_once
def case_detail(request: HttpRequest, ref: str) -> HttpResponse:
    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound as exc:
        held = case_held(ref=ref)
        if held is None:
            return error_response(request, exc)
        # Not a dead end: whose it is, and nothing of what is in it.
        team = held.team.name if held.team_id else "no team"
        return error_response(
            request, PermissionDenied(f"{held.ref} is held by {team}; you may not open it")
        )
    return _case_page(request, case, now=utcnow())


@login_required
@require_GET
@_teams_read_once
def case_thread(request: HttpRequest, ref: str) -> HttpResponse:
    """Earlier messages of a case, as list items (the thread's "show earlier" button)."""
    try:
        case = case_get(ref=ref, viewer=request.user)
        before = int(request.GET.get("before", ""))
    except NotFound as exc:
        return error_response(request, exc)
    except ValueError:
        return error_response(request, InvalidInput("before: give the id of a message"))
    page = selectors.case_thread(case=case, before=before)
    context = {"case": case, "thread": page.rows, "thread_page": page}
    return render(request, "console/_thread_items.html", context)


CaseAction = Callable[[HttpRequest, Case, datetime], "HttpResponse | str"]


def _run_case_action(request: HttpRequest, ref: str, fn: CaseAction) -> HttpResponse:
    """Run ``fn`` on a case the viewer may see; it returns a message (done) or a page.

    Done: a flash message and a redirect to the case. A DomainError: the case page with the
    error's ``detail`` and status — the service changed nothing. Not visible: 404.
    """
    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    now = utcnow()
    try:
        outcome = fn(request, case, now)
    except NotFound as exc:
        return error_response(request, exc)
    except DomainError as exc:
        case.refresh_from_db()
        return _case_page(request, case, now=now, status=exc.status, error=exc.detail)
    if isinstance(outcome, HttpResponse):
        return outcome
    messages.success(request, outcome)
    return redirect("console:case", case.ref)


def case_action(fn: CaseAction) -> Callable[[HttpRequest, str], HttpResponse]:
    @login_required
    @require_POST
    @wraps(fn)
    def view(request: HttpRequest, ref: str) -> HttpResponse:
        return _run_case_action(request, ref, fn)

    return view


def _invalid(request: HttpRequest, case: Case, now: datetime, name: str, form: Any) -> HttpResponse:
    return _case_page(
        request,
        case,
        now=now,
        status=422,
        error="Check the form: " + form_errors(form),
        forms={name: form},
    )


@case_action
def case_task(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
    form = TaskForm(request.POST, teams=selectors.all_teams())
    if not form.is_valid():
        return _invalid(request, case, now, "task", form)
    hours = form.cleaned_data["due_in_hours"]
    team = form.cleaned_data["team"]
    loop_open(
        kind=LoopKind.TASK,
        customer=case.customer,
        case=case,
        team=team,
        title=form.cleaned_data["title"],
        due_at=now + timedelta(hours=hours) if hours else None,
        actor=request.user,
        now=now,
    )
    return f"Task opened for {team.name}."


@case_action
def case_status(request: HttpRequest, case: Case, now: datetime) -> HttpResponse | str:
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _invalid(request, case, now, "status", form)
    updated = case_set_status(
        case=case, status=form.cleaned_data["status"], actor=request.user, now=now
    )
    return f"Status is now {updated.get_status_display().lower()}."


def _case_loop(request: HttpRequest, case: Case, loop_id: int) -> Loop:
    """A loop of this case that the viewer's team owns; NotFound otherwise."""
    loop = loop_get(loop_id=loop_id, viewer=request.user)
    if loop.case_id != case.pk:
        raise NotFound(f"loop {loop_id}")
    return loop


def _loop_verb(verb: str) -> Callable[[HttpRequest, Loop, datetime], str]:
    """close / pause / resume one loop: the form, then the service; a bad form is a 422."""

    def act(request: HttpRequest, loop: Loop, now: datetime) -> str:
        if verb == "resume":
            loop_resume(loop=loop, actor=request.user, now=now)
            return f"Resumed: {loop.title}."
        form: CloseForm | PauseForm = (CloseForm if verb == "close" else PauseForm)(request.POST)
        if not form.is_valid():
            raise InvalidInput(form_errors(form))
        if isinstance(form, CloseForm):
            # A reply loop needs the agent's reason (the service refuses none); other loops
            # are simply done.
            reason = form.reason_text()
            if not reason and loop.kind != LoopKind.REPLY:
                reason = "closed in the console"
            loop_close(loop=loop, actor=request.user, reason=reason, now=now)
            return f"Closed: {loop.title}" + (
                f" ({reason})." if loop.kind == LoopKind.REPLY else "."
            )
        loop_pause(loop=loop, actor=request.user, reason=form.cleaned_data["reason"], now=now)
        return f"Paused: {loop.title}."

    return act


def case_loop_action(verb: str) -> Callable[[HttpRequest, str, int], HttpResponse]:
    """A POST on one loop of a case: the case must be visible and the loop my team's."""
    act = _loop_verb(verb)

    @login_required
    @require_POST
    def view(request: HttpRequest, ref: str, loop_id: int) -> HttpResponse:
        def run(req: HttpRequest, case: Case, now: datetime) -> str:
            return act(req, _case_loop(req, case, loop_id), now)

        return _run_case_action(request, ref, run)

    view.__name__ = f"case_loop_{verb}"
    return view


# --- customer page -----------------------------------------------------------------------


def _customer_page(
    request: HttpRequest,
    customer: Customer,
    *,
    now: datetime,
    status: int = 200,
    error: str | None = None,
) -> HttpResponse:
    context = {
        **page_chrome(request, now),
        "customer": customer,
        "panel": selectors.customer_panel(customer=customer, viewer=request.user, now=now),
        "error": error,
        "on_customer_page": True,
    }
    return render(request, "console/customer.html", context, status=status)


@login_required
@require_GET
@_teams_read_once
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    try:
        customer = customer_get(customer_id=customer_id, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    if customer.pk != customer_id:  # merged: show the survivor under its own address
        return redirect("console:customer", customer.pk)
    return _customer_page(request, customer, now=utcnow())


@login_required
@require_GET
@_teams_read_once
def customer_timeline(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The next page of a customer's timeline, as list items (the "older" button's answer)."""
    try:
        customer = customer_get(customer_id=customer_id, viewer=request.user)
        page = selectors.customer_timeline(
            customer=customer,
            viewer=request.user,
            before=request.GET.get("before"),
            channel=request.GET.get("channel", "")[:40],
        )
    except DomainError as exc:
        return error_response(request, exc)
    return render(request, "console/_timeline_items.html", {"customer": customer, "timeline": page})


def customer_loop_action(verb: str) -> Callable[[HttpRequest, int, int], HttpResponse]:
    act = _loop_verb(verb)

    @login_required
    @require_POST
    def view(request: HttpRequest, customer_id: int, loop_id: int) -> HttpResponse:
        try:
            customer = customer_get(customer_id=customer_id, viewer=request.user)
            loop = loop_get(loop_id=loop_id, viewer=request.user)
            if loop.customer_id != customer.pk:
                raise NotFound(f"loop {loop_id}")
        except NotFound as exc:
            return error_response(request, exc)
        now = utcnow()
        try:
            done = act(request, loop, now)
        except DomainError as exc:
            return _customer_page(request, customer, now=now, status=exc.status, error=exc.detail)
        messages.success(request, done)
        return redirect("console:customer", customer.pk)

    view.__name__ = f"customer_loop_{verb}"
    return view

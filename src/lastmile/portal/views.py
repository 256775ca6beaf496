"""Customer portal pages: the customer's own cases, steps and promises, nothing else.

The customer comes from the portal session, which only a magic link starts. Every lookup is
scoped to that customer; anything else is "not found", so one customer can learn nothing
about another, not even that a reference exists.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lastmile.core.clock import utcnow
from lastmile.core.errors import Conflict, DomainError, InvalidInput, NotFound
from lastmile.customers.models import Customer
from lastmile.feedback.services import response_record
from lastmile.jobs.selectors import job_of_customer
from lastmile.journeys.models import JourneyStep
from lastmile.journeys.selectors import customer_step_get, journey_get, journey_step_get
from lastmile.knowledge.rendering import markdown_html
from lastmile.knowledge.selectors import article_get_public, articles_public
from lastmile.portal import selectors, services

SESSION_KEY = "portal_customer"


def _customer(request: HttpRequest) -> Customer | None:
    customer_id = request.session.get(SESSION_KEY)
    if not customer_id:
        return None
    return Customer.objects.filter(pk=customer_id, merged_into__isnull=True).first()


def portal_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages for a signed-in customer; without a portal session, a page that says how to get one."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        customer = _customer(request)
        if customer is None:
            return render(request, "portal/signed_out.html", status=403)
        try:
            return view(request, customer, *args, **kwargs)
        except NotFound:
            return render(request, "portal/not_found.html", {"customer": customer}, status=404)

    return wrapper


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button, POST signs in: mail scanners that follow links do not burn them."""
    now = utcnow()
    try:
        if request.method == "GET":
            link = services.portal_link_check(token, now=now)
            return render(request, "portal/start.html", {"link": link, "token": token})
        customer = services.portal_link_redeem(token, now=now)
    except services.LinkRefused as refused:
        return render(
            request, "portal/link_invalid.html", {"reason": refused.reason}, status=refused.status
        )
    request.session.cycle_key()
    request.session[SESSION_KEY] = customer.pk
    request.session.set_expiry(settings.LASTMILE_PORTAL_SESSION_SECONDS)
    return redirect("portal:home")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    return render(request, "portal/signed_out.html", {"signed_out": True})


@portal_page
def home(request: HttpRequest, customer: Customer) -> HttpResponse:
    now = utcnow()
    return render(
        request,
        "portal/home.html",
        {"customer": customer, **selectors.portal_overview(customer, now=now)},
    )


@portal_page
def case_detail(request: HttpRequest, customer: Customer, ref: str) -> HttpResponse:
    case = services.portal_case_get(customer=customer, ref=ref)
    return _case_page(request, customer, case)


def _case_page(
    request: HttpRequest, customer: Customer, case: Any, *, error: Any = None, status: int = 200
) -> HttpResponse:
    now = utcnow()
    context = {"customer": customer, "error": error, **selectors.portal_case(case, now=now)}
    return render(request, "portal/case.html", context, status=status)


@portal_page
@require_POST
def case_message(request: HttpRequest, customer: Customer, ref: str) -> HttpResponse:
    case = services.portal_case_get(customer=customer, ref=ref)
    try:
        services.portal_message_add(
            customer=customer, case=case, body=request.POST.get("body", ""), now=utcnow()
        )
    except InvalidInput as exc:
        return _case_page(request, customer, case, error=exc, status=422)
    return redirect("portal:case", ref=case.ref)


@portal_page
@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, customer: Customer, journey_id: int, key: str) -> HttpResponse:
    """One of the customer's steps: what it is, and (while it is theirs and open) the form
    that completes it."""
    found = customer_step_get(customer=customer, journey_id=journey_id, key=key)
    if request.method == "GET":
        return _step_page(request, customer, found)
    upload = request.FILES.get("file")
    try:
        services.portal_step_answer(
            customer=customer,
            step=found,
            now=utcnow(),
            # One byte over the limit is enough for the service to refuse it as too large.
            upload=(upload.name or "", upload.read(settings.LASTMILE_PORTAL_UPLOAD_MAX_BYTES + 1))
            if upload is not None
            else None,
            slot=request.POST.get("slot", ""),
            confirmed=request.POST.get("confirmed") == "yes",
        )
    except InvalidInput as exc:
        reasons = "; ".join(e.reason for e in exc.errors)
        error = f"{exc.detail[:1].upper()}{exc.detail[1:]}" + (f": {reasons}." if reasons else ".")
        return _step_page(request, customer, found, error=error, status=422)
    except Conflict:
        error = "This step cannot be done now: it is done already, or waits for earlier steps."
        return _step_page(request, customer, found, error=error, status=409)
    return redirect("portal:step", journey_id=journey_id, key=key)


def _step_page(
    request: HttpRequest,
    customer: Customer,
    found: JourneyStep,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    found.refresh_from_db()
    context = {
        "customer": customer,
        "error": error,
        "max_size": settings.LASTMILE_PORTAL_UPLOAD_MAX_BYTES,
        **selectors.portal_step(found, now=utcnow()),
    }
    return render(request, "portal/step.html", context, status=status)


@portal_page
@require_http_methods(["GET", "POST"])
def job_detail(request: HttpRequest, customer: Customer, job_id: int) -> HttpResponse:
    """One of the customer's deliveries or visits: its window and state, and the slots the
    customer may move it to (while it is scheduled, before the cut-off) or book its
    re-attempt in (when it failed). POST ``slot`` (a slot's id) makes the change."""
    job = job_of_customer(customer=customer, job_id=job_id)
    if request.method == "GET":
        return _job_page(request, customer, job)
    try:
        moved = services.portal_job_slot(
            customer=customer, job=job, slot_id=request.POST.get("slot", ""), now=utcnow()
        )
    except InvalidInput as exc:
        reasons = "; ".join(e.reason for e in exc.errors)
        error = f"{exc.detail[:1].upper()}{exc.detail[1:]}" + (f": {reasons}." if reasons else ".")
        return _job_page(request, customer, job, error=error, status=422)
    except Conflict as exc:
        return _job_page(request, customer, job, error=exc.detail, status=409)
    # The page it lands on says what changed (a flag, as the survey's thanks: no session state)
    done = "booked" if moved.pk != job.pk else "moved"
    return redirect(f"{reverse('portal:job', args=[moved.pk])}?{done}=1")


def _job_page(
    request: HttpRequest, customer: Customer, job: Any, *, error: str = "", status: int = 200
) -> HttpResponse:
    page = selectors.portal_job(job, now=utcnow())
    notice = ""
    if not error and job.state == "scheduled":
        if request.GET.get("moved") == "1":
            notice = f"Moved to {page['window']}."
        elif request.GET.get("booked") == "1":
            notice = f"We will try again {page['window']}."
    context = {"customer": customer, "error": error, "notice": notice, **page}
    return render(request, "portal/job.html", context, status=status)


@portal_page
@never_cache
@require_http_methods(["GET", "POST"])
def survey(request: HttpRequest, customer: Customer, invite_id: int) -> HttpResponse:
    """A survey the customer was asked (in the portal, or by a message or link they have
    not answered): the question and the scale; POST records the answer (or changes it for
    24 hours) through ``feedback.services.response_record``, as the link's page does. The
    invite is found by id among the signed-in customer's own: no token is shown or needed."""
    context = selectors.portal_survey(customer, invite_id, now=utcnow())
    if request.method == "GET":
        status = 410 if context["closed"] and context["response"] is None else 200
        return _survey_page(request, customer, context, status=status)
    if context["closed"]:
        return _survey_page(request, customer, context, status=409 if context["response"] else 410)
    raw = request.POST.get("score", "")
    comment = request.POST.get("comment", "")[:5000]
    try:
        score = int(raw)
    except ValueError:
        return _survey_page(
            request, customer, context, error="Choose a score.", typed=(raw, comment), status=422
        )
    try:
        response_record(
            invite=context["invite"],
            score=score,
            comment=comment,
            now=utcnow(),
            source="portal",
            change=True,
        )
    except DomainError as exc:
        error = exc.detail[:1].upper() + exc.detail[1:] + "."
        return _survey_page(
            request, customer, context, error=error, typed=(raw, comment), status=exc.status
        )
    return redirect(f"{reverse('portal:survey', args=[invite_id])}?thanks=1")


def _survey_page(
    request: HttpRequest,
    customer: Customer,
    context: dict[str, Any],
    *,
    error: str = "",
    typed: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    response = context["response"]
    chosen, comment = typed or (
        (str(response.score), response.comment) if response is not None else ("", "")
    )
    page = {
        **context,
        "customer": customer,
        "error": error,
        "chosen": chosen,
        "comment": comment,
        "thanks": request.GET.get("thanks") == "1" and response is not None,
    }
    return render(request, "portal/survey.html", page, status=status)


def help_index(request: HttpRequest) -> HttpResponse:
    """Public help articles, searched by the database's full-text engine. No sign-in needed."""
    query = request.GET.get("q", "").strip()[:200]
    context = {
        "customer": _customer(request),
        "query": query,
        "articles": articles_public(query, limit=50),
    }
    return render(request, "portal/help.html", context)


def article(request: HttpRequest, slug: str) -> HttpResponse:
    customer = _customer(request)
    try:
        found = article_get_public(slug)
    except NotFound:
        return render(request, "portal/not_found.html", {"customer": customer}, status=404)
    context = {"customer": customer, "article": found, "body": markdown_html(found.body_md)}
    return render(request, "portal/article.html", context)


@login_required
@require_GET
def upload_view(request: HttpRequest, journey_id: int, key: str) -> HttpResponseBase:
    """The file a customer uploaded for a step, for the agents who may see the journey.
    Served as a download, never rendered on the console's origin."""
    try:
        journey = journey_get(journey_id=journey_id, viewer=request.user)
        found = journey_step_get(journey=journey, key=key)
        opened = services.upload_open(step=found)
    except NotFound:
        return HttpResponse("No such file.", status=404, content_type="text/plain")
    content_type, handle, name = opened
    return FileResponse(handle, content_type=content_type, filename=name, as_attachment=True)


@login_required
@require_POST
def send_link(request: HttpRequest, customer_id: int) -> HttpResponse:
    """An agent emails the customer a portal link (through the outbox)."""
    from lastmile.customers.selectors import customer_get

    try:
        customer = customer_get(customer_id=customer_id, viewer=request.user)
        issued = services.portal_link_issue(customer=customer, now=utcnow(), actor=request.user)
    except NotFound:
        return HttpResponse("Customer not found.", status=404)
    except DomainError as exc:
        return render(
            request,
            "portal/_send_link.html",
            {"customer": Customer.objects.get(pk=customer_id), "error": exc.detail},
            status=422,
        )
    context: dict[str, Any] = {"customer": customer, "sent": issued.link.sent_to}
    if settings.DEBUG:
        context["url"] = issued.path  # the demo has no real mailbox: let the agent open it
    return render(request, "portal/_send_link.html", context)


@login_required
@require_POST
def case_title(request: HttpRequest, ref: str) -> HttpResponse:
    """An agent writes the title the customer sees for a case in the portal (empty: the
    neutral one), from the console's case page."""
    from lastmile.cases.selectors import case_get
    from lastmile.cases.services import case_update

    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound:
        return HttpResponse("Case not found.", status=404, content_type="text/plain")
    title = request.POST.get("customer_title", "")
    try:
        case = case_update(case=case, customer_title=title, actor=request.user, now=utcnow())
    except InvalidInput as exc:
        reasons = "; ".join(e.reason for e in exc.errors)
        context = {"case": case, "title_typed": title, "error": f"{exc.detail}: {reasons}"}
        return render(request, "portal/_case_title.html", context, status=422)
    context = {"case": case, "saved": True}
    return render(request, "portal/_case_title.html", context)

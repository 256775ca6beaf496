"""Pages and endpoints of working together: the poll, the case page's heartbeat, the
notifications list. Each parses its input, calls one selector or service and answers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from lastmile.cases.selectors import case_get
from lastmile.console.pages import page_chrome
from lastmile.console.views import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import NotFound
from lastmile.live import selectors, services
from lastmile.loops.selectors import inbox_version


@login_required
@require_GET
@never_cache
def poll(request: HttpRequest) -> JsonResponse:
    """What the open page asks every few seconds: the version of the case it shows
    (``?case=LM-1``), of the inbox (``?inbox=<the cursor it answered last>``, empty the
    first time), and the unread notifications' count. A case the viewer may not open
    answers 404, as its page does."""
    answer: dict[str, object] = {}
    ref = request.GET.get("case")
    if ref:
        try:
            answer["case"] = selectors.case_version(ref=ref, viewer=request.user)
        except NotFound as exc:
            return JsonResponse({"code": exc.code, "detail": exc.detail}, status=404)
    if "inbox" in request.GET:
        since = request.GET["inbox"]
        stamp = inbox_version(
            viewer=request.user, since=int(since) if since.isdigit() and len(since) < 19 else None
        )
        answer["inbox"] = {"cursor": stamp.cursor, "last": stamp.last}
    answer["unread"] = selectors.notifications_unread_count(viewer=request.user)
    return JsonResponse(answer)


@login_required
@require_POST
def beat(request: HttpRequest, ref: str) -> HttpResponse:
    """The case page's heartbeat (``typing=1`` while the composer changes): the viewer is
    here; answers who else is, as the presence partial."""
    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    now = utcnow()
    services.presence_beat(
        user=request.user, case=case, typing=request.POST.get("typing") == "1", now=now
    )
    present = selectors.presence_on_case(case=case, viewer=request.user, now=now)
    return render(request, "live/_presence.html", {"present": present})


@login_required
@require_POST
def leave(request: HttpRequest, ref: str) -> HttpResponse:
    """The case page closes (``sendBeacon`` on ``pagehide``): the viewer is gone at once."""
    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound as exc:
        return error_response(request, exc)
    services.presence_leave(user=request.user, case=case)
    return HttpResponse(status=204)


@login_required
@require_POST
def case_seen(request: HttpRequest, ref: str) -> JsonResponse:
    """The case page was opened (live.js posts this once it is shown): the viewer's
    notifications about the case are read. Answers the unread count left, for the bell.
    A case the viewer may not open answers 404."""
    try:
        case = case_get(ref=ref, viewer=request.user)
    except NotFound as exc:
        return JsonResponse({"code": exc.code, "detail": exc.detail}, status=404)
    read = services.notifications_read_for_case(user=request.user, case=case, now=utcnow())
    unread = selectors.notifications_unread_count(viewer=request.user)
    return JsonResponse({"read": read, "unread": unread})


@login_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    """The viewer's notifications, newest first, paged; ``?menu=1`` is the top bar's list."""
    if request.GET.get("menu"):
        return render(
            request,
            "live/_menu.html",
            {"latest": selectors.notifications_latest(viewer=request.user)},
        )
    now = utcnow()
    page = selectors.notification_list(viewer=request.user, page_number=request.GET.get("page"))
    return render(
        request,
        "live/notifications.html",
        {
            **page_chrome(request, now),
            "page": page,
            "unread": selectors.notifications_unread_count(viewer=request.user),
        },
    )


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one notification read: a POST (CSRF-checked), from the list's button (back to
    the list) or the beacon live.js sends as the agent follows its link (204). Following the
    link itself is a plain GET of the case and changes nothing."""
    try:
        services.notification_read(user=request.user, notification_id=notification_id, now=utcnow())
    except NotFound as exc:
        return error_response(request, exc)
    if request.POST.get("back") == "list":
        return redirect("live:notifications")
    return HttpResponse(status=204)


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Mark every notification of the viewer read; back to the list."""
    services.notifications_mark_read(user=request.user, now=utcnow())
    return redirect("live:notifications")

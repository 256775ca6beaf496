from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.http import url_has_allowed_host_and_scheme

# Machine clients get the API's JSON error; people (console, portal forms) get a page.
MACHINE_PATHS = ("/api/", "/v1/", "/hooks/")


def _same_site_referer(request: HttpRequest) -> str | None:
    """The page the person came from, if it is on this site (a link back without script)."""
    referer = request.META.get("HTTP_REFERER", "")
    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={host}):
        return referer
    return None


class BodySizeLimitMiddleware:
    """Answer 413 before reading a body that is over LASTMILE_MAX_BODY_BYTES: JSON on the
    API's paths, a page saying what to do for a person (say, a portal upload too large)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.LASTMILE_MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit and not request.path.startswith(MACHINE_PATHS):
            context = {
                "size": filesizeformat(length),
                "limit": filesizeformat(limit),
                "back": _same_site_referer(request),
            }
            return render(request, "core/too_large.html", context, status=413)
        if length > limit:
            body = {
                "code": "too_large",
                "detail": f"request body is {length} bytes; the limit is {limit}",
                "errors": [
                    {"index": None, "field": "body", "reason": f"larger than {limit} bytes"}
                ],
            }
            return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)


# Only this site's own files: no inline script or style, no eval, no plugins, not framed.
# htmx runs with allowEval off and its indicator styles in console.css (base.html).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Send the site's Content-Security-Policy with every response that has none of its own.

    Outside the body limit, so the 413 page carries it too. Django's SecurityMiddleware
    sends the other headers (nosniff, Referrer-Policy, HSTS when configured).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response

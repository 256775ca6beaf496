from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.http import url_has_allowed_host_and_scheme

from lastmile.core.errors import ErrorCode

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


def _chunked_without_length(request: HttpRequest) -> bool:
    """Django reads CONTENT_LENGTH bytes of a body: a chunked body, which has none, read as
    empty and was handled as no body at all. The server (gunicorn) drains it either way."""
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encoding and not request.META.get("CONTENT_LENGTH")


def _length_required() -> HttpResponse:
    body = {
        "code": ErrorCode.LENGTH_REQUIRED,
        "detail": "send the body with a Content-Length header; chunked bodies are not read",
        "errors": [{"index": None, "field": "Content-Length", "reason": "missing"}],
    }
    return HttpResponse(json.dumps(body), status=411, content_type="application/json")


class BodySizeLimitMiddleware:
    """Answer 413 before reading a body that is over LASTMILE_MAX_BODY_BYTES: JSON on the
    API's paths, a page saying what to do for a person (say, a portal upload too large)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.LASTMILE_MAX_BODY_BYTES
        if _chunked_without_length(request):
            return _length_required()
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
                "code": ErrorCode.TOO_LARGE,
                "detail": f"request body is {length} bytes; the limit is {limit}",
                "errors": [
                    {"index": None, "field": "body", "reason": f"larger than {limit} bytes"}
                ],
            }
            _discard_body(request, length, cap=2 * limit)
            return HttpResponse(json.dumps(body), status=413, content_type="application/json")
        return self.get_response(request)


def _discard_body(request: HttpRequest, length: int, *, cap: int) -> None:
    """Read and drop a refused body of up to ``cap`` bytes, so the keep-alive connection
    serves the client's next request: gunicorn drains at most 64 KB of a body the
    application left unread, and closes the connection after the response otherwise (as
    it still does for a body over ``cap``: reading it all would cost more than a new
    connection)."""
    if length > cap:
        return
    stream = request.META.get("wsgi.input")
    remaining = length
    while stream is not None and remaining > 0:
        chunk = stream.read(min(remaining, 64 * 1024))
        if not chunk:
            break
        remaining -= len(chunk)


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

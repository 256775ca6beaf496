"""Errors on the API's paths are JSON, whoever raised them.

ninja's handlers (``lastmile.api.api``) shape what happens inside an operation; this
middleware, outermost, reshapes what Django or another middleware answered before or after
it: a 404 or 405 that never reached an operation, a 500 from a middleware, the DEBUG
traceback page. The traceback is logged by Django (``django.request``), never sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse

from lastmile.core.errors import ErrorCode

API_PATHS = ("/api/", "/v1/")  # the HTTP API and the Segment HTTP Tracking API

CODES = {
    400: ErrorCode.BAD_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    411: ErrorCode.LENGTH_REQUIRED,
    413: ErrorCode.TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.BUSY,
    500: ErrorCode.SERVER_ERROR,
}
# Headers that describe the body being replaced; every other header of the original response
# stays: this middleware is outermost, so the security middleware's headers (CSP,
# X-Frame-Options, HSTS, ...), Vary and the cookies are already on the response it rebuilds.
BODY_HEADERS = frozenset(
    name.lower()
    for name in (
        "Content-Type",
        "Content-Length",
        "Content-Encoding",
        "Content-Disposition",
        "Content-Language",
        "Content-Location",
        "Content-Range",
        "ETag",
        "Last-Modified",
    )
)


def _is_json(response: HttpResponse) -> bool:
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json"


def _with_length(response: HttpResponse) -> HttpResponse:
    """A response answered before CommonMiddleware (a 413, a 411) had no Content-Length, so
    gunicorn closed the keep-alive connection after it, while the client was still sending
    the body (a broken pipe). With the length, gunicorn keeps the connection and discards
    the unread body before reading the next request."""
    if not response.streaming and not response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
    return response


class JsonErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(API_PATHS):
            return response
        return _with_length(self._shaped(request, response))

    def _shaped(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        status = response.status_code
        if status < 400 or _is_json(response):
            return response
        if status >= 500:
            code, detail = (
                ErrorCode.SERVER_ERROR,
                "the server failed to answer this request; the error is logged",
            )
        else:
            code = CODES.get(status, ErrorCode.ERROR)
            try:
                phrase = HTTPStatus(status).phrase.lower()
            except ValueError:
                phrase = "error"
            detail = f"{phrase}: {request.method} {request.path}"
        errors = []
        if status == 405 and response.has_header("Allow"):
            errors.append({"index": None, "field": "method", "reason": f"use {response['Allow']}"})
        body = {"code": code, "detail": detail, "errors": errors}
        shaped = HttpResponse(json.dumps(body), status=status, content_type="application/json")
        for name, value in response.items():
            if name.lower() not in BODY_HEADERS:
                shaped[name] = value
        shaped.cookies = response.cookies  # Set-Cookie lives here, not among the headers
        return shaped

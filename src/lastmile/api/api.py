"""The HTTP API: one NinjaAPI with one error shape for everything. Each app's router is
mounted on it by ``lastmile.urls``, above every app (an app never imports the apps above it).

Errors are ``{"code", "detail", "errors": [{"index", "field", "reason"}]}`` with a 4xx.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import Error as DatabaseLibraryError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from lastmile.api.auth import TokenAuth
from lastmile.core.backpressure import busy_of, busy_response
from lastmile.core.errors import DomainError, ErrorCode
from lastmile.core.jsonbody import JsonBodyError, json_check, json_load

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "detail", "errors"],
    "properties": {
        "code": {"type": "string", "enum": [code.value for code in ErrorCode]},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {
                    "index": {"type": ["integer", "null"]},
                    "field": {"type": "string"},
                    "reason": {"type": "string"},
                },
            },
        },
    },
}
ERROR_STATUSES = {
    "400": "Malformed request",
    "401": "Missing or unknown token",
    "403": "Not allowed for this token",
    "404": "Not found (or not visible to this token)",
    "405": "Method not allowed on this path",
    "409": "Conflicts with the current state (e.g. loops still open)",
    "413": "Body too large",
    "415": "The body is not application/json",
    "422": "Invalid input: each error names the item index and field",
    "500": "Server error (logged on the server; the body says nothing more)",
    "503": "The database is busy or unreachable: nothing was stored; retry after Retry-After",
}

logger = logging.getLogger("lastmile.api")


class UnsupportedMediaType(JsonBodyError):
    """A body sent as something other than JSON to an operation that takes JSON."""


class StrictJSONParser(Parser):
    """JSON whose text a database can store and whose nesting a handler can walk: NUL, a
    lone surrogate (``"\\ud800"``), NaN or nesting past ``MAX_DEPTH`` is a 400 here, not an
    encoding error in the database driver or a ``RecursionError``."""

    def parse_body(self, request: HttpRequest) -> Any:
        # A form or text/plain body is refused, not decoded as JSON behind the client's back:
        # browsers send text/plain cross-site without a CORS preflight.
        content_type = (request.content_type or "").lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"the body is {content_type or 'untyped'}; send it as application/json"
            )
        return json_load(request.body)

    def parse_querydict(self, data: Any, list_fields: list[str], request: HttpRequest) -> Any:
        parsed = super().parse_querydict(data, list_fields, request)
        try:
            json_check(parsed)
        except JsonBodyError as exc:
            raise HttpError(400, f"query string: {exc}") from None
        return parsed


class LastmileAPI(NinjaAPI):
    """NinjaAPI whose schema documents the one error body every operation may answer with."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        ref = {"$ref": "#/components/schemas/Error"}
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, text in ERROR_STATUSES.items():
                    responses.setdefault(
                        status,
                        {"description": text, "content": {"application/json": {"schema": ref}}},
                    )
        return schema


api = LastmileAPI(
    title="lastmile",
    version="1",
    description="Customers, timeline, cases and open loops. Every call needs `Authorization: Bearer <token>`.",
    auth=TokenAuth(),
    parser=StrictJSONParser(),
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def error_response(
    status: int, code: ErrorCode, detail: str, errors: list[dict[str, Any]] | None = None
) -> HttpResponse:
    body = {"code": code, "detail": detail, "errors": errors or []}
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


def api_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        404,
        ErrorCode.NOT_FOUND,
        f"no API endpoint at {request.path}",
        [{"index": None, "field": "path", "reason": "see /api/docs for the endpoints"}],
    )


def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return error_response(exc.status, exc.code, exc.detail, [e.as_dict() for e in exc.errors])


def _field_error(err: dict[str, Any]) -> dict[str, Any]:
    loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "payload", "data")]
    index = None
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        index = loc[1]
        loc = loc[2:]
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    reason = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "extra_forbidden":
        reason = "not a field of this operation"
    return {"index": index, "field": field or "body", "reason": reason}


def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [_field_error(e) for e in exc.errors]
    first = errors[0] if errors else {"field": "body", "reason": "invalid"}
    where = f"item {first['index']}: " if first.get("index") is not None else ""
    return error_response(
        422, ErrorCode.INVALID, f"{where}{first['field']}: {first['reason']}", errors
    )


def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(
        401,
        ErrorCode.UNAUTHORIZED,
        "a valid 'Authorization: Bearer <token>' header is required",
        [{"index": None, "field": "Authorization", "reason": "missing or unknown token"}],
    )


def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return error_response(404, ErrorCode.NOT_FOUND, str(exc) or "not found")


def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps what the parser raised in "Cannot parse request body" and adds why only
    # under DEBUG; the client needs the reason in every deployment.
    cause = exc.__cause__
    if isinstance(cause, UnsupportedMediaType):
        field = {"index": None, "field": "Content-Type", "reason": cause.reason}
        return error_response(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, cause.reason, [field])
    if isinstance(cause, JsonBodyError):
        field = {"index": None, "field": "body", "reason": cause.reason}
        return error_response(
            400, ErrorCode.BAD_REQUEST, f"cannot parse the body: {cause.reason}", [field]
        )
    code = {400: ErrorCode.BAD_REQUEST, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
        exc.status_code, ErrorCode.ERROR
    )
    return error_response(exc.status_code, code, str(exc))


def _suspicious_detail(exc: SuspiciousOperation) -> str:
    # Django's own message can carry what the client sent (a Host header, a path); the
    # detail names the limit instead, in words the client can act on.
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return f"too many query parameters or form fields: at most {limit} are read"
    if isinstance(exc, TooManyFilesSent):
        return f"too many files: at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} are read"
    if isinstance(exc, RequestDataTooBig):
        return f"the request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"
    if isinstance(exc, DisallowedHost):
        return "the Host header names a host this server does not answer for"
    return "the request was refused as malformed or suspicious"


def on_suspicious_operation(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    # Django answers these 400 and logs them to django.security.<class> (its
    # response_for_exception); raised inside an operation, they reach ninja instead.
    security_logger = logging.getLogger(f"django.security.{exc.__class__.__name__}")
    security_logger.error(str(exc), exc_info=exc, extra={"status_code": 400, "request": request})
    return error_response(400, ErrorCode.BAD_REQUEST, _suspicious_detail(exc))


def on_permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    # Django's message is for the server's log at most; lastmile's own refusals are
    # DomainErrors with a sentence for the client.
    return error_response(403, ErrorCode.FORBIDDEN, "this request is not allowed for this token")


def on_unexpected_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The traceback goes to the server's log, never to the client, DEBUG or not.
    logger.error("unexpected error on %s %s", request.method, request.path, exc_info=exc)
    return server_error_response()


def on_database_error(request: HttpRequest, exc: DatabaseLibraryError) -> HttpResponse:
    # A lock or statement timeout, a locked SQLite, no connection to be had: 503 with
    # Retry-After (lastmile.core.backpressure, as its middleware answers plain views).
    busy = busy_of(exc)
    if busy is not None:
        return busy_response(request, busy)
    return on_unexpected_error(request, exc)


def server_error_response() -> HttpResponse:
    return error_response(
        500,
        ErrorCode.SERVER_ERROR,
        "the server failed to answer this request; the error is logged",
    )


def install_error_handlers(target: NinjaAPI) -> None:
    """Every error ``target`` answers is the one JSON shape: a 4xx for the client's mistakes,
    ``server_error`` 500 for the rest (also under DEBUG, where ninja would send a traceback).
    Django's own refusals (SuspiciousOperation, PermissionDenied) keep Django's 400 and 403:
    ninja picks the handler of the nearest class in the exception's MRO, so the catch-all on
    ``Exception`` sees only what nothing nearer claims."""
    target.add_exception_handler(DomainError, on_domain_error)
    target.add_exception_handler(ValidationError, on_validation_error)
    target.add_exception_handler(AuthenticationError, on_auth_error)
    target.add_exception_handler(Http404, on_not_found)
    target.add_exception_handler(HttpError, on_http_error)
    target.add_exception_handler(SuspiciousOperation, on_suspicious_operation)
    target.add_exception_handler(PermissionDenied, on_permission_denied)
    target.add_exception_handler(DatabaseLibraryError, on_database_error)
    target.add_exception_handler(Exception, on_unexpected_error)


install_error_handlers(api)

"""``/hooks/onfleet``: Onfleet's task webhooks move lastmile's jobs.

A business that already dispatches with Onfleet keeps its drivers' app; lastmile gets the
customer side (the visit loop, proof, invoice, follow-up) from Onfleet's webhooks:

- ``GET ?check=<value>``: Onfleet's handshake when a webhook is created; the value is echoed.
- ``POST``: a task event, signed. ``X-Onfleet-Signature`` is the hex HMAC-SHA512 of the raw
  body under the webhook secret (given as hex: ``LASTMILE_ONFLEET_SECRET``); a missing or
  wrong signature is a 401 and nothing is read.
- The task names its job in its metadata: an entry ``{"name": "lastmile_job", "value": <id>}``
  set when the task is created in Onfleet. A task without it is acknowledged (200,
  ``"ignored"``) so that Onfleet does not retry it for a day.
- ``taskEta`` (``etaSeconds`` from the event's ``time``) sets the job's ETA as the API's
  ``/eta`` does: past the window by more than the grace, the customer's delay notice (once)
  and the team's recovery loop; back on time, the "back on time" notice.
- ``taskStarted`` starts the job; ``taskCompleted`` completes it, with the signature and
  photos Onfleet took as its proofs (their upload ids), walking it through start and arrival
  if those webhooks were not set up; ``taskFailed`` fails it with the reason mapped from
  Onfleet's ``failureReason``. Onfleet retries what was not answered 200: an event the job
  has already been through is answered 200 ``"already"`` and changes nothing.
- A job that cannot take the event (completed without a proof lastmile requires, such as a
  PIN Onfleet does not take) is a 409 naming what is missing, as the API answers.

Without ``LASTMILE_ONFLEET_SECRET`` the endpoint is a 404: not configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from lastmile.api.api import error_response
from lastmile.core.clock import utcnow
from lastmile.core.errors import DomainError, ErrorCode, FieldError, InvalidInput
from lastmile.jobs import runs
from lastmile.jobs.models import FailReason, Job, ProofKind

SIGNATURE_HEADER = "HTTP_X_ONFLEET_SIGNATURE"
METADATA_NAME = "lastmile_job"
MAX_BODY_BYTES = 512 * 1024

# Onfleet's triggers, as the steps of ``runs.outside_step``.
_STEPS = {
    "taskStarted": "start",
    "taskCompleted": "complete",
    "taskFailed": "fail",
    "taskEta": "eta",
}

# Onfleet's failure reasons, by a word of them, to lastmile's; anything else is "not at home"
# only when it says the client was not there, otherwise "access problem" (the driver could
# not get the parcel to the door), and the note keeps Onfleet's own words.
_REASONS = (
    ("REFUS", FailReason.REFUSED),
    ("DAMAGE", FailReason.DAMAGED),
    ("ADDRESS", FailReason.WRONG_ADDRESS),
    ("NOT_AVAILABLE", FailReason.NOT_AT_HOME),
    ("NOT_HOME", FailReason.NOT_AT_HOME),
    ("UNAVAILABLE", FailReason.NOT_AT_HOME),
    ("ACCESS", FailReason.ACCESS_PROBLEM),
)


def _error(status: int, code: ErrorCode, detail: str, field: str, reason: str) -> HttpResponse:
    return error_response(status, code, detail, [{"index": None, "field": field, "reason": reason}])


def signature_valid(secret_hex: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is the hex HMAC-SHA512 of ``body`` under the hex secret."""
    try:
        key = bytes.fromhex(secret_hex)
    except ValueError:
        return False
    expected = hmac.new(key, body, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def fail_reason(onfleet: str) -> str:
    """lastmile's reason for Onfleet's ``failureReason`` (e.g. ``CLIENT_NOT_AVAILABLE``)."""
    word = (onfleet or "").upper()
    for part, reason in _REASONS:
        if part in word:
            return str(reason)
    return str(FailReason.ACCESS_PROBLEM)


def _job_id(task: dict[str, Any]) -> int | None:
    for entry in task.get("metadata") or ():
        if isinstance(entry, dict) and entry.get("name") == METADATA_NAME:
            try:
                return int(str(entry.get("value")).strip())
            except ValueError:
                return None
    return None


def _eta_of(event: dict[str, Any]) -> datetime:
    """The arrival time a ``taskEta`` event tells: its ``time`` (ms) plus ``etaSeconds``."""
    try:
        at = datetime.fromtimestamp(float(event["time"]) / 1000, tz=UTC)
        return at + timedelta(seconds=float(event["etaSeconds"]))
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        raise InvalidInput(
            "a taskEta event needs its time and etaSeconds",
            [FieldError("etaSeconds", "a number of seconds, with the event's time in ms")],
        ) from None


def _proofs_from(task: dict[str, Any]) -> list[tuple[str, str]]:
    """Onfleet's signature and photos, as proofs (kind, their upload ids)."""
    details = task.get("completionDetails") or {}
    taken: list[tuple[str, str]] = []
    if details.get("signatureUploadId"):
        taken.append((ProofKind.SIGNATURE, f"onfleet:{details['signatureUploadId']}"))
    photos = details.get("photoUploadIds") or (
        [details["photoUploadId"]] if details.get("photoUploadId") else []
    )
    taken += [(ProofKind.PHOTO, f"onfleet:{p}") for p in photos if p]
    return taken


def _apply(
    job: Job, trigger: str, task: dict[str, Any], event: dict[str, Any], *, now: datetime
) -> tuple[Job, bool]:
    """Onfleet's event read into ``runs.outside_step``, which walks the job."""
    step = _STEPS[trigger]
    details = task.get("completionDetails") or {}
    failure = str(details.get("failureReason") or "")
    note = " ".join(str(part) for part in (failure, details.get("failureNotes")) if part)
    return runs.outside_step(
        job=job,
        step=step,
        now=now,
        eta=_eta_of(event) if step == "eta" and job.state not in runs.OUTSIDE_DONE["eta"] else None,
        proofs=_proofs_from(task) if step == "complete" else None,
        reason=fail_reason(failure) if step == "fail" else "",
        note=note if step == "fail" else "",
        source="onfleet",
    )


@csrf_exempt
def onfleet_hook(request: HttpRequest) -> HttpResponse:
    secret = getattr(settings, "ONFLEET_SECRET", "")
    if not secret:
        return _error(
            404,
            ErrorCode.NOT_FOUND,
            "Onfleet webhooks are not configured",
            "path",
            "set LASTMILE_ONFLEET_SECRET",
        )
    if request.method == "GET" and "check" in request.GET:
        return HttpResponse(request.GET["check"], content_type="text/plain")
    if request.method != "POST":
        response = _error(
            405, ErrorCode.METHOD_NOT_ALLOWED, f"{request.path} takes POST", "method", "use POST"
        )
        response["Allow"] = "GET, POST"
        return response
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _error(
            413,
            ErrorCode.TOO_LARGE,
            f"the event is {declared} bytes",
            "body",
            f"at most {MAX_BODY_BYTES // 1024} KB",
        )
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not signature:
        return _error(
            401,
            ErrorCode.SIGNATURE_MISSING,
            "no X-Onfleet-Signature header",
            "X-Onfleet-Signature",
            "Onfleet signs every event",
        )
    body = request.body
    if not signature_valid(secret, body, signature):
        return _error(
            401,
            ErrorCode.SIGNATURE_INVALID,
            "the signature does not match the body",
            "X-Onfleet-Signature",
            "the HMAC-SHA512 of the body under the webhook secret",
        )
    try:
        event = json.loads(body)
    except ValueError:
        return _error(400, ErrorCode.BAD_REQUEST, "the body is not JSON", "body", "not JSON")
    if not isinstance(event, dict):
        return _error(422, ErrorCode.INVALID, "the event is not an object", "body", "an object")
    trigger = event.get("triggerName")
    task = (event.get("data") or {}).get("task") if isinstance(event.get("data"), dict) else None
    if trigger not in _STEPS:
        return JsonResponse({"result": "ignored", "reason": f"lastmile does not act on {trigger}"})
    if not isinstance(task, dict):
        return _error(422, ErrorCode.INVALID, "the event has no task", "data.task", "required")
    job_id = _job_id(task)
    if job_id is None:
        return JsonResponse(
            {"result": "ignored", "reason": f"the task has no {METADATA_NAME} metadata"}
        )
    job = Job.objects.filter(pk=job_id).first()
    if job is None:
        return _error(
            404,
            ErrorCode.NOT_FOUND,
            f"no job {job_id}",
            f"metadata.{METADATA_NAME}",
            "no job has this id",
        )
    try:
        job, applied = _apply(job, trigger, task, event, now=utcnow())
    except DomainError as exc:
        return error_response(exc.status, exc.code, exc.detail, [e.as_dict() for e in exc.errors])
    result = "applied" if applied else "already"
    return JsonResponse({"result": result, "job": job.pk, "state": job.state})

"""Domain errors: a stable code, an HTTP status and the facts.

Services raise these; the API and the console render them the same way
(``{"code", "detail", "errors": [{"index", "field", "reason"}]}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every ``code`` an error body may carry; the API schema's ``Error.code`` lists them.

    A StrEnum member equals its string and serialises as it, so clients see the same codes
    as before; a new code is a new member here, never a string at a raise site.
    """

    # Generic, one per HTTP refusal
    BAD_REQUEST = "bad_request"  # malformed request (unparseable body, suspicious request)
    UNAUTHORIZED = "unauthorized"  # missing, unknown or revoked token or write key
    FORBIDDEN = "forbidden"  # the actor may not do this
    NOT_FOUND = "not_found"  # missing, or not visible to this viewer
    METHOD_NOT_ALLOWED = "method_not_allowed"  # the path does not take this method
    CONFLICT = "conflict"  # conflicts with the current state (no more precise code)
    LENGTH_REQUIRED = "length_required"  # a chunked body without Content-Length
    TOO_LARGE = "too_large"  # the body is over the limit
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # the body's Content-Type is not accepted
    INVALID = "invalid"  # invalid input; each error names the index and field
    BUSY = "busy"  # the server is saturated; retry after Retry-After
    TOO_MANY_AUTH_FAILURES = "too_many_auth_failures"  # too many unknown tokens from an address
    SERVER_ERROR = "server_error"  # unexpected failure, logged on the server
    INTERNAL = "internal"  # an internal invariant broke (a bug), logged on the server
    ERROR = "error"  # an HTTP error with no more precise code
    # Signed webhooks
    SIGNATURE_MISSING = "signature_missing"  # a signature or timestamp header is missing
    SIGNATURE_INVALID = "signature_invalid"  # the signature does not match the body
    TIMESTAMP_INVALID = "timestamp_invalid"  # the timestamp header is not a number
    TIMESTAMP_STALE = "timestamp_stale"  # the timestamp is too old (a replay?)
    TIMESTAMP_FUTURE = "timestamp_future"  # the timestamp is too far ahead
    INTEGRATION_INACTIVE = "integration_inactive"  # the integration is switched off
    INTEGRATION_UNUSABLE = "integration_unusable"  # inactive or without an outbound URL
    NO_CONVERSATION = "no_conversation"  # the case has no messaging conversation to reply on
    # Replies
    CHANNEL_NOT_DELIVERABLE = "channel_not_deliverable"  # nothing can send a reply on it
    NEWER_MESSAGES = "newer_messages"  # the case got messages since the writer last looked
    # Customers
    MERGE_SELF = "merge_self"  # a customer merged into itself
    ALREADY_MERGED = "already_merged"  # the customer was merged already
    ALREADY_UNDONE = "already_undone"  # the merge was undone already
    MERGE_ORDER = "merge_order"  # a later merge must be undone first
    # Cases and loops
    LOOPS_STILL_OPEN = "loops_still_open"  # a case cannot close while loops are open
    LOOP_NOT_OPEN = "loop_not_open"  # the loop is no longer open
    LOOP_PAUSED = "loop_paused"  # the loop is paused already
    LOOP_NOT_PAUSED = "loop_not_paused"  # the loop is not paused
    LOOP_OVERDUE = "loop_overdue"  # an overdue loop cannot be paused
    # Promises
    PROMISE_NOT_OPEN = "promise_not_open"  # the promise is no longer open
    PROMISE_NOT_AWAITING = "promise_not_awaiting"  # the promise awaits no decision
    POLICY_BLOCKED = "policy_blocked"  # a policy blocks the promise unless overridden
    POLICY_WARNING = "policy_warning"  # a warning policy needs an acknowledgement
    OVERRIDE_NOT_ALLOWED = "override_not_allowed"  # the actor's authority does not cover it
    # Journeys
    TEMPLATE_INACTIVE = "template_inactive"  # the journey template is not active
    TEMPLATE_EMPTY = "template_empty"  # the journey template has no steps
    CASE_CLOSED = "case_closed"  # the case is closed
    JOURNEY_ACTIVE = "journey_active"  # the journey is under way on the case already
    JOURNEY_NOT_ACTIVE = "journey_not_active"  # the journey is no longer active
    JOURNEY_STEP_LOOP = "journey_step_loop"  # a journey step loop: cancel the journey
    STEP_NOT_OPEN = "step_not_open"  # the journey step is not open
    NOT_A_SLOT_STEP = "not_a_slot_step"  # the step is not a choose_slot step
    # Deliveries and invoices
    PROOF_MISSING = "proof_missing"  # a required proof is missing: completion refused
    INVALID_TRANSITION = "invalid_transition"  # the job's state does not allow this step
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"  # the key was used for another request
    ALREADY_PAID = "already_paid"  # the invoice has an accepted payment already
    # Feedback
    ALREADY_ANSWERED = "already_answered"  # the survey invite has its answer already
    INVITE_CLOSED = "invite_closed"  # the invite was never sent (suppressed) or has ended
    # Listening
    WATCHTERM_EXISTS = "watchterm_exists"  # a watch term with this name exists
    MENTION_FROM_BRAND = "mention_from_brand"  # the mention is the brand's own post
    MENTION_HANDLED = "mention_handled"  # the mention is handled already
    # Knowledge
    SLUG_TAKEN = "slug_taken"  # an article with this slug exists
    # Crisis
    ALERT_NOT_OPEN = "alert_not_open"  # the alert is not open
    ALERT_RESOLVED = "alert_resolved"  # the alert is resolved already
    MENTIONS_REFUSED = "mentions_refused"  # some of the mentions cannot be attached to the alert
    NO_STATUS_PAGE = "no_status_page"  # the response links to a status page not published yet
    NO_TEAM = "no_team"  # the alert has no team to own a public note
    DUPLICATE = "duplicate"  # a saved response title or status page slug is taken
    ALREADY_PUBLISHED = "already_published"  # the update is published already
    NOT_PUBLISHED = "not_published"  # the page is not public


@dataclass
class FieldError:
    field: str
    reason: str
    index: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason}


@dataclass
class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    detail: str
    errors: Sequence[FieldError] = field(default_factory=list)
    code: ErrorCode = ErrorCode.INVALID
    status: int = 400

    def __str__(self) -> str:
        return self.detail

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "detail": self.detail,
            "errors": [e.as_dict() for e in self.errors],
        }


class InvalidInput(DomainError):
    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail=detail, errors=list(errors), code=ErrorCode.INVALID, status=422)


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(detail=f"{what} not found", code=ErrorCode.NOT_FOUND, status=404)


class Conflict(DomainError):
    def __init__(
        self, detail: str, code: ErrorCode = ErrorCode.CONFLICT, errors: Sequence[FieldError] = ()
    ) -> None:
        super().__init__(detail=detail, errors=list(errors), code=code, status=409)


class PermissionDenied(DomainError):
    def __init__(self, detail: str = "you may not do this") -> None:
        super().__init__(detail=detail, code=ErrorCode.FORBIDDEN, status=403)

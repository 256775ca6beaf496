"""The error codes the jobs API answers with that ``ErrorCode`` does not list yet.

Until ``lastmile.core.errors.ErrorCode`` has these members (``PROOF_MISSING``,
``INVALID_TRANSITION``, ``IDEMPOTENCY_KEY_REUSED``, same values), the jobs app names them
here; :func:`code` hands them on typed as an ``ErrorCode``, as the API's error handler
renders any ``DomainError``'s code. Once core lists them, ``code`` returns its members and
this enumeration goes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import cast

from lastmile.core.errors import ErrorCode


class JobErrorCode(StrEnum):
    PROOF_MISSING = "proof_missing"  # a required proof is missing: completion refused
    INVALID_TRANSITION = "invalid_transition"  # the job's state does not allow this step
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"  # the key was used for another request


def code(member: JobErrorCode) -> ErrorCode:
    """``ErrorCode``'s member of that name when core has it, else the jobs' own."""
    return getattr(ErrorCode, member.name, None) or cast(ErrorCode, member)

"""How long to wait before trying again: one schedule for the outbox and webhook deliveries."""

from __future__ import annotations

from datetime import timedelta

RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)


def retry_delay(attempt: int) -> timedelta:
    """How long after failed attempt ``attempt`` (1-based) the next one is made.

    Doubles from ``RETRY_BASE`` (1, 2, 4 … minutes), capped at ``RETRY_CAP``:

    >>> [retry_delay(n).total_seconds() / 60 for n in (1, 2, 3, 9)]
    [1.0, 2.0, 4.0, 256.0]
    >>> retry_delay(20) == RETRY_CAP == retry_delay(10**6)
    True
    """
    # The exponent stops at 30: past the cap anyway, and 2 ** 10**6 minutes would overflow.
    return min(RETRY_BASE * 2 ** min(max(attempt, 1) - 1, 30), RETRY_CAP)

"""How much an author's words carry: a score from 0 to 100, pure arithmetic.

Three signals, each log-scaled (audiences and engagement span six orders of magnitude, and
a jump from 100 to 1,000 followers matters as much as one from 100,000 to 1,000,000) and
capped at 1:

- audience  ``log10(1 + followers) / 7``            (10 M followers is the top);
- engagement ``log10(1 + engagement / mentions) / 4`` — the average weighted engagement a
  mention of theirs gets (likes + 3 × reposts + 2 × replies: a repost carries the post to a
  new audience, a reply starts a public thread), 10,000 per mention is the top;
- reach     ``log10(1 + reach) / 8`` — the summed audience of their past mentions (the
  network's impression count when it gives one, else followers at the time plus
  ``REPOST_AUDIENCE`` per repost), 100 M is the top.

``influence = 100 × (0.5 × audience + 0.25 × engagement + 0.25 × reach)``. Every part is
non-decreasing in its input, so the score is too (the tests check it with hypothesis).
"""

from __future__ import annotations

import math

LIKE_WEIGHT = 1
REPOST_WEIGHT = 3
REPLY_WEIGHT = 2
# The audience one repost adds when the network does not say (a typical account's followers).
REPOST_AUDIENCE = 200

W_AUDIENCE, W_ENGAGEMENT, W_REACH = 0.5, 0.25, 0.25
TOP_FOLLOWERS_LOG = 7.0
TOP_ENGAGEMENT_LOG = 4.0
TOP_REACH_LOG = 8.0


def engagement_of(*, likes: int, reposts: int, replies: int) -> int:
    """The weighted engagement one mention got."""
    return (
        LIKE_WEIGHT * max(0, likes)
        + REPOST_WEIGHT * max(0, reposts)
        + REPLY_WEIGHT * max(0, replies)
    )


def reach_of(*, followers: int, reposts: int, impressions: int | None = None) -> int:
    """The audience one mention reached: the impressions if known, else an estimate."""
    if impressions is not None and impressions >= 0:
        return impressions
    return max(0, followers) + REPOST_AUDIENCE * max(0, reposts)


def _part(value: float, top_log: float) -> float:
    return min(1.0, math.log10(1.0 + max(0.0, value)) / top_log)


def influence_score(*, followers: int, engagement: int, mentions: int, reach: int) -> float:
    """The author's influence, 0 to 100, rounded to 0.1."""
    audience = _part(followers, TOP_FOLLOWERS_LOG)
    per_mention = engagement / mentions if mentions > 0 else 0.0
    engaged = _part(per_mention, TOP_ENGAGEMENT_LOG)
    reached = _part(reach, TOP_REACH_LOG)
    score = 100.0 * (W_AUDIENCE * audience + W_ENGAGEMENT * engaged + W_REACH * reached)
    return round(score, 1)

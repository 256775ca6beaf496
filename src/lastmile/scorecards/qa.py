"""QA maths and the automatic first pass's rules: pure functions, no ORM.

The review score is the published Zendesk QA formula:

- each category's score is put on 0-100: ``(score - min) / (max - min) * 100``;
- the review is the mean of those, weighted by the categories' weights;
- but 0 when a critical category is under 50 %.

>>> review_score([Rated(weight=1, low=0, high=4, critical=False, score=3),
...               Rated(weight=3, low=1, high=5, critical=False, score=5)])
93.75
>>> review_score([Rated(weight=5, low=0, high=10, critical=False, score=10),
...               Rated(weight=1, low=0, high=10, critical=True, score=4)])
0.0

The rules read a conversation's messages in order and are deliberately plain (keywords, not
a model), so a reviewer can see why a rule passed and predict what it will say:

- ``answered``: the customer's last message that is not a closing has a reply after it (an
  outbound message with words). A *closing* (``is_closing``) is a thank-you or acknowledgement
  that asks nothing: it has no "?", says one of ``CLOSING`` ("thanks", "thank you",
  "appreciate", "cheers", "great", "perfect", "that's all", "got it", ...) and none of
  ``STILL_OPEN`` ("but", "still", "not", "n't", "where", "when", "why", "how", "what", ...), so
  "Great, really appreciate it." after the answer closes the conversation while "Thanks, but
  it still hasn't arrived." is a question waiting for a reply. A conversation where the
  customer wrote nothing (or only closings) passes: nothing was asked.
- ``next_step``: the last reply names what happens next: one of ``NEXT_STEP`` (a commitment
  as in ``PROMISE``, "next", "by Friday", "by tomorrow", "by 5 December", "within 2 days",
  "in 3-5 working days", "in 24 hours", "you will", "follow up", "let you know", "get back to
  you", "keep you posted"), case-insensitive. No reply fails.
- ``promise_recorded``: when a reply promised something (``PROMISE``: "we will", "we'll",
  "I will", "I'll", "we are going to", "I'm going to", "promise", "guarantee"), at least one
  promise was recorded on the case. No reply that promised: passes.
- ``sentiment``: the customer's last scored message is not more negative than their first:
  ``end >= start - SENTIMENT_TOLERANCE`` on the stored sentiment score (p(positive) -
  p(negative), from ``lastmile.sentiment`` when the message was recorded). Fewer than two
  scored messages: passes (no change to judge).

Each rule scores 1 (passed) or 0 on the automatic scorecard's category of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

CRITICAL_BELOW = Fraction(50)
SENTIMENT_TOLERANCE = 0.1


@dataclass(frozen=True)
class Rated:
    """One category's score with what the formula needs of the category."""

    weight: int
    low: int
    high: int
    critical: bool
    score: int


def category_percent(score: int, low: int, high: int) -> Fraction:
    """``score`` on a category from ``low`` to ``high``, as 0-100 (exact)."""
    if high <= low:
        raise ValueError("a category's max must be above its min")
    if not low <= score <= high:
        raise ValueError(f"score {score} is outside {low}..{high}")
    return Fraction(score - low, high - low) * 100


def review_score(rated: Sequence[Rated]) -> float:
    """The review's score, 0-100 rounded to 2 places: the weighted mean of the categories'
    percentages, or 0 when a critical category is under 50 %."""
    if not rated:
        raise ValueError("a review scores at least one category")
    if any(r.weight <= 0 for r in rated):
        raise ValueError("weights are positive")
    percents = [category_percent(r.score, r.low, r.high) for r in rated]
    if any(r.critical and p < CRITICAL_BELOW for r, p in zip(rated, percents, strict=True)):
        return 0.0
    total = sum((r.weight * p for r, p in zip(rated, percents, strict=True)), Fraction(0))
    return round(float(total / sum(r.weight for r in rated)), 2)


# --- the automatic pass's rules --------------------------------------------------------------

_DAYS = (
    "monday|tuesday|wednesday|thursday|friday|saturday|sunday|tomorrow|today|tonight|"
    r"the end of (?:the )?(?:day|week)|end of (?:the )?(?:day|week)|eod|noon|"
    r"\d{1,2}(?::\d{2})?\s*(?:am|pm)"
)
PROMISE = re.compile(
    r"\b(?:we will|we'll|i will|i'll|we are going to|we're going to|i am going to|"
    r"i'm going to|promise|guarantee)\b",
    re.IGNORECASE,
)
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_DATE = (
    r"\d{1,2}(?:st|nd|rd|th)?(?: of)? (?:" + _MONTHS + r")"
    r"|(?:" + _MONTHS + r") \d{1,2}(?:st|nd|rd|th)?"
    r"|the \d{1,2}(?:st|nd|rd|th)"
    r"|\d{1,2}/\d{1,2}(?:/\d{2,4})?"
)
# "2 days", "3-5 working days", "3 to 5 business days", "24 hours"
_SPAN = (
    r"\d+(?:\s*(?:-|\u2013|\u2014|to)\s*\d+)? (?:working |business )?"
    r"(?:minute|hour|day|week)s?\b"
)
NEXT_STEP = re.compile(
    PROMISE.pattern + r"|\bnext\b|\bby (?:" + _DAYS + r"|" + _DATE + r")\b"
    r"|\b(?:within|in) " + _SPAN + r"|\byou will\b|\byou'll\b|\bfollow(?:-| )?up\b"
    r"|\blet you know\b|\bget back to you\b|\bkeep you (?:posted|updated|informed)\b",
    re.IGNORECASE,
)
CLOSING = re.compile(
    r"\b(?:thanks|thank you|thank u|thx|cheers|appreciated?|great|perfect|brilliant|"
    r"excellent|awesome|lovely|wonderful|fantastic|super|amazing|sorted|all good|"
    r"that'?s all|that is all|that'?s it|that'?s everything|got it|understood|"
    r"much obliged|no worries)\b",
    re.IGNORECASE,
)
STILL_OPEN = re.compile(
    r"\b(?:but|still|not|no longer|never|again|however|although|though|where|when|why|how|"
    r"what|which|who|can|could|would|should|please|need|problem|issue|wrong)\b|n't\b",
    re.IGNORECASE,
)

RULES: dict[str, tuple[str, int, bool]] = {
    # rule: (category name, weight, critical)
    "answered": ("The customer's question was answered", 3, True),
    "next_step": ("The reply named the next step", 2, False),
    "promise_recorded": ("A promise was recorded when the reply promised", 2, False),
    "sentiment": ("Sentiment at the end no worse than at the start", 1, False),
}


@dataclass(frozen=True)
class Message:
    """One message of a conversation: ``inbound`` (the customer's) or not (a reply)."""

    at: datetime
    inbound: bool
    body: str
    sentiment: float | None = None


@dataclass(frozen=True)
class Verdict:
    passed: bool
    reason: str


def _plain(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'")


def named_next_step(text: str) -> bool:
    return NEXT_STEP.search(_plain(text)) is not None


def promised(text: str) -> bool:
    return PROMISE.search(_plain(text)) is not None


def is_closing(text: str) -> bool:
    """A thank-you or acknowledgement that asks nothing (see ``answered`` above)."""
    plain = _plain(text)
    return (
        "?" not in plain and CLOSING.search(plain) is not None and STILL_OPEN.search(plain) is None
    )


def rules_judge(messages: Sequence[Message], *, promises: int) -> dict[str, Verdict]:
    """Each rule's verdict on a conversation (``messages`` in order; ``promises`` recorded
    on its case)."""
    inbound = [m for m in messages if m.inbound]
    replies = [m for m in messages if not m.inbound and m.body.strip()]
    out: dict[str, Verdict] = {}

    asking = [m for m in inbound if not is_closing(m.body)]
    if not asking:
        out["answered"] = Verdict(True, "the customer asked nothing")
    elif replies and replies[-1].at >= asking[-1].at:
        closed = " (then closed with thanks)" if asking[-1] is not inbound[-1] else ""
        out["answered"] = Verdict(True, f"a reply follows the customer's last message{closed}")
    else:
        out["answered"] = Verdict(False, "no reply after the customer's last message")

    if not replies:
        out["next_step"] = Verdict(False, "no reply")
    elif named_next_step(replies[-1].body):
        out["next_step"] = Verdict(True, "the last reply names what happens next")
    else:
        out["next_step"] = Verdict(False, "the last reply names no next step")

    if not any(promised(m.body) for m in replies):
        out["promise_recorded"] = Verdict(True, "no reply promised anything")
    elif promises:
        out["promise_recorded"] = Verdict(True, f"a reply promised; {promises} recorded")
    else:
        out["promise_recorded"] = Verdict(False, "a reply promised but no promise was recorded")

    scored = [m.sentiment for m in inbound if m.sentiment is not None]
    if len(scored) < 2:
        out["sentiment"] = Verdict(True, "fewer than two scored customer messages")
    else:
        start, end = scored[0], scored[-1]
        ok = end >= start - SENTIMENT_TOLERANCE
        word = "no worse" if ok else "worse"
        out["sentiment"] = Verdict(
            ok, f"{word} at the end ({end:+.2f}) than the start ({start:+.2f})"
        )
    return out

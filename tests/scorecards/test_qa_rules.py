"""The automatic first pass's rules, each true and false, on plain messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.scorecards.qa import Message, named_next_step, promised, rules_judge

T = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def conv(*parts, promises=0):  # type: ignore[no-untyped-def]
    """Messages from ("in"|"out", body[, sentiment]) a minute apart; the verdicts."""
    messages = [
        Message(
            at=T + timedelta(minutes=i),
            inbound=p[0] == "in",
            body=p[1],
            sentiment=p[2] if len(p) > 2 else None,
        )
        for i, p in enumerate(parts)
    ]
    return rules_judge(messages, promises=promises)


def test_answered_when_a_reply_follows_the_last_question():
    assert conv(("in", "Where is my order?"), ("out", "It ships today."))["answered"].passed


def test_not_answered_when_the_customer_wrote_last():
    v = conv(("in", "Where is it?"), ("out", "Checking."), ("in", "Any news?"))["answered"]
    assert not v.passed and "no reply" in v.reason


def test_not_answered_when_nobody_replied():
    assert not conv(("in", "Hello?"))["answered"].passed


def test_a_reply_without_words_is_no_answer():
    assert not conv(("in", "Hello?"), ("out", "  "))["answered"].passed


@pytest.mark.parametrize(
    "reply",
    [
        "We will send a new one.",
        "I\u2019ll call you back.",
        "Next, the courier collects it.",
        "It arrives by Friday.",
        "Expect it by tomorrow",
        "You'll get a refund within 3 business days.",
        "I will follow up by 5pm.",
    ],
)
def test_a_reply_naming_the_next_step(reply):
    assert named_next_step(reply)
    assert conv(("in", "Help"), ("out", reply))["next_step"].passed


@pytest.mark.parametrize("reply", ["Sorry about that.", "Thanks for waiting", "Bye now."])
def test_a_reply_naming_no_next_step(reply):
    assert not named_next_step(reply)
    assert not conv(("in", "Help"), ("out", reply))["next_step"].passed


def test_only_the_last_reply_counts_for_the_next_step():
    v = conv(("in", "Help"), ("out", "We will look."), ("out", "Done, sorry."))["next_step"]
    assert not v.passed


def test_no_reply_names_no_next_step():
    assert not conv(("in", "Help"))["next_step"].passed


def test_a_promise_made_and_recorded_passes():
    v = conv(("in", "Refund?"), ("out", "I'll refund it today."), promises=1)
    assert v["promise_recorded"].passed and "1 recorded" in v["promise_recorded"].reason


def test_a_promise_made_but_not_recorded_fails():
    v = conv(("in", "Refund?"), ("out", "We'll refund it."), promises=0)["promise_recorded"]
    assert not v.passed


def test_no_promise_made_nothing_to_record():
    assert promised("We promise.") and not promised("It shipped.")
    v = conv(("in", "Refund?"), ("out", "It shipped yesterday."), promises=0)
    assert v["promise_recorded"].passed


def test_sentiment_that_improved_passes():
    v = conv(("in", "Awful", -0.8), ("out", "Fixed."), ("in", "Great, thanks", 0.9))
    assert v["sentiment"].passed


def test_sentiment_that_worsened_fails():
    v = conv(("in", "Hi", 0.3), ("out", "No."), ("in", "Terrible", -0.7))["sentiment"]
    assert not v.passed and "worse" in v.reason


def test_sentiment_within_the_tolerance_passes():
    v = conv(("in", "Hi", 0.30), ("out", "Ok."), ("in", "Ok", 0.21))["sentiment"]
    assert v.passed


def test_sentiment_with_one_scored_message_passes():
    assert conv(("in", "Hi", -0.9), ("out", "Hello"))["sentiment"].passed


def test_replies_do_not_count_for_sentiment():
    v = conv(("in", "Hi", 0.5), ("out", "x", -1.0), ("in", "ok", 0.5))["sentiment"]
    assert v.passed


def test_a_conversation_where_the_customer_asked_nothing_is_answered():
    assert conv(("out", "Your parcel left the depot."))["answered"].passed


@pytest.mark.parametrize(
    "thanks",
    [
        "Great, really appreciate it.",
        "Thanks!",
        "Thank you so much",
        "Cheers",
        "Perfect, that\u2019s all I needed.",
        "Got it, thanks.",
    ],
)
def test_a_closing_thanks_after_the_answer_leaves_it_answered(thanks):
    v = conv(("in", "When does my card arrive?"), ("out", "On Friday."), ("in", thanks))
    assert v["answered"].passed and "closed with thanks" in v["answered"].reason


@pytest.mark.parametrize(
    "message",
    [
        "Thanks, but it still hasn't arrived.",
        "Great, when will it come?",
        "Thanks. Where is my refund",
        "Perfect is not what I'd call it.",
        "My card never came.",
    ],
)
def test_a_message_that_still_asks_is_no_closing(message):
    v = conv(("in", "When does my card arrive?"), ("out", "On Friday."), ("in", message))
    assert not v["answered"].passed


def test_thanks_do_not_answer_an_unanswered_question():
    v = conv(("in", "Where is my card?"), ("in", "Thanks in advance."))["answered"]
    assert not v.passed


@pytest.mark.parametrize(
    "reply",
    [
        "It should arrive in 3\u20135 working days.",
        "It should arrive in 3-5 business days.",
        "Expect it in 3 to 5 days.",
        "You should hear from the courier in 24 hours.",
        "The refund lands by 5 December.",
        "It will be there by December 5th.",
        "Expect it by the 12th.",
        "It is due by 05/12.",
        "We're checking with the bank and will let you know.",
        "I'll check with the warehouse and get back to you.",
        "The team is on it; we'll keep you posted.",
    ],
)
def test_the_common_forms_of_a_next_step(reply):
    assert named_next_step(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "Your card was sent in 2019.",
        "I can see it in the system.",
        "It is in the post.",
        "Paid by card.",
        "We sent it by email.",
        "Sorry, 3 days is a long wait.",
        "Let me know if you need anything.",
    ],
)
def test_a_reply_that_is_no_next_step_stays_so(reply):
    assert not named_next_step(reply)

"""Recovery's matcher of one stored Segment message agrees with the funnels' reference
(the semantics every engine is property-tested against)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.funnels.definitions import Matcher
from lastmile.recovery.matching import event_matches, money
from tests.funnels import reference
from tests.funnels.strategies import events, matcher


def as_message(e: reference.Event) -> dict:
    name = {"event": e.name} if e.kind == "track" else {"name": e.name}
    return {"type": e.kind, **name, "properties": dict(e.props)}


@settings(max_examples=300, deadline=None)
@given(m=matcher(), evs=events(max_size=6))
def test_a_message_matches_a_step_exactly_when_the_reference_says(m, evs):
    step = Matcher.model_validate(m)
    for e in evs:
        assert event_matches(step, as_message(e)) == reference.matches(step, e)


def test_identify_and_other_calls_never_match():
    step = Matcher.model_validate({"event": "Order Completed"})

    assert not event_matches(step, {"type": "identify", "event": "Order Completed"})
    assert not event_matches(step, None)


@given(st.one_of(st.booleans(), st.none(), st.lists(st.integers()), st.just("abc")))
def test_money_refuses_what_is_not_an_amount(v):
    assert money(v) is None


def test_money_keeps_the_amount_as_written():
    assert str(money(19.99)) == "19.9900"
    assert str(money("134.90")) == "134.9000"
    assert money(float("nan")) is None

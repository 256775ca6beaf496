"""The demo's revenue is plausible: a completed mortgage application earns the product's
arrangement fee, not the loan (which made the front office's revenue recovered some 20
million GBP), and no completing event names more than an installation costs."""

from __future__ import annotations

from datetime import UTC, datetime

from lastmile.demo.funnels import MORTGAGE, MORTGAGE_FEES, QUOTE, SHOP, funnel_messages

NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


def _completions() -> list[dict]:  # type: ignore[type-arg]
    done = {SHOP[-1], MORTGAGE[-1], QUOTE[-1]}
    return [
        m.body
        for m in funnel_messages(seed=7, events=3000, now=NOW)
        if m.body.get("type") == "track" and m.body.get("event") in done
    ]


def test_a_submitted_mortgage_application_earns_its_fee_not_the_loan():
    submitted = [b for b in _completions() if b["event"] == MORTGAGE[-1]]
    assert submitted
    for body in submitted:
        props = body["properties"]
        assert props["revenue"] == MORTGAGE_FEES[props["product"]] < 1_000 < props["value"]


def test_no_completion_earns_more_than_an_installation():
    revenue = [b["properties"].get("revenue", 0) for b in _completions()]
    assert revenue and max(revenue) <= 14_000

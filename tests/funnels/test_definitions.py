"""Funnel definitions refuse bad input and name the field (the API's 422 shows it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from lastmile.funnels.definitions import FunnelDefinition

FROM = datetime(2026, 11, 1, tzinfo=UTC)
TO = datetime(2026, 11, 30, tzinfo=UTC)


def body(**changes):
    out = {
        "steps": [{"event": "Product Added"}, {"event": "Order Completed"}],
        "window_seconds": 86400,
        "mode": "ordered",
        "from": FROM.isoformat(),
        "to": TO.isoformat(),
    }
    out.update(changes)
    return out


def error_at(**changes) -> tuple[tuple, str]:
    with pytest.raises(ValidationError) as caught:
        FunnelDefinition.model_validate(body(**changes))
    [error] = caught.value.errors()
    return error["loc"], error["msg"]


def test_the_issue_example_is_a_valid_funnel():
    d = FunnelDefinition.model_validate(body())
    assert (d.mode, d.window_seconds, d.from_, d.to) == ("ordered", 86400, FROM, TO)
    assert [s.name for s in d.steps] == ["Product Added", "Order Completed"]


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"steps": []}, ("steps",)),
        ({"steps": [{"event": "A"}]}, ("steps",)),
        ({"steps": [{"event": "A"}] * 31}, ("steps",)),
        ({"mode": "sideways"}, ("mode",)),
        ({"window_seconds": 0}, ("window_seconds",)),
        ({"window_seconds": 365 * 86400 + 1}, ("window_seconds",)),
        ({"from": TO.isoformat(), "to": FROM.isoformat()}, ("to",)),
        ({"from": "2026-11-01T00:00:00"}, ("from",)),
        ({"steps": [{"event": "A"}, {"event": "B", "page": "P"}]}, ("steps", 1)),
        ({"steps": [{"event": "A"}, {}]}, ("steps", 1)),
        ({"steps": [{"event": "A", "optional": True}, {"event": "B"}]}, ("steps",)),
        ({"steps": [{"event": "A", "within_seconds": 5}, {"event": "B"}]}, ("steps",)),
        (
            {"steps": [{"event": "A"}, {"event": "B", "within_seconds": 0}]},
            ("steps", 1, "within_seconds"),
        ),
        (
            {"steps": [{"event": "A"}, {"event": "B", "within_seconds": 5, "min_gap_seconds": 6}]},
            ("steps", 1),
        ),
        (
            {
                "steps": [
                    {"event": "A"},
                    {"event": "B", "where": [{"property": "p", "op": "near", "value": 1}]},
                ]
            },
            ("steps", 1, "where", 0, "op"),
        ),
        (
            {
                "steps": [
                    {"event": "A"},
                    {"event": "B", "where": [{"property": "p", "op": "gt", "value": "x"}]},
                ]
            },
            ("steps", 1, "where", 0),
        ),
        (
            {
                "steps": [
                    {"event": "A"},
                    {"event": "B", "where": [{"property": 'a"b', "op": "is_set"}]},
                ]
            },
            ("steps", 1, "where", 0, "property"),
        ),
        (
            {"mode": "unordered", "steps": [{"event": "A"}, {"event": "B", "within_seconds": 5}]},
            ("steps",),
        ),
        ({"mode": "unordered", "exclusions": [{"event": "X"}]}, ("exclusions",)),
        ({"exclusions": [{"event": "X", "from_step": 2, "to_step": 2}]}, ("exclusions",)),
        ({"exclusions": [{"event": "X", "to_step": 3}]}, ("exclusions",)),
        ({"steps": [{"event": "A"}, {"event": "B"}], "colour": "red"}, ("colour",)),
    ],
)
def test_bad_input_is_refused_naming_the_field(changes, loc):
    got, msg = error_at(**changes)
    assert got == loc, msg


def test_an_error_in_a_model_rule_says_which_field_it_is_about():
    _, msg = error_at(
        steps=[{"event": "A"}, {"event": "B", "within_seconds": 5, "min_gap_seconds": 6}]
    )
    assert "min_gap_seconds" in msg
    _, msg = error_at(
        steps=[
            {"event": "A"},
            {"event": "B", "where": [{"property": "p", "op": "gt", "value": "x"}]},
        ]
    )
    assert msg.startswith("Value error, value:")


def test_optional_steps_chain_back_to_the_last_required_step():
    d = FunnelDefinition.model_validate(
        body(
            steps=[
                {"event": "A"},
                {"event": "B", "optional": True},
                {"event": "C", "optional": True},
                {"event": "D"},
            ]
        )
    )
    assert d.predecessors(3) == [2, 1, 0]
    assert d.required_before(3) == 0
    assert d.predecessors(1) == [0]


def test_a_breakdown_is_one_property_or_a_first_touch_source_channel_or_team():
    d = FunnelDefinition.model_validate(body(breakdown={"property": "plan"}))
    assert d.breakdown is not None and d.breakdown.property == "plan"
    for touch in ("source", "channel", "team"):
        d = FunnelDefinition.model_validate(body(breakdown={"first_touch": touch}))
        assert d.breakdown is not None and d.breakdown.first_touch == touch
    assert error_at(breakdown={})[0] == ("breakdown",)
    assert error_at(breakdown={"property": "a", "first_touch": "source"})[0] == ("breakdown",)
    assert error_at(breakdown={"first_touch": "campaign"})[0][:2] == ("breakdown", "first_touch")

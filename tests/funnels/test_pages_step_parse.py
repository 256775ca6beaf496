"""The ad hoc page's step lines: what a line says is the step the engine is asked."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from lastmile.funnels.definitions import Step
from lastmile.funnels.forms import step_line, step_parse

names = (
    st.text(st.sampled_from("abcdefghij_ XYZ"), min_size=1, max_size=12).map(str.strip).filter(bool)
)
values = st.one_of(
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.text(st.sampled_from("abc xyz-.:0123456789"), max_size=10),
)
filters = st.one_of(
    st.builds(lambda p: {"property": p, "op": "is_set"}, names),
    st.builds(
        lambda p, op, v: {"property": p, "op": op, "value": v},
        names,
        st.sampled_from(["equals", "not_equals"]),
        values,
    ),
    st.builds(
        lambda p, op, v: {"property": p, "op": op, "value": v},
        names,
        st.sampled_from(["gt", "lt"]),
        st.integers(-(10**6), 10**6),
    ),
    st.builds(
        lambda p, v: {"property": p, "op": "contains", "value": v},
        names,
        st.text(st.sampled_from("abc xyz"), min_size=1, max_size=8).map(str.strip).filter(bool),
    ),
)
SYMBOL = {"equals": "=", "not_equals": "!=", "contains": "~", "gt": ">", "lt": "<"}


def line_of(kind: str, name: str, where: list[dict]) -> str:
    head = name if kind == "event" else f"{kind}: {name}"
    parts = [head]
    for f in where:
        if f["op"] == "is_set":
            parts.append(f"{f['property']} is set")
            continue
        v = f["value"]
        text = json.dumps(v) if isinstance(v, bool | str) else str(v)
        parts.append(f"{f['property']} {SYMBOL[f['op']]} {text}")
    return " | ".join(parts)


@given(st.sampled_from(["event", "page", "screen"]), names, st.lists(filters, max_size=3))
def test_a_written_step_reads_back_as_itself(kind, name, where):
    step = step_parse(line_of(kind, name, where))

    expected = {kind: name, **({"where": where} if where else {})}
    assert step == expected
    Step.model_validate(step)  # and the engine's definition takes it


@given(st.sampled_from(["event", "page", "screen"]), names, st.lists(filters, max_size=3))
def test_a_stored_step_is_written_as_the_line_that_reads_back_as_it(kind, name, where):
    step = {kind: name, **({"where": where} if where else {})}

    line = step_line(step)

    assert line is not None and step_parse(line) == step


def test_a_step_no_line_can_say_has_no_line():
    assert step_line({"event": "Paid", "optional": True}) is None
    assert step_line({"event": "Paid", "within_seconds": 60}) is None
    assert step_line({"event": "A | B"}) is None
    assert step_line({"event": "Paid", "where": [{"property": "a=b", "op": "is_set"}]}) is None

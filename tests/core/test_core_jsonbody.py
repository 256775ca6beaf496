from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastmile.core.jsonbody import MAX_DEPTH, JsonBodyError, json_load


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_at_the_limit_is_accepted():
    assert json_load(nested(MAX_DEPTH)) is not None


def test_nesting_past_the_limit_is_refused_with_the_reason():
    with pytest.raises(JsonBodyError, match=f"deeper than {MAX_DEPTH}"):
        json_load(nested(MAX_DEPTH + 1))


def test_nesting_past_the_interpreters_recursion_limit_is_refused_not_raised():
    with pytest.raises(JsonBodyError, match="deeper than"):
        json_load(nested(100_000))


def test_deep_objects_count_like_arrays():
    doc = '{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)
    with pytest.raises(JsonBodyError, match="deeper than"):
        json_load(doc)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": "x\\u0000"}', "NUL"),
        ('{"x\\u0000": 1}', "NUL"),
        ('["\\ud800"]', "lone surrogate"),
        ("{", "not valid JSON"),
        (b"\xff\xfe", "not"),
    ],
)
def test_what_a_database_cannot_store_is_refused(raw, reason):
    with pytest.raises(JsonBodyError, match=reason):
        json_load(raw)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(max_size=5).filter(
                lambda k: "\x00" not in k and all(not 0xD800 <= ord(c) <= 0xDFFF for c in k)
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_storable_json_round_trips(value):
    assert json_load(json.dumps(value)) == value

"""The terms an agent types: parsed into typed values, written back, and refused when bad."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastmile.core.errors import InvalidInput
from lastmile.promises.terms import terms_format, terms_parse, terms_validate


@pytest.mark.parametrize(
    ("typed", "terms"),
    [
        (
            "adults=4, extra_beds=2, room_type=deluxe",
            {"adults": 4, "extra_beds": 2, "room_type": "deluxe"},
        ),
        ("refund_amount=2999.50, currency=INR", {"refund_amount": 2999.5, "currency": "INR"}),
        ("Extra beds = 2\nLate-checkout: 14:00", {"extra_beds": 2, "late_checkout": "14:00"}),
        (
            'note="late delivery, 3 days", breakfast=true',
            {"note": "late delivery, 3 days", "breakfast": True},
        ),
        ('code="4"', {"code": "4"}),
        ('quote="she said \\"yes\\""', {"quote": 'she said "yes"'}),
        ("adults=-1", {"adults": -1}),
        ("", {}),
        ("  ,  ,", {}),
        ('{"adults": 4, "extras": ["cot"]}', {"adults": 4, "extras": ["cot"]}),
    ],
)
def test_what_an_agent_types_becomes_typed_terms(typed, terms):
    assert terms_parse(typed) == terms


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("adults", "needs a value"),
        ("adults=", "has no value"),
        ("adults=4, adults=5", "given twice"),
        ("4x=1", "not a term name"),
        ('note="unclosed', "not closed"),
        ('note="a" b', "after the closing quote"),
        ("[1, 2]", "needs a value"),
        ('{"adults": }', "not valid JSON"),
        ("[1]", "needs a value"),
        ('{"adults": NaN}', "finite"),
        ("n=1e999", "finite"),
    ],
)
def test_malformed_terms_say_what_is_wrong(typed, reason):
    with pytest.raises(InvalidInput) as exc:
        terms_parse(typed)
    assert reason in exc.value.errors[0].reason


def test_terms_must_be_an_object_of_simple_values():
    with pytest.raises(InvalidInput):
        terms_validate([("adults", 4)])
    with pytest.raises(InvalidInput):
        terms_validate({"a": {"b": {"c": {"d": 1}}}})
    with pytest.raises(InvalidInput):
        terms_validate({"a": 2**64})
    with pytest.raises(InvalidInput):
        terms_validate({f"k{i}": i for i in range(41)})


keys = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", max_size=20),
)
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40)
values = st.one_of(
    st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    texts,
)


@given(st.dictionaries(keys, values, max_size=8))
def test_written_terms_read_back_the_same(terms):
    assert terms_parse(terms_format(terms)) == terms


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_never_crashes(typed):
    with contextlib.suppress(InvalidInput):
        terms_parse(typed)

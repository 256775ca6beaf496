"""Watch-term queries: the grammar, printing, matching (hypothesis over generated trees)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.listening.query import (
    And,
    Matcher,
    Not,
    Or,
    QueryError,
    Term,
    Text,
    evaluate,
    matches,
    parse,
    to_text,
)

# --- generated trees ---------------------------------------------------------------------------

WORDS = ["card", "bank", "acme", "and", "or", "not", "refund", "app", "down", "late"]
# Tokens as the tokenizer produces them: lower case, maybe a leading @ or #.
token = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: "@" + w),
    st.sampled_from(WORDS).map(lambda w: "#" + w),
    st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True),
)
term = st.lists(token, min_size=1, max_size=3).map(lambda ts: Term(tuple(ts)))


def _normal(q):
    """The normal form parse() produces: nested AND/OR of one kind flattened."""
    if isinstance(q, Term):
        return q
    if isinstance(q, Not):
        return Not(_normal(q.child))
    kind = type(q)
    out = []
    for c in q.children:
        c = _normal(c)
        out.extend(c.children if isinstance(c, kind) else [c])
    return kind(tuple(out))


queries = st.recursive(
    term,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=4).map(lambda cs: And(tuple(cs))),
        st.lists(inner, min_size=2, max_size=4).map(lambda cs: Or(tuple(cs))),
    ),
    max_leaves=12,
)
texts = st.lists(
    st.one_of(token, st.sampled_from(["Card", "BANK", "Acme", "the", "is", "!", ",", "@Acme"])),
    max_size=12,
).map(" ".join)


def _reference(q, text: Text) -> bool:
    """Matching written out longhand, independently of query.matches."""
    if isinstance(q, Term):
        seq = text.seq
        n = len(q.tokens)

        def same(a: str, b: str) -> bool:
            return a == b or (a[0] not in "@#" and b[0] in "@#" and b[1:] == a)

        return any(
            all(same(q.tokens[j], seq[i + j]) for j in range(n)) for i in range(len(seq) - n + 1)
        )
    if isinstance(q, Not):
        return not _reference(q.child, text)
    if isinstance(q, And):
        return all(_reference(c, text) for c in q.children)
    return any(_reference(c, text) for c in q.children)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(queries)
def test_a_printed_query_parses_back_to_the_same_tree(q):
    assert parse(to_text(q)) == _normal(q)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(queries, texts)
def test_a_printed_query_matches_exactly_what_the_tree_matches(q, text):
    prepared = Text(text)
    assert matches(parse(to_text(q)), prepared) == _reference(q, prepared)


@settings(max_examples=200)
@given(queries, texts)
def test_not_is_the_complement_and_de_morgan_holds(q, text):
    prepared = Text(text)
    assert matches(Not(q), prepared) is (not matches(q, prepared))
    a, b = q, Not(q)
    assert matches(Not(And((a, b))), prepared) == matches(Or((Not(a), Not(b))), prepared)


# --- the grammar, by example -------------------------------------------------------------------


def test_not_binds_tighter_than_and_which_binds_tighter_than_or():
    assert parse("a OR b AND NOT c") == Or((Term(("a",)), And((Term(("b",)), Not(Term(("c",)))))))


def test_adjacent_terms_are_an_implicit_and():
    assert parse("acme card declined") == parse("acme AND card AND declined")


def test_parentheses_group():
    assert parse("(a OR b) c") == And((Or((Term(("a",)), Term(("b",)))), Term(("c",))))


def test_a_quoted_phrase_is_one_term_of_several_tokens():
    assert parse('"Acme Bank" OR x') == Or((Term(("acme", "bank")), Term(("x",))))


def test_operators_are_capitals_only_lower_case_and_is_a_word():
    assert parse("rock and roll") == And((Term(("rock",)), Term(("and",)), Term(("roll",))))


def test_a_word_beginning_with_an_operator_is_a_word():
    assert parse("ORANGE OR ANDROID") == Or((Term(("orange",)), Term(("android",))))


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a OR", "ends too early"),
        ("NOT", "ends too early"),
        ("(a OR b", "'(' is not closed"),
        ("a ) b", "unexpected ')'"),
        ("a AND OR b", "unexpected 'OR'"),
        ('"acme bank', "quoted phrase is not closed"),
        ('""', "no letters or digits"),
        ("!!!", "no letters or digits"),
    ],
)
def test_a_bad_query_is_refused_with_the_reason(text, reason):
    with pytest.raises(QueryError) as exc:
        parse(text)
    assert reason in str(exc.value)


def test_the_error_points_at_the_column():
    with pytest.raises(QueryError) as exc:
        parse("acme AND AND bank")
    assert exc.value.column == 10


def test_deep_nesting_is_refused_not_a_recursion_error():
    with pytest.raises(QueryError, match="nested deeper"):
        parse("(" * 200 + "a" + ")" * 200)


# --- matching ----------------------------------------------------------------------------------


def test_a_plain_word_matches_the_handle_and_the_hashtag():
    assert evaluate("acmebank", "hey @AcmeBank")
    assert evaluate("acmebank", "#AcmeBank is down")


def test_a_handle_matches_only_the_handle():
    assert evaluate("@acmebank", "hey @AcmeBank")
    assert not evaluate("@acmebank", "acmebank is down")


def test_a_phrase_needs_its_words_in_a_row():
    assert evaluate('"acme bank"', "I love Acme Bank!")
    assert not evaluate('"acme bank"', "the bank of acme")


def test_matching_ignores_case_apostrophes_and_possessives():
    assert evaluate("dont", "I DON'T care")
    assert evaluate('"northwind bank"', "Northwind Bank's rates")
    assert evaluate('"can\'t pay"', "cant pay again")


def test_not_excludes():
    q = '"acme bank" AND NOT (job OR jobs)'
    assert evaluate(q, "acme bank ruined my day")
    assert not evaluate(q, "acme bank jobs fair")


def test_a_matcher_gives_the_keys_of_every_query_that_matches():
    m = Matcher.of([(1, "@acme"), (2, "card AND declined"), (3, "northwind")])
    assert m.match("@Acme my card got declined") == [1, 2]
    assert m.match("northwind is fine") == [3]

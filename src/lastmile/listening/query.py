"""Watch-term queries: boolean expressions over the words of a post, parsed by a grammar.

Syntax (operators in capitals; a lower-case "and" is a word)::

    @AcmeBank OR ("acme bank" AND NOT (job OR jobs)) OR #acmefail
    acme card declined          # adjacent terms: all of them (an implicit AND)

Precedence, tightest first: ``NOT``, ``AND`` (or juxtaposition), ``OR``; parentheses group.
A term is a word or a "quoted phrase". Both are cut into tokens the way post texts are
(:func:`tokens`): letters and digits, with an optional leading ``@`` or ``#``, case folded.

Matching: a plain word matches that word anywhere in the post, with or without a leading
``@`` or ``#`` (``acmebank`` matches ``@AcmeBank`` and ``#acmebank``); a word written with
``@`` or ``#`` matches only that form. A phrase matches its tokens in a row. A word that
cuts into several tokens (``co-op``, ``e.on``) is a phrase of them.

The grammar is LALR(1) (lark); :func:`parse` raises :class:`QueryError` with the column of
the problem, :func:`to_text` prints a query back (``parse(to_text(q)) == q`` for every
query ``q`` in normal form), :func:`evaluate` and :class:`Matcher` apply one to a text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

MAX_QUERY = 2000
MAX_DEPTH = 50

# --- the tree --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """A word (one token) or a phrase (several tokens, in a row)."""

    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Not:
    child: Query


@dataclass(frozen=True)
class And:
    children: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Query, ...]


Query = Union[Term, Not, And, Or]  # noqa: UP007 - a runtime alias the dataclasses refer to


class QueryError(ValueError):
    """A query that does not parse; ``column`` (1-based) points at the problem, if known."""

    def __init__(self, reason: str, column: int | None = None) -> None:
        where = f" (column {column})" if column is not None else ""
        super().__init__(f"{reason}{where}")
        self.reason = reason
        self.column = column


# --- tokens ----------------------------------------------------------------------------------

# Letters and digits (and _), with an optional leading @ or #, apostrophes inside; a query
# word and a post word are cut the same way.
_TOKEN = re.compile(r"[@#]?[^\W_]+(?:['’][^\W_]+)*|[@#]?_\w*", re.UNICODE)
_APOSTROPHES = re.compile(r"['’]")


_POSSESSIVE = re.compile(r"['’]s$")


def tokens(text: str) -> list[str]:
    """The tokens of a text, in order: case folded, NFKC-normalised, a possessive 's cut
    ("bank's" is "bank"), other apostrophes dropped ("don't" is "dont")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return [_APOSTROPHES.sub("", _POSSESSIVE.sub("", t)) for t in _TOKEN.findall(text)]


# --- the grammar -----------------------------------------------------------------------------

GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND? not_expr)*
?not_expr: NOT not_expr -> not_
         | atom
?atom: WORD -> word
     | PHRASE -> phrase
     | "(" or_expr ")"

OR: "OR"
AND: "AND"
NOT: "NOT"
PHRASE: /"[^"]*"/
WORD: /[^\s()"]+/

%import common.WS
%ignore WS
"""
# lark checks the keyword literals against a WORD match ("ORANGE" stays a word, "OR" is
# the operator), so the operators need no lookahead tricks.


@v_args(inline=True)
class _Build(Transformer):
    def word(self, tok: Token) -> Term:
        return _term(str(tok), tok)

    def phrase(self, tok: Token) -> Term:
        return _term(str(tok)[1:-1], tok)

    def not_(self, _op: Token, child: Query) -> Query:
        return Not(child)

    def and_expr(self, *items: Query | Token) -> Query:
        return _flat(And, [i for i in items if not isinstance(i, Token)])

    def or_expr(self, *items: Query | Token) -> Query:
        return _flat(Or, [i for i in items if not isinstance(i, Token)])


def _term(text: str, tok: Token) -> Term:
    toks = tuple(tokens(text))
    if not toks:
        raise QueryError(f"{text!r} has no letters or digits to match", tok.column)
    return Term(toks)


def _flat(kind: type[And] | type[Or], items: list[Query]) -> Query:
    out: list[Query] = []
    for item in items:
        if isinstance(item, kind):
            out.extend(item.children)
        else:
            out.append(item)
    return out[0] if len(out) == 1 else kind(tuple(out))


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # The basic lexer: an operator is an operator wherever it stands ("a AND OR b" is an
    # error, not a search for the word "or"); the contextual one would read it as a word.
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


def parse(text: str) -> Query:
    """The query tree of ``text``, in normal form (nested AND/OR of one kind flattened)."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("the query is empty")
    if len(text) > MAX_QUERY:
        raise QueryError(f"the query is longer than {MAX_QUERY} characters")
    if _nesting(text) > MAX_DEPTH:
        raise QueryError(f"parentheses nested deeper than {MAX_DEPTH}")
    try:
        tree = _parser().parse(text)
        return _Build().transform(tree)  # type: ignore[no-any-return]
    except UnexpectedEOF:
        raise QueryError(_early_end(text)) from None
    except UnexpectedCharacters as exc:
        char = text[exc.pos_in_stream] if exc.pos_in_stream is not None else "?"
        if char == '"':
            raise QueryError("a quoted phrase is not closed", exc.column) from None
        raise QueryError(f"unexpected {char!r}", exc.column) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            raise QueryError(_early_end(text)) from None
        raise QueryError(f"unexpected {str(tok)!r}", tok.column) from None
    except LarkError as exc:
        # A QueryError raised inside the transformer arrives wrapped (VisitError).
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, QueryError):
            raise inner from None
        raise QueryError(str(exc)) from None


def _early_end(text: str) -> str:
    if _balance(text) > 0:
        return "a '(' is not closed"
    return "the query ends too early (an operator without its term)"


def _balance(text: str) -> int:
    depth = 0
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted:
            depth += (ch == "(") - (ch == ")")
    return depth


def _nesting(text: str) -> int:
    depth = deepest = 0
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif not quoted and ch == ")":
            depth -= 1
    return deepest


# --- printing --------------------------------------------------------------------------------

_OPERATORS = {"and", "or", "not"}


def _term_text(term: Term) -> str:
    if len(term.tokens) == 1:
        word = term.tokens[0]
        # A bare word that reads as an operator is quoted; tokens never contain the
        # characters the grammar treats specially, so nothing else needs quoting.
        return f'"{word}"' if word in _OPERATORS else word
    return '"' + " ".join(term.tokens) + '"'


def to_text(query: Query) -> str:
    """The query as text that parses back to the same tree (with only needed parentheses)."""
    if isinstance(query, Term):
        return _term_text(query)
    if isinstance(query, Not):
        inner = to_text(query.child)
        return f"NOT ({inner})" if isinstance(query.child, And | Or) else f"NOT {inner}"
    if isinstance(query, And):
        return " AND ".join(
            f"({to_text(c)})" if isinstance(c, Or | And) else to_text(c) for c in query.children
        )
    return " OR ".join(
        f"({to_text(c)})" if isinstance(c, Or) else to_text(c) for c in query.children
    )


# --- matching --------------------------------------------------------------------------------


class Text:
    """A post's tokens, prepared once and matched against many queries."""

    __slots__ = ("seq", "words")

    def __init__(self, text: str) -> None:
        self.seq = tokens(text)
        words = set(self.seq)
        words.update(t[1:] for t in self.seq if t[0] in "@#")
        self.words = words


def _same(query_token: str, text_token: str) -> bool:
    return query_token == text_token or (
        query_token[0] not in "@#" and text_token[0] in "@#" and text_token[1:] == query_token
    )


def _has_term(term: Term, text: Text) -> bool:
    toks = term.tokens
    if len(toks) == 1:
        return toks[0] in text.words
    if any(t not in text.words for t in toks):
        return False
    seq, n = text.seq, len(toks)
    starts = range(len(seq) - n + 1)
    return any(all(_same(toks[j], seq[i + j]) for j in range(n)) for i in starts)


def matches(query: Query, text: Text) -> bool:
    """Does the prepared text satisfy the query?"""
    if isinstance(query, Term):
        return _has_term(query, text)
    if isinstance(query, Not):
        return not matches(query.child, text)
    if isinstance(query, And):
        return all(matches(c, text) for c in query.children)
    return any(matches(c, text) for c in query.children)


def evaluate(query: Query | str, text: str) -> bool:
    """Does ``text`` satisfy ``query`` (a tree or query text)?"""
    return matches(parse(query) if isinstance(query, str) else query, Text(text))


@dataclass(frozen=True)
class Matcher:
    """Several named queries, parsed once, applied to many texts: ``match(text)`` gives the keys."""

    queries: tuple[tuple[int, Query], ...]

    @classmethod
    def of(cls, pairs: list[tuple[int, str]]) -> Matcher:
        return cls(tuple((key, parse(text)) for key, text in pairs))

    def match(self, text: str) -> list[int]:
        prepared = Text(text)
        return [key for key, q in self.queries if matches(q, prepared)]

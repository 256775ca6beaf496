"""Decoding request bodies that every database can store and every handler can walk.

One function for the API, the signed webhooks and any other JSON edge: it refuses what
Python's ``json`` accepts but the rest of the stack cannot take — NaN and Infinity, NUL
characters and lone surrogates (PostgreSQL refuses both), and nesting so deep that a
recursive walk of it raises ``RecursionError`` (a 500) instead of a clear 400.
"""

from __future__ import annotations

import json
from typing import Any

# Deeper than any payload lastmile documents (a Segment message's properties, a journey
# template) and far below the interpreter's recursion limit.
MAX_DEPTH = 32


class JsonBodyError(ValueError):
    """The body is not JSON lastmile accepts; ``reason`` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _no_constants(name: str) -> Any:
    raise JsonBodyError(f"{name} is not a JSON number")


def json_check(data: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonBodyError for text no database stores or nesting deeper than ``max_depth``.

    Iterative, so a hostile document cannot exhaust the stack here either.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise JsonBodyError(f"nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                for k, v in value.items():
                    _check_text(k)
                    stack.append((v, depth + 1))
            else:
                stack.extend((v, depth + 1) for v in value)


def _check_text(value: str) -> None:
    if "\x00" in value:
        raise JsonBodyError("text contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonBodyError("text contains a lone surrogate") from None


def json_load(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The decoded document, or JsonBodyError saying what is wrong with it."""
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except JsonBodyError:
        raise
    except RecursionError:
        raise JsonBodyError(f"nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError:
        raise JsonBodyError("the body is not UTF-8") from None
    except ValueError as exc:
        raise JsonBodyError(f"not valid JSON: {exc}") from None
    json_check(data, max_depth=max_depth)
    return data

"""Policies' rules in CEL (Common Expression Language), through cel-python — never ``eval``.

An expression is compiled once per distinct text (policy versions are immutable, so their
text is a sound cache key) and evaluated against plain JSON values. Evaluation answers
true, false or an error with its reason: a missing key, a type mismatch, a division by
zero or a result that is not a boolean is an *error*, which the caller must never read as
a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import celpy

MAX_EXPRESSION = 2000


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    """cel-python and its Lark parser, built on the first expression instead of at import:
    every process imports this module at startup (the services and the admin do), few
    compile an expression."""
    import celpy

    return celpy.Environment()


@lru_cache(maxsize=1024)
def _program(expression: str) -> celpy.Runner:
    env = _environment()
    return env.program(env.compile(expression))


def _first_line(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return " ".join(text.split())[:300] or type(exc).__name__


def cel_compile_error(expression: str) -> str | None:
    """Why ``expression`` does not compile, or None when it does."""
    if not expression.strip():
        return "an expression is required"
    if len(expression) > MAX_EXPRESSION:
        return f"at most {MAX_EXPRESSION} characters"
    try:
        _program(expression)
    except Exception as exc:  # celpy raises parser errors of several lark types
        return f"does not compile: {_first_line(exc)}"
    return None


@dataclass(frozen=True)
class CelResult:
    """True or False, or ``value`` None with the ``error`` that stopped the evaluation."""

    value: bool | None
    error: str = ""


def cel_evaluate(expression: str, variables: dict[str, Any]) -> CelResult:
    """Evaluate a boolean expression over JSON ``variables`` (e.g. ``terms``, ``customer``)."""
    try:
        program = _program(expression)
    except Exception as exc:
        return CelResult(None, f"does not compile: {_first_line(exc)}")
    import celpy
    from celpy import celtypes
    from celpy.evaluation import CELEvalError

    try:
        activation = {name: celpy.json_to_cel(value) for name, value in variables.items()}
        result = program.evaluate(activation)
    except CELEvalError as exc:
        return CelResult(None, _first_line(exc))
    except Exception as exc:  # a bug or a pathological value in the library: still an error
        return CelResult(None, f"{type(exc).__name__}: {_first_line(exc)}")
    if isinstance(result, CELEvalError):
        return CelResult(None, _first_line(result))
    if not isinstance(result, celtypes.BoolType):
        return CelResult(
            None,
            f"gave {type(result).__name__.removesuffix('Type').lower()} {result!s}, "
            "not true or false",
        )
    return CelResult(bool(result))

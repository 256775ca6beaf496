"""A promise's structured terms: what an agent types, parsed into typed values, and checked.

Agents type terms fast, as ``key=value`` pairs separated by commas or new lines::

    adults=4, extra_beds=2, room_type=deluxe
    refund_amount=2999.50, currency=INR, reason="late delivery, 3 days"

Values become integers (``4``), decimals (``2999.5``, a CEL double), ``true``/``false``, or
text; a value in double quotes is always text (``"4"``, with ``\\"`` and ``\\\\`` escapes).
Keys are normalised (``Extra beds`` → ``extra_beds``) so policies can name them as
``terms.extra_beds``. A JSON object (starting with ``{``) is accepted as it is.

Money as a decimal term is a CEL double: a policy that compares it should say so
(``double(terms.refund_amount) <= 5000.0``), since CEL does not compare an int with a double.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from lastmile.core.errors import FieldError, InvalidInput

KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
INT = re.compile(r"^[+-]?\d+$")
NUMBER = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
MAX_TERMS = 40
MAX_TEXT = 500
MAX_JSON = 4000
MAX_INT = 2**63 - 1


def _bad(reason: str, field: str = "terms") -> InvalidInput:
    return InvalidInput(f"terms: {reason}", [FieldError(field, reason)])


def terms_validate(terms: Any) -> dict[str, Any]:
    """Terms as stored: an object of at most 40 named values, JSON a policy can read.

    Keys are identifiers (``room_type``); values are text, whole or finite decimal numbers,
    booleans, null, or lists/objects of those. InvalidInput names the bad key.
    """
    if not isinstance(terms, dict):
        raise _bad('must be an object, e.g. {"adults": 2}')
    if len(terms) > MAX_TERMS:
        raise _bad(f"at most {MAX_TERMS} terms")
    for key, value in terms.items():
        if not isinstance(key, str) or not KEY.match(key):
            raise _bad(
                f"{key!r} is not a term name (letters, digits and _, starting with a letter)",
                f"terms.{key}",
            )
        _check_value(value, f"terms.{key}", depth=0)
    if len(json.dumps(terms)) > MAX_JSON:
        raise _bad(f"at most {MAX_JSON} characters as JSON")
    return dict(terms)


def _check_value(value: Any, field: str, *, depth: int) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise _bad("number too large", field)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad("number must be finite", field)
        return
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise _bad(f"text longer than {MAX_TEXT} characters", field)
        return
    if depth >= 2:
        raise _bad("nested too deeply", field)
    if isinstance(value, list):
        for i, v in enumerate(value):
            _check_value(v, f"{field}[{i}]", depth=depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise _bad("object keys must be text", field)
            _check_value(v, f"{field}.{k}", depth=depth + 1)
        return
    raise _bad(f"unsupported value {value!r}", field)


def _key(raw: str) -> str:
    return re.sub(r"[\s-]+", "_", raw.strip()).lower()


def _value(raw: str, key: str) -> Any:
    text = raw.strip()
    if not text:
        raise _bad(f"{key} has no value", f"terms.{key}")
    if text.startswith('"'):
        return _unquote(text, key)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if INT.match(text):
        number = int(text)
        if abs(number) > MAX_INT:
            raise _bad("number too large", f"terms.{key}")
        return number
    if NUMBER.match(text):
        number_f = float(text)
        if not math.isfinite(number_f):
            raise _bad("number must be finite", f"terms.{key}")
        return number_f
    return text


def _unquote(text: str, key: str) -> str:
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            if text[i + 1 :].strip():
                raise _bad(f"{key}: text after the closing quote", f"terms.{key}")
            return "".join(out)
        out.append(ch)
        i += 1
    raise _bad(f"{key}: the quote is not closed", f"terms.{key}")


def _split(text: str) -> list[str]:
    """Split on commas and new lines outside double quotes."""
    parts, current, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text):
            current.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if not quoted and ch in ",\n;":
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def terms_parse(text: str) -> dict[str, Any]:
    """Typed terms from what an agent typed; empty text is no terms. InvalidInput if malformed."""
    text = (text or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad(f"not valid JSON ({exc.msg} at character {exc.pos + 1})") from None
        return terms_validate(data)
    terms: dict[str, Any] = {}
    for part in _split(text):
        if not part.strip():
            continue
        match = re.search(r"[=:]", part)
        if match is None:
            raise _bad(f"{part.strip()!r} needs a value: write key=value")
        key = _key(part[: match.start()])
        if not KEY.match(key):
            raise _bad(f"{part[: match.start()].strip()!r} is not a term name")
        if key in terms:
            raise _bad(f"{key} is given twice", f"terms.{key}")
        terms[key] = _value(part[match.end() :], key)
    return terms_validate(terms)


def _plain(value: str) -> bool:
    """Whether text can be written unquoted and read back as the same text."""
    return (
        value == value.strip()
        and value != ""
        and not any(ch in value for ch in ',;\n"=:\\')
        and value.lower() not in ("true", "false")
        and not NUMBER.match(value)
        and not value.startswith("{")
    )


def terms_format(terms: dict[str, Any]) -> str:
    """The terms as an agent would type them; ``terms_parse`` reads them back unchanged.

    Lists, objects, null and keys that are not lower case have no typed form, so such
    terms are written as JSON.
    """
    if any(isinstance(v, list | dict) or v is None for v in terms.values()) or any(
        k != _key(k) for k in terms
    ):
        return json.dumps(terms, ensure_ascii=False)
    parts = []
    for key, value in terms.items():
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, int | float):
            shown = repr(value)
        elif _plain(value):
            shown = value
        else:
            shown = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{key}={shown}")
    return ", ".join(parts)

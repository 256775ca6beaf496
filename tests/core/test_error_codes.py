"""Every error code is a member of ``ErrorCode``: a typo at a raise site cannot invent a code,
and the API schema lists every code a client may see."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from lastmile.core.errors import Conflict, DomainError, ErrorCode

SRC = Path(__file__).resolve().parents[2] / "src" / "lastmile"
# Callables taking the code as a positional argument: (name, index of the code).
POSITIONAL_CODE = {"error_response": 1, "_error": 1, "SignatureError": 0}


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_text(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def literal_codes(source: str, filename: str = "<src>") -> list[str]:
    """Where ``source`` spells an error code as a string instead of an ``ErrorCode``: a
    ``code="..."`` argument or default, a ``{"code": "..."}`` body, or the code argument of
    ``error_response`` and the like."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call):
            found += [
                f"{where} code={kw.value.value!r}"
                for kw in node.keywords
                if kw.arg == "code" and _is_text(kw.value)
            ]
            index = POSITIONAL_CODE.get(_callee(node))
            if index is not None and len(node.args) > index and _is_text(node.args[index]):
                found.append(f"{where} {_callee(node)}(..., {node.args[index].value!r})")
        elif isinstance(node, ast.Dict):
            found += [
                f"{where} {{'code': {value.value!r}}}"
                for key, value in zip(node.keys, node.values, strict=True)
                if _is_text(key) and key.value == "code" and _is_text(value)
            ]
        elif isinstance(node, ast.arguments):
            args = node.posonlyargs + node.args
            pairs = list(zip(args[len(args) - len(node.defaults) :], node.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(node.kwonlyargs, node.kw_defaults, strict=True) if d]
            found += [
                f"{where} default code={d.value!r}"
                for a, d in pairs
                if a.arg == "code" and _is_text(d)
            ]
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if "code" in names and _is_text(node.value):
                found.append(f"{where} code = {node.value.value!r}")
    return found


def test_no_error_code_is_spelled_as_a_string_in_the_source():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        found += literal_codes(path.read_text(), str(path.relative_to(SRC)))
    assert not found, "use an ErrorCode member, not a string:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'raise Conflict("x", code="loop_not_opne")',
        'raise DomainError(detail="x",\n    code="too_larg", status=413)',
        'body = {"code": "too_large", "detail": "x"}',
        'return error_response(404, "not_found", "x")',
        'return _error(413, "too_large", "x", "body", "big")',
        'raise SignatureError("signature_missing", "X-Header", "missing")',
        'def __init__(self, detail, code="conflict"): ...',
        'def f(*, code: str = "conflict"): ...',
        'code: str = "invalid"',
    ],
)
def test_the_check_finds_a_code_spelled_as_a_string(source):
    assert literal_codes(source)


@pytest.mark.parametrize(
    "source",
    [
        'raise Conflict("x", code=ErrorCode.LOOP_NOT_OPEN)',
        'return error_response(404, ErrorCode.NOT_FOUND, "x")',
        'response = HttpResponse(status_code=404, content="x")',
        "payload = part.get_payload(decode=True)",
        'row = {"code": country.code, "name": "x"}',
    ],
)
def test_the_check_leaves_codes_from_the_enumeration_alone(source):
    assert literal_codes(source) == []


def test_the_enumeration_has_one_member_per_code():
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(code.value == code.name.lower() for code in ErrorCode)


def test_an_error_body_carries_the_code_as_the_same_string():
    error = Conflict("loop #1 is closed, not open", code=ErrorCode.LOOP_NOT_OPEN)
    assert json.loads(json.dumps(error.as_dict()))["code"] == "loop_not_open"
    assert json.dumps(DomainError("x").as_dict()).startswith('{"code": "invalid"')
    assert f"{ErrorCode.NOT_FOUND}" == str(ErrorCode.NOT_FOUND) == "not_found"


@pytest.mark.django_db
def test_the_openapi_error_code_lists_every_code(client):
    schema = client.get("/api/openapi.json").json()
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["code"]["type"] == "string"
    assert error["properties"]["code"]["enum"] == [code.value for code in ErrorCode]
    assert set(error["properties"]["code"]["enum"]) == {str(code) for code in ErrorCode}

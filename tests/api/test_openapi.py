"""The served OpenAPI document is one that every reader parses the same way."""

from __future__ import annotations

import json

import pytest


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicates, f"duplicate keys {duplicates} among {keys}"
    return dict(pairs)


@pytest.mark.django_db
def test_the_openapi_document_has_no_duplicate_keys(client):
    # Python's json keeps the last of two equal keys; Swagger UI's parser refuses the
    # document, so /api/docs showed an error instead of the API.
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    json.loads(response.content, object_pairs_hook=_no_duplicates)


def _models_in(annotation):
    """Every pydantic model an annotation names, through lists, unions and Optional."""
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation)
    for arg in get_args(annotation):
        yield from _models_in(arg)


def test_every_request_body_is_strict_down_to_its_nested_objects():
    # The class of test for issue 11's lax validation: a body model that drops unknown
    # fields or coerces 0 to a boolean fails here, whichever router it is mounted on.
    from lastmile.urls import api  # with every app's router mounted

    lax = set()
    seen = 0
    for prefix, router in api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                for params in operation.signature.models:
                    if params.__ninja_param_source__ != "body":
                        continue
                    for field in params.model_fields.values():
                        for model in _models_in(field.annotation):
                            seen += 1
                            config = model.model_config
                            if config.get("extra") != "forbid" or not config.get("strict"):
                                lax.add(f"{prefix}{path} {model.__module__}.{model.__qualname__}")
    assert seen > 25
    assert sorted(lax) == []

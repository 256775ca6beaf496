"""A thin client for /api/v1 in tests: Django's test client with a bearer token."""

from __future__ import annotations

import json


class Api:
    """Calls /api/v1 through Django's test ``client`` as the holder of ``token``."""

    def __init__(self, client, token):  # type: ignore[no-untyped-def]
        self.client = client
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def get(self, path, **params):  # type: ignore[no-untyped-def]
        return self.client.get(f"/api/v1{path}", params, **self.headers)

    def post(self, path, body=None, raw=None):  # type: ignore[no-untyped-def]
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(
            f"/api/v1{path}", data, content_type="application/json", **self.headers
        )

    def patch(self, path, body):  # type: ignore[no-untyped-def]
        return self.client.patch(
            f"/api/v1{path}", json.dumps(body), content_type="application/json", **self.headers
        )

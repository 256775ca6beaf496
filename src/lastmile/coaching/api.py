"""The coaching API, under /api/v1/coaching."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["coaching"])

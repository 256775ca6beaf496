"""The responders API, under /api/v1/responders."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["responders"])

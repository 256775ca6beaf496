"""The training API, under /api/v1/training."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["training"])

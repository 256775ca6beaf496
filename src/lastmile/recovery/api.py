"""The recovery API, under /api/v1/recovery: rules and the close rate."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["recovery"])

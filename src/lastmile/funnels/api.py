"""The funnels API, under /api/v1/funnels: ad hoc queries, saved funnels, drop-offs."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["funnels"])

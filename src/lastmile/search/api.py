"""``GET /api/v1/search``."""

from ninja import Router

router = Router(tags=["search"])

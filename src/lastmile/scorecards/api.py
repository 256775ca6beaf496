"""The scorecards API, under /api/v1/scorecards."""

from ninja import Router

router = Router(tags=["scorecards"])

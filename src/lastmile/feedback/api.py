"""The feedback API, under /api/v1/surveys, /api/v1/responses and /api/v1/feedback."""

from ninja import Router

router = Router(tags=["feedback"])

"""The jobs API, under /api/v1/jobs: deliveries and field visits."""

from ninja import Router

router = Router(tags=["jobs"])

"""The invoices API, under /api/v1/invoices."""

from ninja import Router

router = Router(tags=["invoices"])

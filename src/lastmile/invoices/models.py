"""The invoices tables."""

from __future__ import annotations

"""The jobs tables."""

from __future__ import annotations

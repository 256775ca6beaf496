"""The feedback tables: surveys, invites, responses."""

from __future__ import annotations

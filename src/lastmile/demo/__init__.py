"""Deterministic demo data: ``plan`` decides what happens, ``seed`` makes it happen via the services."""

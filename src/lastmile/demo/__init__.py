"""Deterministic demo data: ``plan`` decides what happens, ``seed`` makes it happen via the services.

The top app: it imports any product app (``extensions/<app>.py`` is each app's part of the
demo) and none imports it. ``manage.py seed_demo`` (``lastmile seed-demo``) runs it.
"""

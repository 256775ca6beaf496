"""The responders pages; the site mounts them under /responders/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "responders"

urlpatterns: list[URLPattern] = []

"""The coaching pages; the site mounts them under /coaching/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "coaching"

urlpatterns: list[URLPattern] = []

"""The recovery pages, under /recovery/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "recovery"

urlpatterns: list[URLPattern] = []

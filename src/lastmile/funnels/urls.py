"""The funnels' console pages, under /funnels/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "funnels"

urlpatterns: list[URLPattern] = []

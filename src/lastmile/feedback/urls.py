"""The feedback pages, under /feedback/ (the response page a link opens, without login,
and the reasons page)."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "feedback"

urlpatterns: list[URLPattern] = []

"""The feedback pages, under /feedback/: the response page a link opens (without login) and
the reasons by team (signed-in agents)."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.feedback import views

app_name = "feedback"

urlpatterns: list[URLPattern] = [
    path("r/<str:token>/", views.respond, name="respond"),
    path("reasons/", views.reasons_page, name="reasons"),
]

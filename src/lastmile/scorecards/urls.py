"""The scorecard pages; the site mounts them under /scorecards/."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.scorecards import views

app_name = "scorecards"

urlpatterns: list[URLPattern] = [
    path("", views.scorecard_page, name="page"),
    path("loops/", views.scorecard_loops, name="loops"),
    path("qa/", views.scorecard_qa, name="qa"),
    path("dashboard/", views.dashboard_page, name="dashboard"),
]

"""The training pages; the site mounts them under /training/."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.training import views

app_name = "training"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("cases/new", views.case_new, name="case_new"),
    path("cases/<int:case_id>/", views.case_page, name="case"),
    path("cases/<int:case_id>/check/", views.case_check, name="check"),
    path("attempts/<int:attempt_id>/", views.attempt_page, name="attempt"),
    path("paths/<slug:slug>/", views.path_page, name="path"),
]

"""The funnels' console pages, under /funnels/."""

from __future__ import annotations

from django.urls import path

from lastmile.funnels import views

app_name = "funnels"

urlpatterns = [
    path("", views.funnels_index, name="list"),
    path("new/", views.funnel_adhoc, name="adhoc"),
    path("new/steps.csv", views.steps_csv, name="adhoc_steps_csv"),
    path("new/trend.csv", views.trend_csv, name="adhoc_trend_csv"),
    path("new/dropoffs.csv", views.dropoffs_csv, name="adhoc_dropoffs_csv"),
    path("<int:funnel_id>/", views.funnel_detail, name="detail"),
    path("<int:funnel_id>/edit/", views.funnel_edit, name="edit"),
    path("<int:funnel_id>/archive/", views.funnel_archive_toggle, name="archive"),
    path("<int:funnel_id>/steps.csv", views.steps_csv, name="steps_csv"),
    path("<int:funnel_id>/trend.csv", views.trend_csv, name="trend_csv"),
    path("<int:funnel_id>/dropoffs.csv", views.dropoffs_csv, name="dropoffs_csv"),
]

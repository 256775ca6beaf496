"""The recovery pages, under /recovery/."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.recovery import views

app_name = "recovery"

urlpatterns: list[URLPattern] = [
    path("", views.close_rate_page, name="close_rate"),
    path("close-rate.csv", views.close_rate_csv, name="close_rate_csv"),
    path("<int:recovery_id>/", views.recovery_detail, name="detail"),
]

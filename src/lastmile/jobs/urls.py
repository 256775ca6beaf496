"""The jobs' pages, under /jobs/: the driver's page and its writes, the customer's
tracking page."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.jobs import views

app_name = "jobs"

urlpatterns: list[URLPattern] = [
    path("driver/", views.driver_page, name="driver"),
    path("driver/sw.js", views.driver_service_worker, name="driver_sw"),
    path("driver/run/start", views.driver_run_start, name="driver_run_start"),
    path("driver/<int:job_id>/start", views.driver_start, name="driver_start"),
    path("driver/<int:job_id>/arrive", views.driver_arrive, name="driver_arrive"),
    path("driver/<int:job_id>/complete", views.driver_complete, name="driver_complete"),
    path("driver/<int:job_id>/fail", views.driver_fail, name="driver_fail"),
    path("driver/<int:job_id>/proofs", views.driver_proof, name="driver_proof"),
    path("driver/<int:job_id>/changes", views.driver_change, name="driver_change"),
    path(
        "driver/<int:job_id>/changes/<slug:ref>/accept",
        views.driver_change_accept,
        name="driver_change_accept",
    ),
    path(
        "driver/<int:job_id>/changes/<slug:ref>/decline",
        views.driver_change_decline,
        name="driver_change_decline",
    ),
    path("t/<str:token>/", views.tracking_page, name="tracking"),
    path("t/<str:token>/invoice.pdf", views.tracking_invoice, name="tracking_invoice"),
]

"""The scorecard pages; the site mounts them under /scorecards/."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.scorecards import pay_views, qa_views, views

app_name = "scorecards"

urlpatterns: list[URLPattern] = [
    path("", views.scorecard_page, name="page"),
    path("loops/", views.scorecard_loops, name="loops"),
    path("qa/", views.scorecard_qa, name="qa"),
    path("qa/review/", qa_views.qa_review_page, name="qa-review"),
    path("dashboard/", views.dashboard_page, name="dashboard"),
    path("dashboard/rows/", views.dashboard_rows, name="dashboard-rows"),
    path("pay/", pay_views.pay_page, name="pay"),
    path("pay/adjust/", pay_views.pay_adjust, name="pay-adjust"),
    path("pay/dispute/", pay_views.pay_dispute, name="pay-dispute"),
    path(
        "pay/disputes/<int:dispute_id>/answer/",
        pay_views.pay_dispute_answer_view,
        name="pay-dispute-answer",
    ),
    path("pay/export.csv", pay_views.pay_export_csv, name="pay-export-csv"),
    path("pay/export.xlsx", pay_views.pay_export_xlsx, name="pay-export-xlsx"),
    path("digest/", pay_views.digest_page, name="digest"),
]

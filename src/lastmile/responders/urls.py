"""The responders pages; the site mounts them under /responders/."""

from __future__ import annotations

from django.urls import path

from lastmile.responders import views

app_name = "responders"

urlpatterns = [
    path("", views.index, name="index"),
    path("approvals/", views.approvals, name="approvals"),
    path("reply/mention/<int:mention_id>/", views.reply_mention, name="reply_mention"),
    path("reply/case/<str:ref>/", views.reply_case, name="reply_case"),
    path("replies/<int:reply_id>/approve", views.approve, name="approve"),
    path("replies/<int:reply_id>/return", views.return_, name="return"),
    path("<str:username>/", views.scorecard, name="scorecard"),
]

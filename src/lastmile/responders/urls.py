"""The responders pages; the site mounts them under /responders/."""

from __future__ import annotations

from django.urls import path, re_path

from lastmile.responders import views

app_name = "responders"

urlpatterns = [
    path("", views.index, name="index"),
    path("approvals/", views.approvals, name="approvals"),
    re_path(
        r"^reply/(?P<kind>mention|case)/(?P<key>[A-Za-z0-9-]{1,40})/$", views.reply, name="reply"
    ),
    path("replies/<int:reply_id>/approve", views.approve, name="approve"),
    path("replies/<int:reply_id>/return", views.return_, name="return"),
    path("<str:username>/", views.scorecard, name="scorecard"),
]

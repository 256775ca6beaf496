"""URLs of working together, mounted at /live/."""

from django.urls import path

from lastmile.live import views

app_name = "live"

urlpatterns = [
    path("poll", views.poll, name="poll"),
    path("cases/<str:ref>/beat", views.beat, name="beat"),
    path("cases/<str:ref>/leave", views.leave, name="leave"),
    path("cases/<str:ref>/seen", views.case_seen, name="case_seen"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/<int:notification_id>/read", views.notification_read, name="read"),
]

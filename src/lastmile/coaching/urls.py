"""The coaching pages; the site mounts them under /coaching/."""

from __future__ import annotations

from django.urls import URLPattern, path

from lastmile.coaching import views

app_name = "coaching"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("<int:lesson_id>/", views.detail, name="detail"),
    path("<int:lesson_id>/submit/", views.submit, name="submit"),
    path("<int:lesson_id>/accept/", views.accept, name="accept"),
    path("<int:lesson_id>/return/", views.return_, name="return"),
]

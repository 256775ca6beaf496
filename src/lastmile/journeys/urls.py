from django.urls import path

from lastmile.journeys import views

app_name = "journeys"

urlpatterns = [
    path("", views.board, name="board"),
    path("cases/<str:ref>/start/", views.start, name="start"),
    path("<int:journey_id>/steps/<slug:key>/complete/", views.complete, name="complete"),
    path("<int:journey_id>/steps/<slug:key>/windows/", views.offer_windows, name="windows"),
    path("<int:journey_id>/cancel/", views.cancel, name="cancel"),
]

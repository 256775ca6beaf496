"""The demo's own endpoint, mounted at /demo/ by lastmile.urls: its messaging sink."""

from django.urls import path

from lastmile.demo import views

app_name = "demo"

urlpatterns = [
    path("sink/<slug:slug>", views.sink, name="sink"),
]

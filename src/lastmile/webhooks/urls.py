from django.urls import path

from lastmile.webhooks import views

app_name = "webhooks"

urlpatterns: list = [
    path("in/<str:slug>", views.inbound, name="inbound"),
]

from django.urls import path

from lastmile.listening import views

app_name = "listening"

urlpatterns = [
    path("", views.mentions, name="mentions"),
    path("unattended/", views.unattended, name="unattended"),
    path("influencers/", views.influencers, name="influencers"),
    path("authors/<int:author_id>/", views.author, name="author"),
    path("mentions/<int:mention_id>/dismiss", views.dismiss, name="dismiss"),
]

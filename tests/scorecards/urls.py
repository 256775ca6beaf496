"""The site's URLs with the scorecard pages mounted as the coordinator will mount them."""

from django.urls import include, path

from lastmile.urls import urlpatterns as site

urlpatterns = [path("scorecards/", include("lastmile.scorecards.urls")), *site]

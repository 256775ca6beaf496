from django.contrib import admin
from django.urls import include, path, re_path

from lastmile.api.api import api, api_not_found
from lastmile.core.views import healthz

admin.site.site_header = "lastmile administration"
admin.site.site_title = "lastmile"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("v1/", include("lastmile.channels.segment_views")),  # Segment HTTP Tracking API
    path("api/", api.urls),
    re_path(r"^api/", api_not_found),  # unknown API paths answer in the API's error shape
    path("admin/", admin.site.urls),
    path("mail/", include("lastmile.mail.urls")),
    path("hooks/", include("lastmile.webhooks.urls")),
    path("listening/", include("lastmile.listening.urls")),
    path("", include("lastmile.crisis.urls")),  # /alerts/<id>/ and the public /status/<slug>
    path("promises/", include("lastmile.promises.urls")),
    path("kb/", include("lastmile.knowledge.urls")),
    path("journeys/", include("lastmile.journeys.urls")),
    path("portal/", include("lastmile.portal.urls")),
    path("", include("lastmile.console.urls")),
]

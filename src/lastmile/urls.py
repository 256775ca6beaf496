from django.contrib import admin
from django.urls import include, path

from lastmile.api.api import api
from lastmile.core.views import healthz

admin.site.site_header = "lastmile administration"
admin.site.site_title = "lastmile"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("", include("lastmile.console.urls")),
]
